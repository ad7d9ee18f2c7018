package deadletter

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// base is the timestamp of the first fixture record; each next one is a
// second later, so output is the same on every run.
var base = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// letter is a dead letter as the engine writes it (see engine.deadLetter),
// with a fixed timestamp and error time.
type letter struct {
	partition  int32
	key, value []byte
	step, msg  string
	src        string // source topic; "" for a source stage's record
	srcP       int
	srcOff     int
	extra      []kafka.Header // original headers, before the error ones
}

func (l letter) message(topic string, i int) *kafka.Message {
	ts := base.Add(time.Duration(i) * time.Second)
	hs := append([]kafka.Header(nil), l.extra...)
	add := func(k, v string) { hs = append(hs, kafka.Header{Key: k, Value: []byte(v)}) }
	add(engine.HeaderPipeline, "shop")
	add(engine.HeaderStage, "price")
	add(engine.HeaderStep, l.step)
	add(engine.HeaderMessage, l.msg)
	if l.src != "" {
		add(engine.HeaderTopic, l.src)
		add(engine.HeaderPartition, strconv.Itoa(l.srcP))
		add(engine.HeaderOffset, strconv.Itoa(l.srcOff))
	}
	add(engine.HeaderTime, ts.Format(time.RFC3339Nano))
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: l.partition},
		Key:            l.key,
		Value:          l.value,
		Headers:        hs,
		Timestamp:      ts,
	}
}

// fixture is a mix: JSON values, a non-JSON value, a null key, a tombstone,
// a long value, a multi-line error, an original header, a source record.
func fixture() []letter {
	origin := kafka.Header{Key: "origin", Value: []byte("register-7")}
	return []letter{
		{0, []byte("orlando"), []byte(`{"order_id":"a1","donut":"glazed","qty":-1}`), "steps[0].assert", "quantity must be positive", "shop-orders", 2, 17, []kafka.Header{origin}},
		{0, []byte("tampa"), []byte(`{"order_id":"a2","donut":"cronut","qty":3}`), "steps[1].assert", "not on the menu: cronut is not one of glazed, maple, boston-cream, sprinkles", "shop-orders", 0, 40, nil},
		{0, nil, []byte(`not json at all`), "decode", "decode json: invalid char at offset 0", "shop-orders", 1, 5, nil},
		{0, []byte("miami"), []byte(`{"order_id":"a4","donut":"maple","qty":-5,"note":"this value is long enough to be cut at sixty characters"}`), "steps[0].assert", "quantity must be positive", "shop-orders", 2, 18, []kafka.Header{origin}},
		{1, []byte("tampa"), []byte(`{"order_id":"b1","donut":"maple","qty":0}`), "steps[0].assert", "quantity must be positive", "shop-orders", 0, 41, nil},
		{1, []byte("orlando"), nil, "write", "upsert: value is null\nsecond line", "shop-orders", 2, 19, nil},
		{1, []byte("k\x00\xff"), []byte(`{"order_id":"b3","donut":"sprinkles","qty":2}`), "steps[2].set", "division by zero", "", 0, 0, nil},
	}
}

func produce(t *testing.T, brokers, topic string, ls []letter, from int) {
	t.Helper()
	var msgs []*kafka.Message
	for i, l := range ls {
		msgs = append(msgs, l.message(topic, from+i))
	}
	kafkatest.Produce(t, brokers, msgs)
}

func setup(t *testing.T, partitions int) (brokers, dlq string) {
	t.Helper()
	brokers = kafkatest.Embedded(t)
	dlq = "shop-dlq"
	kafkatest.CreateTopic(t, brokers, dlq, partitions)
	return brokers, dlq
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./deadletter -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./deadletter -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestInspectGolden(t *testing.T) {
	brokers, dlq := setup(t, 2)
	produce(t, brokers, dlq, fixture(), 0)
	o := Options{Brokers: brokers}
	for _, tc := range []struct {
		golden string
		opt    InspectOptions
	}{
		{"inspect.table.golden", InspectOptions{Topic: dlq, Width: DefaultWidth}},
		{"inspect.full.golden", InspectOptions{Topic: dlq, Width: 0}},
		{"inspect.limit.golden", InspectOptions{Topic: dlq, Width: DefaultWidth, Limit: 2}},
		{"inspect.json.golden", InspectOptions{Topic: dlq, Format: FormatJSON}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			if err := Inspect(ctx(t), o, tc.opt, &out); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out.Bytes())
		})
	}
}

