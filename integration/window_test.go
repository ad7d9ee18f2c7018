package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// order is one input record of the windowed aggregate test: a store's
// order of total at base+at.
type order struct {
	store string
	at    time.Duration
	total int
}

// windowRow is an output row of the aggregate, with the output record's key
// and timestamp.
type windowRow struct {
	Key         string
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	Orders      int64
	Revenue     int64
	Timestamp   time.Time `json:"-"`
}

func (r windowRow) String() string {
	return fmt.Sprintf("%s [%s, %s) orders=%d revenue=%d ts=%s", r.Key, r.WindowStart, r.WindowEnd, r.Orders, r.Revenue, r.Timestamp.UTC().Format(time.RFC3339Nano))
}

// timedMessage is kafkatest.Message with an explicit record timestamp
// (CreateTime): the producer sends Timestamp when it is not zero.
func timedMessage(topic string, key, value []byte, ts time.Time) *kafka.Message {
	m := kafkatest.Message(topic, key, value)
	m.Timestamp = ts
	return m
}

// windowOrders is the input of TestWindowedAggregate, in produce order, on
// one partition: stream time is per partition, so one partition makes it
// the same on every run. Windows are [base+N*1m, base+(N+1)*1m), grace 10s:
// window N closes when stream time reaches base+(N+1)*1m+10s.
var windowOrders = []order{
	{"s1", 0, 10},                 // W0
	{"s2", 5 * time.Second, 20},   // W0
	{"s1", 30 * time.Second, 5},   // W0
	{"s2", 50 * time.Second, 7},   // W0
	{"s1", 65 * time.Second, 3},   // W1; stream time 1m05s: W0 still open (closes at 1m10s)
	{"s2", 55 * time.Second, 4},   // W0, 10s behind stream time but inside the grace: counted
	{"s1", 72 * time.Second, 1},   // W1; stream time 1m12s closes W0
	{"s2", 58 * time.Second, 100}, // W0, closed: late beyond the grace, dead letter
	{"s2", 90 * time.Second, 8},   // W1
	{"s1", 125 * time.Second, 2},  // W2; stream time 2m05s: W1 open until 2m10s
	{"s2", 135 * time.Second, 6},  // W2; stream time 2m15s closes W1
	{"s1", 200 * time.Second, 1},  // W3; stream time 3m20s closes W2; W3 stays open
}

// lateOrder is the index in windowOrders of the record beyond the grace.
const lateOrder = 7

// TestWindowedAggregate counts and sums orders per store per one-minute
// tumbling window (grace 10s) on a real broker, with explicit record
// timestamps: in-order records, a late one inside the grace (counted), a
// late one beyond it (a dead letter, exactly once), two stores and four
// windows, three of them closed by later records. Under emit: final the
// output is each closed window once; under emit: changes, every update of
// every window in order.
func TestWindowedAggregate(t *testing.T) {
	// base is a whole minute a little in the past: windows align to it, and
	// the broker accepts the timestamps (not in the future, not so old that
	// retention would drop them).
	base := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	w := func(n int) (string, string) {
		start := base.Add(time.Duration(n) * time.Minute)
		return start.Format("2006-01-02T15:04:05.000Z07:00"), start.Add(time.Minute).Format("2006-01-02T15:04:05.000Z07:00")
	}
	at := func(d time.Duration) time.Time { return base.Add(d) }
	row := func(store string, win int, orders, revenue int64, ts time.Duration) windowRow {
		s, e := w(win)
		return windowRow{Key: store, WindowStart: s, WindowEnd: e, Orders: orders, Revenue: revenue, Timestamp: at(ts)}
	}

	t.Run("final", func(t *testing.T) {
		// Each closed window once, when it closes, in close order (then by
		// store); W3 never closes.
		want := []windowRow{
			row("s1", 0, 2, 15, 30*time.Second),
			row("s2", 0, 3, 31, 55*time.Second),
			row("s1", 1, 2, 4, 72*time.Second),
			row("s2", 1, 1, 8, 90*time.Second),
			row("s1", 2, 1, 2, 125*time.Second),
			row("s2", 2, 1, 6, 135*time.Second),
		}
		testWindowed(t, "final", base, want)
	})
	t.Run("changes", func(t *testing.T) {
		// Every update, in input order; the late record changes nothing.
		want := []windowRow{
			row("s1", 0, 1, 10, 0),
			row("s2", 0, 1, 20, 5*time.Second),
			row("s1", 0, 2, 15, 30*time.Second),
			row("s2", 0, 2, 27, 50*time.Second),
			row("s1", 1, 1, 3, 65*time.Second),
			row("s2", 0, 3, 31, 55*time.Second),
			row("s1", 1, 2, 4, 72*time.Second),
			row("s2", 1, 1, 8, 90*time.Second),
			row("s1", 2, 1, 2, 125*time.Second),
			row("s2", 2, 1, 6, 135*time.Second),
			row("s1", 3, 1, 1, 200*time.Second),
		}
		testWindowed(t, "changes", base, want)
	})
}

