package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/serde"
)

// proxy forwards TCP connections to a backend and can be taken down (its
// port refuses connections and open ones are cut) and brought back on the
// same port: a registry outage without losing the registry's memory.
type proxy struct {
	t       *testing.T
	addr    string
	backend string
	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
}

func newProxy(t *testing.T, backend string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: ln.Addr().String(), backend: backend, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[b] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

// down closes the port and every connection through it.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// up listens on the same port again.
func (p *proxy) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy up again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// proxied is the registry URL through the proxy.
func (p *proxy) url(registry string) string {
	u, err := url.Parse(registry)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

// avroValues decodes the values of msgs with a registry client of the test.
func avroValues(t *testing.T, registry string, msgs []*kafka.Message) []map[string]any {
	t.Helper()
	reg, err := serde.NewRegistry(serde.RegistryConfig{URL: registry}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := make([]map[string]any, 0, len(msgs))
	for _, m := range msgs {
		v, err := codec.Decode(ctx, m.Value)
		if err != nil {
			t.Fatalf("%s[%d]@%d: %v", *m.TopicPartition.Topic, m.TopicPartition.Partition, m.TopicPartition.Offset, err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("decoded %T, want an object", v)
		}
		out = append(out, obj)
	}
	return out
}

// TestRegistryOutage: a pipeline that writes and reads Avro starts while
// its registry is unreachable. It is not ready, and /readyz says the
// registry is why; once the registry answers, every record arrives: an
// outage delays records, never loses them.
func TestRegistryOutage(t *testing.T) {
	brokers := service.Kafka(t)
	registry := service.Registry(t)
	u, err := url.Parse(registry)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	px.down()
	name := unique("outage")
	schemas, _ := filepath.Abs("testdata/schema")
	const n = 3000
	metrics := runnertest.FreeAddr(t)
	cfg := writePipeline(t, name, fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
schema_registry: {url: '%[2]s'}
metrics: {listen: '%[3]s'}
topics:
  %[1]s-orders: {partitions: 2, value_schema: %[4]s/order.avsc}
  %[1]s-priced: {partitions: 2, value_schema: %[4]s/priced.avsc}
sources:
  orders:
    generate: {count: %[5]d, rate: 1000/s, seed: 3, value: '{"id": _offset, "store": pick(["a", "b"]), "qty": int_between(1, 9)}'}
    to: %[1]s-orders
transforms:
  price:
    from: %[1]s-orders
    steps:
      - set: {total: qty * 1.5}
    to: %[1]s-priced
`, name, px.url(registry), metrics, schemas, n))
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	waitReadyz(t, metrics, 503, "schema registry", p)
	time.Sleep(2 * time.Second) // retries pile up meanwhile
	px.up()
	msgs := kafkatest.ReadUntil(t, brokers, name+"-priced", 90*time.Second, kafkatest.Count(n))
	values := avroValues(t, registry, msgs)
	seen := map[int64]int{}
	for _, v := range values {
		id, _ := v["id"].(int64)
		seen[id]++
		if want := float64(v["qty"].(int64)) * 1.5; v["total"] != want {
			t.Fatalf("record %v: total %v, want %v", v, v["total"], want)
		}
	}
	lost, dup := 0, 0
	for i := range int64(n) {
		switch c := seen[i]; {
		case c == 0:
			lost++
		case c > 1:
			dup += c - 1
		}
	}
	if lost > 0 || dup > 0 {
		t.Fatalf("after a registry outage at start: %d lost, %d duplicated of %d; stderr:\n%s", lost, dup, n, lastLines(p.Stderr.String(), 30))
	}
	waitReadyz(t, metrics, 200, "ready", p)
	p.StopCleanly(t)
	t.Logf("registry outage at start: %d records, lost 0, duplicated 0", n)
}

// TestAvroBadRecords: records on an Avro topic that are not Avro (no magic
// byte), name a schema id the registry does not know, or are cut short go
// to the dead-letter topic with the id and subject in the message; the
// good ones around them go through.
func TestAvroBadRecords(t *testing.T) {
	brokers := service.Kafka(t)
	registry := service.Registry(t)
	name := unique("badavro")
	schemas, _ := filepath.Abs("testdata/schema")
	kafkatest.CreateTopic(t, brokers, name+"-in", 1)

	// Good records, written with the test's own registry client.
	reg, err := serde.NewRegistry(serde.RegistryConfig{URL: registry}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := serde.ReadFile(filepath.Join(schemas, "order.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: reg, Subject: serde.ValueSubject(name + "-in"), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var msgs []*kafka.Message
	good := func(id int64) {
		b, err := codec.Encode(ctx, map[string]any{"id": id, "store": "a", "qty": int64(2), "note": nil})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafkatest.Message(name+"-in", nil, b))
	}
	good(1)
	msgs = append(msgs, kafkatest.Message(name+"-in", nil, []byte(`{"id": 2}`))) // JSON, not Avro
	good(3)
	unknown := make([]byte, 5, 9)
	binary.BigEndian.PutUint32(unknown[1:], 2_000_000_001)
	msgs = append(msgs, kafkatest.Message(name+"-in", nil, append(unknown, 2, 2, 'a', 4))) // an id nobody registered
	good(5)
	cut := append([]byte(nil), msgs[0].Value[:7]...)
	msgs = append(msgs, kafkatest.Message(name+"-in", nil, cut)) // the payload cut short
	good(7)
	kafkatest.Produce(t, brokers, msgs)

	cfg := writePipeline(t, name, fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
schema_registry: {url: '%[2]s'}
topics:
  %[1]s-in:  {format: avro}
  %[1]s-out: {value_schema: %[3]s/priced.avsc}
transforms:
  price:
    from: %[1]s-in
    steps:
      - set: {total: qty * 2.0}
    to: %[1]s-out
    on_error: {dead_letter: %[1]s-dlq}
`, name, registry, schemas))
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	out := kafkatest.ReadUntil(t, brokers, name+"-out", 60*time.Second, kafkatest.Count(4))
	dlq := kafkatest.ReadUntil(t, brokers, name+"-dlq", 60*time.Second, kafkatest.Count(3))
	p.StopCleanly(t)
	var ids []int64
	for _, v := range avroValues(t, registry, out) {
		ids = append(ids, v["id"].(int64))
	}
	if fmt.Sprint(ids) != "[1 3 5 7]" {
		t.Errorf("good records out: ids %v, want [1 3 5 7]", ids)
	}
	if len(dlq) != 3 {
		t.Fatalf("dead letters: %d, want 3", len(dlq))
	}
	wants := []string{"wire format", "2000000001", "schema id"}
	for i, m := range dlq {
		msg := dlqHeader(m, "conveyor.error.message")
		if !strings.Contains(msg, wants[i]) {
			t.Errorf("dead letter %d: message %q, want it to mention %q", i, msg, wants[i])
		}
		if string(m.Value) != string(msgs[2*i+1].Value) {
			t.Errorf("dead letter %d: value %q, want the original bytes %q", i, m.Value, msgs[2*i+1].Value)
		}
		t.Logf("dead letter %d: %s", i, msg)
	}
}

// TestAvroInterop: Avro written by another implementation, Confluent's
// Python client (confluent-kafka's AvroSerializer over fastavro), is read
// by conveyor through a real registry: a transform rewrites one field into
// another Avro topic and a SQL sink upserts the records into PostgreSQL.
// What conveyor wrote is then read by the Python client's
// AvroDeserializer, which must find the wire format's magic byte and see
// every record, equal to what it wrote but for the rewritten field.
func TestAvroInterop(t *testing.T) {
	brokers := service.Kafka(t)
	registry := service.Registry(t)
	python := service.PyClient(t)
	c := startPGCase(t, "interop", "interop")
	name := c.name
	client, _ := filepath.Abs("testdata/interop/avro_client.py")
	schema, _ := filepath.Abs("testdata/interop/interop.avsc")
	kafkatest.CreateTopic(t, brokers, name+"-in", 3)
	const n = 300
	dir := t.TempDir()
	expected := filepath.Join(dir, "expected.jsonl")
	py := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(python, append([]string{client}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("avro_client.py %s: %v\n%s", args[0], err, stderr.String())
		}
		return string(out)
	}
	py("produce", "--brokers", brokers, "--registry", registry, "--topic", name+"-in", "--schema", schema,
		"--count", strconv.Itoa(n), "--key-field", "seq", "--out", expected)

	cfg := writePipeline(t, name, fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
schema_registry: {url: '%[2]s'}
topics:
  %[1]s-in:  {format: avro}
  %[1]s-out: {partitions: 3, value_schema: %[3]s}
transforms:
  bump:
    from: %[1]s-in
    steps:
      - set: {count: count + 1}
    to: %[1]s-out
sinks:
  db:
    from: %[1]s-in
    sql:
      driver: postgres
      dsn: '${PG_DSN}'
      table: %[4]s
      mode: upsert
      key: [seq]
      auto_create: true
      columns: {seq: seq, name: name, amount: amount, note: note, status: status, created_at: created_at, city: address.city, tags: len(tags)}
`, name, registry, schema, c.table))
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "PG_DSN="+c.dsn)
	if !waitUntil(90*time.Second, func() bool { return countRows(c.db, c.table) >= n }) {
		t.Fatalf("table %s has %d rows, want %d; stderr:\n%s", c.table, countRows(c.db, c.table), n, lastLines(p.Stderr.String(), 30))
	}
	got := py("consume", "--brokers", brokers, "--registry", registry, "--topic", name+"-out", "--count", strconv.Itoa(n), "--timeout", "90")
	p.StopCleanly(t)

	want := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, expected)), "\n") {
		var r struct {
			Key   string
			Value map[string]any
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("expected line %q: %v", line, err)
		}
		r.Value["count"] = r.Value["count"].(float64) + 1
		want[r.Key] = r.Value
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != n {
		t.Fatalf("the Python client read %d records from %s-out, want %d", len(lines), name, n)
	}
	for _, line := range lines {
		var r struct {
			Key      string
			SchemaID *int `json:"schema_id"`
			Value    map[string]any
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consumed line %q: %v", line, err)
		}
		w, ok := want[r.Key]
		if !ok {
			t.Fatalf("record with key %q was not written: %s", r.Key, line)
		}
		if fmt.Sprint(w) != fmt.Sprint(r.Value) {
			t.Fatalf("record %s:\n got %v\nwant %v", r.Key, r.Value, w)
		}
		delete(want, r.Key)
	}
	if len(want) != 0 {
		t.Fatalf("%d records never came out", len(want))
	}
	// The rows in PostgreSQL: the types as Avro declared them.
	var row struct {
		Name, Status, City string
		Note               *string
		Amount             float64
		Tags               int
		CreatedAt          string `db:"created_at"`
	}
	if err := c.db.Get(&row, fmt.Sprintf(`SELECT name, status, city, note, amount, tags, created_at::text AS created_at FROM %s WHERE seq = 2`, c.table)); err != nil {
		t.Fatal(err)
	}
	if row.Note != nil {
		t.Errorf("record 2's note: %q, want NULL (the union's null branch)", *row.Note)
	}
	t.Logf("interop: %d records from Python's AvroSerializer read by conveyor, rewritten and read back by its AvroDeserializer; %d rows upserted; row 2: %+v", n, countRows(c.db, c.table), row)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProtobufAndJSONSchemaStages: a generate source writes Protobuf with
// Avro keys, a transform reads them and writes JSON Schema records with
// plain-text keys, and a file sink writes them out. Records that break the
// JSON Schema (qty below its minimum) go to the dead-letter topic with the
// field named; every other record arrives once, with its key decoded.
func TestProtobufAndJSONSchemaStages(t *testing.T) {
	brokers := service.Kafka(t)
	registry := service.Registry(t)
	name := unique("protojs")
	schemas, _ := filepath.Abs("testdata/schema")
	out := filepath.Join(t.TempDir(), "out.jsonl")
	const n = 500
	cfg := writePipeline(t, name, fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
schema_registry: {url: '%[2]s'}
topics:
  %[1]s-orders: {partitions: 2, value_schema: %[3]s/order.proto, key_format: avro, key_schema: %[3]s/key.avsc}
  %[1]s-priced: {partitions: 2, value_schema: %[3]s/priced.json, key_format: string}
sources:
  orders:
    generate: {count: %[4]d, rate: 2000/s, seed: 5, value: '{"id": _offset, "store": pick(["a", "b"]), "qty": int_between(0, 9), "note": _offset %% 2 == 0 ? nil : "x"}'}
    key: store
    to: %[1]s-orders
transforms:
  price:
    from: %[1]s-orders
    steps:
      - set: {total: qty * 2.5, store: upper(store) + _key}
    to: %[1]s-priced
    on_error: {dead_letter: %[1]s-dlq}
sinks:
  archive:
    from: %[1]s-priced
    file: {path: '%[5]s'}
`, name, registry, schemas, n, out))
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	orders := kafkatest.ReadUntil(t, brokers, name+"-orders", 60*time.Second, kafkatest.Count(n))
	zero := 0
	for _, m := range orders {
		// Protobuf: magic byte, id, then message index [0] as one 0 byte;
		// the key is Avro: magic byte, id, then the string.
		if len(m.Value) < 6 || m.Value[0] != 0 || m.Value[5] != 0 || len(m.Key) < 6 || m.Key[0] != 0 {
			t.Fatalf("orders record: key %x value %x: want Avro keys and Protobuf values in the wire format", m.Key, m.Value)
		}
	}
	// The dead letters say which records broke the JSON Schema.
	dlqs := map[string]bool{}
	var priced []*kafka.Message
	if !waitUntil(60*time.Second, func() bool {
		priced = kafkatest.ReadAll(t, brokers, name+"-priced", 10*time.Second)
		dl := kafkatest.ReadAll(t, brokers, name+"-dlq", 10*time.Second)
		zero = len(dl)
		for _, m := range dl {
			dlqs[dlqHeader(m, "conveyor.error.message")] = true
		}
		return len(priced)+zero == n && countLines(t, out) == len(priced)
	}) {
		t.Fatalf("priced %d + dead letters %d != %d, or the file lags; stderr:\n%s", len(priced), zero, n, lastLines(p.Stderr.String(), 20))
	}
	p.StopCleanly(t)
	if zero == 0 {
		t.Fatal("no record had qty 0: the test proves nothing about validation")
	}
	for msg := range dlqs {
		if !strings.Contains(msg, "field qty") {
			t.Errorf("dead letter message %q does not name the field qty", msg)
		}
	}
	ids := map[float64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, out)), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		id := v["id"].(float64)
		if ids[id] {
			t.Fatalf("id %v twice", id)
		}
		ids[id] = true
		store := v["store"].(string)
		if store != "Aa" && store != "Bb" || v["total"] != v["qty"].(float64)*2.5 || (int(id)%2 == 0) != (v["note"] == nil) {
			t.Fatalf("line %q: want store Aa or Bb (upper(store) + the decoded key), total = qty * 2.5, note null on even ids", line)
		}
	}
	for _, m := range priced {
		if k := string(m.Key); k != "a" && k != "b" {
			t.Fatalf("priced key %q: want the plain text a or b", m.Key)
		}
	}
	t.Logf("protobuf -> json_schema: %d records, %d to dead letters (%v)", len(ids), zero, dlqs)
}

