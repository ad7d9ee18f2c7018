package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

const tombstonePipeline = `
pipeline: tomb
kafka: {brokers: '${BROKERS}'}
topics:
  raw: {partitions: 1}
  out: {partitions: 1}
sources:
  lines:
    file: {path: '${IN}'}
    steps: [{set: {src: true}}]
    to: raw
transforms:
  touch:
    from: raw
    delivery: ${DELIVERY}
    steps:
      - set: {touched: true}
      - explode: {expr: '[1]', as: copy}
    to: out
sinks:
  store:
    from: out
    steps: [{set: {sunk: true}}]
    file: {path: '${OUT}'}
`

// TestTombstonesAndBigIntegers sends a tombstone and integers beyond int64
// from a file, through a topic, a transform and another topic, into a file,
// with set and explode steps on every stage and the default on_error
// (fail): the tombstone passes every step unchanged and stops nothing, and
// the integers no step touches come out digit for digit, in both delivery
// modes.
func TestTombstonesAndBigIntegers(t *testing.T) {
	eachDelivery(t, testTombstonesAndBigIntegers)
}

func testTombstonesAndBigIntegers(t *testing.T, delivery string) {
	brokers := kafkatest.Embedded(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	input := `{"id": 18446744073709551617, "n": -9223372036854775809}` + "\nnull\n" + `{"id": 2, "big": [123456789012345678901234567890]}` + "\n"
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := build(t, tombstonePipeline, map[string]string{"BROKERS": brokers, "IN": in, "OUT": out, "DELIVERY": delivery})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	// Until the sink has committed all three, or the run stops on its own.
	var runErr error
	stopped, committed := false, false
	for deadline := time.Now().Add(60 * time.Second); !stopped && !committed && time.Now().Before(deadline); {
		select {
		case runErr = <-done:
			stopped = true
		default:
			committed = kafkatest.WaitCommitted(t, brokers, "tomb.store", "out", 3, time.Second)
		}
	}
	cancel()
	if !stopped {
		runErr = <-done
	}
	if runErr != nil {
		t.Fatalf("run: %v", runErr)
	}
	if !committed {
		t.Fatal("the sink did not commit the three records")
	}
	want := []string{
		`{"copy":1,"id":18446744073709551617,"n":-9223372036854775809,"src":true,"sunk":true,"touched":true}`,
		`null`,
		`{"big":[123456789012345678901234567890],"copy":1,"id":2,"src":true,"sunk":true,"touched":true}`,
	}
	if got := strings.Join(lines(t, out), "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("file sink wrote:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	msgs := kafkatest.ReadAll(t, brokers, "out", 10*time.Second)
	if len(msgs) != 3 || msgs[1].Value != nil {
		t.Fatalf("topic out: %q, want 3 records with a tombstone second", values(msgs))
	}
	if !strings.Contains(string(msgs[0].Value), `"id":18446744073709551617`) {
		t.Fatalf("topic out lost the id's digits: %s", msgs[0].Value)
	}
}

// eachDelivery runs test once per delivery mode.
func eachDelivery(t *testing.T, test func(t *testing.T, delivery string)) {
	for _, delivery := range []string{"at_least_once", "exactly_once"} {
		t.Run(delivery, func(t *testing.T) { test(t, delivery) })
	}
}

// values lists the values of msgs, for failure messages.
func values(msgs []*kafka.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

const joinDropPipeline = `
pipeline: jd
kafka: {brokers: '${BROKERS}'}
topics:
  orders: {partitions: 1}
  users:  {partitions: 1, config: {cleanup.policy: compact}}
  joined: {partitions: 1}
transforms:
  enrich:
    from: orders
    on_error: drop
    steps:
      - join: {table: users, as: user, type: left}
    to: joined
`

// TestJoinTableBadRowDropped: a table row that is not JSON is a bad record
// like any other. Under on_error: drop it stays out of the table, also
// when the stage reads the table back at start, instead of stopping the
// stage for good.
func TestJoinTableBadRowDropped(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "orders", 1)
	kafkatest.CreateTopic(t, brokers, "users", 1)
	kafkatest.Produce(t, brokers, []*kafka.Message{
		kafkatest.Message("users", []byte("u1"), []byte(`{"name":"ann"}`)),
		kafkatest.Message("users", []byte("u2"), []byte(`not json`)),
		kafkatest.Message("orders", []byte("u1"), []byte(`{"order":1}`)),
		kafkatest.Message("orders", []byte("u2"), []byte(`{"order":2}`)),
	})
	plan := build(t, joinDropPipeline, map[string]string{"BROKERS": brokers})
	msgs := readWhileRunning(t, plan, brokers, "joined", 2)
	want := []string{`{"order":1,"user":{"name":"ann"}}`, `{"order":2,"user":null}`}
	if got := values(msgs); !slices.Equal(got, want) {
		t.Fatalf("joined: %q, want %q", got, want)
	}
}

const routePipeline = `
pipeline: route
kafka: {brokers: '${BROKERS}'}
topics:
  in:  {partitions: 1}
  out: {partitions: 1}
  dlq: {partitions: 1}
transforms:
  route:
    from: in
    delivery: ${DELIVERY}
    steps:
      - to: dest
    to: out
    on_error: {dead_letter: dlq}
`

// TestToInternalTopicDeadLettered: a to step that computes an internal
// topic's name (Kafka's own, or the stage's dead-letter topic) fails that
// record, which goes to on_error; the other records are routed.
func TestToInternalTopicDeadLettered(t *testing.T) {
	eachDelivery(t, func(t *testing.T, delivery string) {
		brokers := kafkatest.Embedded(t)
		kafkatest.CreateTopic(t, brokers, "in", 1)
		kafkatest.Produce(t, brokers, []*kafka.Message{
			kafkatest.Message("in", nil, []byte(`{"dest":"out"}`)),
			kafkatest.Message("in", nil, []byte(`{"dest":"__consumer_offsets"}`)),
			kafkatest.Message("in", nil, []byte(`{"dest":"dlq"}`)),
			kafkatest.Message("in", nil, []byte(`{"dest":"out"}`)),
		})
		plan := build(t, routePipeline, map[string]string{"BROKERS": brokers, "DELIVERY": delivery})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
		ok := kafkatest.WaitCommitted(t, brokers, "route.route", "in", 4, 60*time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
		if !ok {
			t.Fatal("the stage did not commit the four records")
		}
		if out := kafkatest.ReadAll(t, brokers, "out", 10*time.Second); len(out) != 2 {
			t.Errorf("out has %d records, want 2", len(out))
		}
		dlq := kafkatest.ReadAll(t, brokers, "dlq", 10*time.Second)
		if len(dlq) != 2 {
			t.Fatalf("dlq has %d records, want the 2 routed to internal topics", len(dlq))
		}
		for i, want := range []string{`"__consumer_offsets" is an internal topic`, `"dlq" is the dead-letter topic of stage route`} {
			if msg := string(headerValue(dlq[i], engine.HeaderMessage)); !strings.Contains(msg, want) {
				t.Errorf("dead letter %d: message %q, want it to say %s", i, msg, want)
			}
		}
	})
}

func headerValue(m *kafka.Message, key string) []byte {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

const generateFailPipeline = `
pipeline: gen
kafka: {brokers: '${BROKERS}'}
topics:
  nums: {partitions: 1}
  bad:  {partitions: 1}
sources:
  nums:
    generate: {count: 10, value: '_offset % 4 == 3 ? nope.field : {"n": _offset}'}
    to: nums
    on_error: {dead_letter: bad}
`

// TestSourceBadRecordDeadLettered: a generated value whose expression fails
// is one bad record for the source's on_error, not the end of the source.
func TestSourceBadRecordDeadLettered(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	plan := build(t, generateFailPipeline, map[string]string{"BROKERS": brokers})
	if err := plan.Run(context.Background(), engine.RunOptions{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := kafkatest.ReadAll(t, brokers, "nums", 10*time.Second); len(got) != 8 {
		t.Errorf("nums has %d records, want 8", len(got))
	}
	bad := kafkatest.ReadAll(t, brokers, "bad", 10*time.Second)
	if len(bad) != 2 {
		t.Fatalf("bad has %d dead letters, want 2 (records 3 and 7)", len(bad))
	}
	if step, msg := string(headerValue(bad[0], engine.HeaderStep)), string(headerValue(bad[0], engine.HeaderMessage)); step != "read" || !strings.HasPrefix(msg, "generate record 3: value: ") {
		t.Errorf("dead letter: step %q, message %q", step, msg)
	}
}

const bigRowPipeline = `
pipeline: rows
kafka: {brokers: '${BROKERS}'}
topics:
  rows: {partitions: 1}
sources:
  docs:
    sql: {driver: sqlite, dsn: '${DSN}', table: docs, mode: incrementing, incrementing_column: id, poll_interval: 50ms}
    delivery: exactly_once
    kafka: {config: {message.max.bytes: 2000}}
    to: rows
    on_error: drop
`

// TestExactlyOnceSourceDropsTooLarge: a row too large for a message is one
// bad record for an exactly-once source too: dropped under on_error: drop,
// while the rows around it are written and the source goes on.
func TestExactlyOnceSourceDropsTooLarge(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	dsn := "file:" + filepath.Join(t.TempDir(), "docs.db")
	db, err := sqldb.Open(sqldb.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO docs VALUES (1, 'small'), (2, ?), (3, 'small too')`, strings.Repeat("x", 5000)); err != nil {
		t.Fatal(err)
	}
	plan := build(t, bigRowPipeline, map[string]string{"BROKERS": brokers, "DSN": dsn})
	msgs := readWhileRunning(t, plan, brokers, "rows", 2)
	want := []string{`{"body":"small","id":1}`, `{"body":"small too","id":3}`}
	if got := values(msgs); !slices.Equal(got, want) {
		t.Fatalf("rows: %q, want %q", got, want)
	}
}

// readWhileRunning runs plan until topic has n records, failing the test if
// the run ends first, then stops the run and returns the records.
func readWhileRunning(t *testing.T, plan *engine.Plan, brokers, topic string, n int) []*kafka.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	var runErr error
	ended := false
	msgs := kafkatest.ReadUntil(t, brokers, topic, 60*time.Second, func(ms []*kafka.Message) bool {
		select {
		case runErr = <-done:
			ended = true
			return true
		default:
			return len(ms) >= n
		}
	})
	if ended {
		t.Fatalf("the run ended before %s had %d records: %v", topic, n, runErr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return msgs
}