func TestInspectEmptyAndMissing(t *testing.T) {
	brokers, dlq := setup(t, 3)
	o := Options{Brokers: brokers}
	var out bytes.Buffer
	if err := Inspect(ctx(t), o, InspectOptions{Topic: dlq, Width: DefaultWidth}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "AT  TIME  KEY  PIPELINE/STAGE  STEP  ERROR  FROM  VALUE\n\n0 dead letter(s) in shop-dlq\n"; out.String() != want {
		t.Errorf("empty topic:\n%q\nwant\n%q", out.String(), want)
	}
	err := Inspect(ctx(t), o, InspectOptions{Topic: "no-such-dlq"}, &out)
	if err == nil || !strings.Contains(err.Error(), "topic no-such-dlq does not exist") {
		t.Errorf("missing topic: %v", err)
	}
}

// TestInspectTransactional reads a topic written in transactions, one of
// them aborted: only committed records, and it ends although the last
// offsets are transaction markers.
func TestInspectTransactional(t *testing.T) {
	brokers, dlq := setup(t, 1)
	ls := fixture()[:4]
	produceTxn(t, brokers, dlq, ls[:2], 0, true)
	produceTxn(t, brokers, dlq, ls[2:3], 2, false)
	produceTxn(t, brokers, dlq, ls[3:], 3, true)
	if !kafkatest.HasRecords(t, brokers, dlq, 7) { // 4 records and 3 markers
		t.Fatal("the aborted record or a marker is missing from the log")
	}
	var got []string
	n, err := Read(ctx(t), Options{Brokers: brokers}, dlq, 0, func(l Letter) error {
		got = append(got, string(l.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{string(ls[0].value), string(ls[1].value), string(ls[3].value)}
	if n != 3 || !slices.Equal(got, want) {
		t.Errorf("read %d: %q, want %q", n, got, want)
	}
}

// produceTxn writes letters in one transaction, committed or aborted.
func produceTxn(t *testing.T, brokers, topic string, ls []letter, from int, commit bool) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": brokers, "transactional.id": "fixture-" + topic, "go.delivery.reports": false, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := ctx(t)
	if err := p.InitTransactions(c); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		if err := p.Produce(l.message(topic, from+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if commit {
		err = p.CommitTransaction(c)
	} else {
		p.Flush(10000) // written to the log, so readers meet aborted records
		err = p.AbortTransaction(c)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplay(t *testing.T) {
	brokers, dlq := setup(t, 2)
	const to = "shop-orders-fixed"
	kafkatest.CreateTopic(t, brokers, to, 3)
	ls := fixture()
	produce(t, brokers, dlq, ls, 0)
	o := Options{Brokers: brokers}
	where := `_headers["conveyor.error.step"] == "steps[0].assert" && qty < 0`

	// A dry run counts and changes nothing.
	c, err := Replay(ctx(t), o, ReplayOptions{From: dlq, To: to, Where: where, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Read: 7, Replayed: 2, Skipped: 5}); c != want {
		t.Errorf("dry run: %+v, want %+v", c, want)
	}
	if kafkatest.HasRecords(t, brokers, to, 1) {
		t.Error("dry run wrote to the target topic")
	}
	if got := committedOffsets(t, brokers, DefaultGroup(dlq, to), dlq, 2); len(got) > 0 {
		t.Errorf("dry run committed offsets %v", got)
	}

	c, err = Replay(ctx(t), o, ReplayOptions{From: dlq, To: to, Where: where})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Read: 7, Replayed: 2, Skipped: 5}); c != want {
		t.Errorf("replay: %+v, want %+v", c, want)
	}
	got := kafkatest.ReadAll(t, brokers, to, 30*time.Second)
	want := map[string]letter{dlq + "[0]@0": ls[0], dlq + "[0]@3": ls[3]}
	if len(got) != len(want) {
		t.Fatalf("target has %d records, want %d: %v", len(got), len(want), got)
	}
	for _, m := range got {
		from := string(headerOf(m, HeaderReplayedFrom))
		l, ok := want[from]
		if !ok {
			t.Fatalf("unexpected record from %q: %s", from, m.Value)
		}
		if !bytes.Equal(m.Key, l.key) || !bytes.Equal(m.Value, l.value) {
			t.Errorf("%s: key %q value %s, want %q %s", from, m.Key, m.Value, l.key, l.value)
		}
		var keys []string
		for _, h := range m.Headers {
			keys = append(keys, h.Key+"="+string(h.Value))
		}
		if wantKeys := []string{"origin=register-7", HeaderReplayedFrom + "=" + from}; !slices.Equal(keys, wantKeys) {
			t.Errorf("%s: headers %q, want %q", from, keys, wantKeys)
		}
	}
	committed, end := kafkatest.Committed(t, brokers, DefaultGroup(dlq, to), dlq)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: committed %d, want the end %d (skipped records count too)", p, committed[p], e)
		}
	}

	// Once each: a second replay, even without --where, has nothing to do.
	c, err = Replay(ctx(t), o, ReplayOptions{From: dlq, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if (c != Counts{}) {
		t.Errorf("second replay: %+v, want nothing", c)
	}
	if got := kafkatest.ReadAll(t, brokers, to, 30*time.Second); len(got) != 2 {
		t.Errorf("target has %d records after the second replay, want 2", len(got))
	}

	// New dead letters: the next replay takes only those.
	produce(t, brokers, dlq, ls[:1], 7)
	c, err = Replay(ctx(t), o, ReplayOptions{From: dlq, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Read: 1, Replayed: 1}); c != want {
		t.Errorf("third replay: %+v, want %+v", c, want)
	}

	// Another group replays everything again, to another topic.
	const other = "shop-orders-audit"
	kafkatest.CreateTopic(t, brokers, other, 1)
	c, err = Replay(ctx(t), o, ReplayOptions{From: dlq, To: other, BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Read: 8, Replayed: 8}); c != want {
		t.Errorf("replay to %s: %+v, want %+v", other, c, want)
	}
	if got := kafkatest.ReadAll(t, brokers, other, 30*time.Second); len(got) != 8 {
		t.Errorf("%s has %d records, want 8", other, len(got))
	}
}

// TestReplayTransactional replays a dead-letter topic written in
// transactions (an exactly-once pipeline's), ending in markers, with an
// aborted one: committed records only, and a second run finds nothing.
func TestReplayTransactional(t *testing.T) {
	brokers, dlq := setup(t, 1)
	const to = "shop-orders-fixed"
	kafkatest.CreateTopic(t, brokers, to, 1)
	ls := fixture()[:5]
	ls[4].partition = 0
	produceTxn(t, brokers, dlq, ls[:2], 0, true)
	produceTxn(t, brokers, dlq, ls[2:3], 2, false)
	produceTxn(t, brokers, dlq, ls[3:], 3, true)
	o := Options{Brokers: brokers}
	for i, want := range []Counts{{Read: 4, Replayed: 4}, {}} {
		c, err := Replay(ctx(t), o, ReplayOptions{From: dlq, To: to, BatchSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		if c != want {
			t.Errorf("replay %d: %+v, want %+v", i+1, c, want)
		}
	}
	if got := kafkatest.ReadAll(t, brokers, to, 30*time.Second); len(got) != 4 {
		t.Errorf("target has %d records, want 4", len(got))
	}
	committed, end := kafkatest.Committed(t, brokers, DefaultGroup(dlq, to), dlq)
	if committed[0] != end[0] {
		t.Errorf("committed %d, want the end %d (past the last marker)", committed[0], end[0])
	}
}

// TestReplayStopsAtStartEnd: dead letters written while a replay runs are
// left for the next one.
func TestReplayStopsAtStartEnd(t *testing.T) {
	brokers, dlq := setup(t, 2)
	const to = "shop-orders-fixed"
	kafkatest.CreateTopic(t, brokers, to, 1)
	ls := fixture()
	produce(t, brokers, dlq, ls, 0)
	o := Options{Brokers: brokers}
	c, err := Replay(ctx(t), o, ReplayOptions{From: dlq, To: to, afterAssign: func() { produce(t, brokers, dlq, ls[:3], len(ls)) }})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Read: len(ls), Replayed: len(ls)}); c != want {
		t.Errorf("replay: %+v, want %+v", c, want)
	}
	c, err = Replay(ctx(t), o, ReplayOptions{From: dlq, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Read: 3, Replayed: 3}); c != want {
		t.Errorf("next replay: %+v, want %+v", c, want)
	}
	if got := kafkatest.ReadAll(t, brokers, to, 30*time.Second); len(got) != len(ls)+3 {
		t.Errorf("target has %d records, want %d", len(got), len(ls)+3)
	}
}

func TestReplayErrors(t *testing.T) {
	brokers, dlq := setup(t, 1)
	kafkatest.CreateTopic(t, brokers, "target", 1)
	produce(t, brokers, dlq, fixture()[:2], 0)
	o := Options{Brokers: brokers}
	for _, tc := range []struct {
		r     ReplayOptions
		usage bool
		want  string
	}{
		{ReplayOptions{From: dlq, To: dlq}, true, "--from and --to are the same topic"},
		{ReplayOptions{From: dlq, To: "target", Where: "qty >"}, true, `--where "qty >": column`},
		{ReplayOptions{From: dlq, To: "target", Where: "nope(qty)"}, true, `unknown function "nope"`},
		{ReplayOptions{From: "no-such-dlq", To: "target"}, false, "topic no-such-dlq does not exist"},
		{ReplayOptions{From: dlq, To: "no-such-target"}, false, "topic no-such-target does not exist"},
		{ReplayOptions{From: dlq, To: "target", Where: `qty + "x" > 1`, DryRun: true}, false, "--where at shop-dlq[0]@0"},
	} {
		_, err := Replay(ctx(t), o, tc.r)
		var ue *UsageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ue) != tc.usage {
			t.Errorf("%+v: error %v, want %q (usage error: %v)", tc.r, err, tc.want, tc.usage)
		}
	}
}

// TestSecretsScrubbed: a librdkafka error that quotes a secret property
// shows it redacted.
func TestSecretsScrubbed(t *testing.T) {
	const secret = "hunter2-very-secret"
	o := Options{Brokers: "127.0.0.1:1", Config: map[string]string{
		"security.protocol": "SASL_PLAINTEXT", "sasl.password": secret, "sasl.mechanism": "NOPE-" + secret,
	}}
	_, err := Read(ctx(t), o, "t", 0, func(Letter) error { return nil })
	if err == nil {
		t.Fatal("want an error for a bad sasl.mechanism")
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("secret not scrubbed from the error: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo wörld", 6); got != "héllo…" {
		t.Errorf("truncate: %q", got)
	}
	if got := truncate("short", 6); got != "short" {
		t.Errorf("truncate: %q", got)
	}
	if got := truncate("long long", 0); got != "long long" {
		t.Errorf("truncate 0: %q", got)
	}
}

func headerOf(m *kafka.Message, key string) []byte {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// committedOffsets returns the offsets group committed for topic's
// partitions; a group that never committed (which the embedded broker
// reports as an error) has none.
func committedOffsets(t *testing.T, brokers, group, topic string, partitions int32) map[int32]int64 {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": group, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := range partitions {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p})
	}
	got, err := c.Committed(tps, 10000)
	if isGroupNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, tp := range got {
		if tp.Error == nil && tp.Offset >= 0 {
			out[tp.Partition] = int64(tp.Offset)
		}
	}
	return out
}