func testWindowed(t *testing.T, emit string, base time.Time, want []windowRow) {
	brokers := service.Kafka(t)
	name := unique("window-" + emit)
	in, out, dlq := name+"-orders", name+"-out", name+"-dlq"
	for _, topic := range []string{in, out, dlq} {
		kafkatest.CreateTopic(t, brokers, topic, 1)
	}
	cfg := filepath.Join(t.TempDir(), name+".yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
transforms:
  per-store:
    from: %s
    on_error: {dead_letter: %s}
    steps:
      - aggregate:
          values:
            orders: count
            revenue: {sum: total}
          window: {tumbling: 1m, grace: 10s}
          emit: %s
    to: %s
`, name, in, dlq, emit, out)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	var msgs []*kafka.Message
	for i, o := range windowOrders {
		v := fmt.Sprintf(`{"id":%d,"store":%q,"total":%d}`, i, o.store, o.total)
		msgs = append(msgs, timedMessage(in, []byte(o.store), []byte(v), base.Add(o.at)))
	}
	kafkatest.Produce(t, brokers, msgs)

	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	if !kafkatest.WaitCommitted(t, brokers, name+".per-store", in, int64(len(msgs)), 90*time.Second) {
		t.Fatalf("the stage did not commit its %d records; stderr:\n%s", len(msgs), p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}

	var got []windowRow
	for _, m := range kafkatest.ReadAll(t, brokers, out, 30*time.Second) {
		var r windowRow
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("output %q: %v", m.Value, err)
		}
		var fields map[string]any
		if err := json.Unmarshal(m.Value, &fields); err != nil || len(fields) != 4 {
			t.Errorf("output %s: want exactly window_start, window_end, orders, revenue", m.Value)
		}
		r.Key, r.Timestamp = string(m.Key), m.Timestamp
		got = append(got, r)
	}
	if !slices.EqualFunc(got, want, func(a, b windowRow) bool { return a.String() == b.String() }) {
		t.Errorf("emit %s: got %d rows, want %d\n got:\n%s\nwant:\n%s", emit, len(got), len(want), lines(got), lines(want))
	}
	if emit == "final" {
		// Each window once: no (store, window) repeats.
		seen := map[string]bool{}
		for _, r := range got {
			k := r.Key + " " + r.WindowStart
			if seen[k] {
				t.Errorf("window %s emitted twice", k)
			}
			seen[k] = true
		}
	}

	// The record beyond the grace, and only it, is a dead letter, once:
	// original key and value, the step named.
	dead := kafkatest.ReadAll(t, brokers, dlq, 30*time.Second)
	late := msgs[lateOrder]
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic has %d records, want 1 (the late order %s)", len(dead), late.Value)
	}
	d := dead[0]
	if string(d.Key) != string(late.Key) || string(d.Value) != string(late.Value) {
		t.Errorf("dead letter %s=%s, want %s=%s", d.Key, d.Value, late.Key, late.Value)
	}
	headers := map[string]string{}
	for _, h := range d.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers["conveyor.error.step"] != "steps[0].aggregate" || !strings.Contains(headers["conveyor.error.message"], "closed") ||
		headers["conveyor.error.offset"] != fmt.Sprint(lateOrder) {
		t.Errorf("dead letter headers %v: want step steps[0].aggregate, a window-closed message, offset %d", headers, lateOrder)
	}
	t.Logf("emit %s: %d rows; dead letter: %s (%s)", emit, len(got), d.Value, headers["conveyor.error.message"])
}

func lines(rows []windowRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return b.String()
}