// TestDLQAvro: dead letters of an Avro stage keep their Avro bytes; with
// --registry, runner dlq inspect shows them decoded and replay's --where
// reads their fields, and what replay re-publishes is the original bytes.
func TestDLQAvro(t *testing.T) {
	brokers := service.Kafka(t)
	registry := service.Registry(t)
	name := unique("dlqavro")
	schemas, _ := filepath.Abs("testdata/schema")
	const n = 60
	cfg := writePipeline(t, name, fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
schema_registry: {url: '%[2]s'}
topics:
  %[1]s-orders: {value_schema: %[3]s/order.avsc}
  %[1]s-priced: {value_schema: %[3]s/priced.avsc}
sources:
  orders:
    generate: {count: %[4]d, seed: 11, value: '{"id": _offset, "store": "a", "qty": _offset %% 10}'}
    to: %[1]s-orders
transforms:
  price:
    from: %[1]s-orders
    steps:
      - assert: {expr: 'qty > 0', message: no quantity}
      - set: {total: qty * 1.5}
    to: %[1]s-priced
    on_error: {dead_letter: %[1]s-dlq}
`, name, registry, schemas, n))
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	kafkatest.ReadUntil(t, brokers, name+"-dlq", 60*time.Second, kafkatest.Count(n/10))
	p.StopCleanly(t)
	bin, err := runnertest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dlq := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"dlq"}, args...)...)
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("runner dlq %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	kafkatest.CreateTopic(t, brokers, name+"-again", 1)
	inspect := dlq("inspect", "--registry", registry, "--format", "json", name+"-dlq")
	if !strings.Contains(inspect, `"value":"{\"id\":10,\"note\":null,\"qty\":0,\"store\":\"a\"}"`) {
		t.Fatalf("inspect --registry does not show the dead letter of id 10 decoded:\n%s", inspect)
	}
	dry := dlq("replay", "--registry", registry, "--from", name+"-dlq", "--to", name+"-again", "--where", "id >= 30", "--dry-run")
	if !strings.Contains(dry, fmt.Sprintf("dry run: read %d, would replay 3, would skip 3", n/10)) {
		t.Fatalf("replay --where over Avro fields:\n%s", dry)
	}
	dlq("replay", "--registry", registry, "--from", name+"-dlq", "--to", name+"-again", "--where", "id >= 30")
	again := kafkatest.ReadUntil(t, brokers, name+"-again", 30*time.Second, kafkatest.Count(3))
	for _, v := range avroValues(t, registry, again) {
		if v["qty"] != int64(0) || v["id"].(int64) < 30 {
			t.Fatalf("replayed %v: want the original Avro records with id >= 30", v)
		}
	}
}
