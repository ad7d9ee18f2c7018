package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

const onErrorPipeline = `
pipeline: onerr
kafka: {brokers: '${BROKERS}'}
sinks:
  store:
    from: in
    on_error: ${ON_ERROR}
    steps:
      - assert: n != 5
    file: {path: '${OUT}'}
`

func tenRecords(t *testing.T, brokers string) {
	t.Helper()
	kafkatest.CreateTopic(t, brokers, "in", 1)
	var msgs []*kafka.Message
	for n := range 10 {
		msgs = append(msgs, kafkatest.Message("in", nil, fmt.Appendf(nil, `{"n": %d}`, n)))
	}
	// One record that is not JSON at all.
	msgs = append(msgs, kafkatest.Message("in", nil, []byte("not json")))
	kafkatest.Produce(t, brokers, msgs)
}

// TestOnErrorFail stops the stage at the bad record and commits nothing
// past it, so a fixed pipeline reads it again.
func TestOnErrorFail(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	tenRecords(t, brokers)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	plan := build(t, onErrorPipeline, map[string]string{"BROKERS": brokers, "OUT": out, "ON_ERROR": "fail"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := plan.Run(ctx, engine.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "sink store: record at in[0]@5: steps[0].assert") {
		t.Fatalf("run error = %v, want the failed assertion at in[0]@5", err)
	}
	committed, _ := kafkatest.Committed(t, brokers, "onerr.store", "in")
	if committed[0] > 5 {
		t.Fatalf("committed offset %d is past the failed record at offset 5", committed[0])
	}
	for _, l := range lines(t, out) {
		if strings.Contains(l, `"n":5`) {
			t.Fatalf("the failed record was written: %s", l)
		}
	}
}

// TestOnErrorDrop skips bad records (a failed assertion, a value that is
// not JSON), writes the rest and commits everything.
func TestOnErrorDrop(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	tenRecords(t, brokers)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	plan := build(t, onErrorPipeline, map[string]string{"BROKERS": brokers, "OUT": out, "ON_ERROR": "drop"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	if !kafkatest.WaitCommitted(t, brokers, "onerr.store", "in", 11, 60*time.Second) {
		t.Error("not everything was committed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(lines(t, out)); got != 9 {
		t.Fatalf("wrote %d records, want 9 (10 minus the dropped n=5; the non-JSON one dropped too)", got)
	}
}

// TestWriteErrorWritesOthersOnce: a record the file sink cannot encode (0/0
// is NaN, which JSON has no text for) is dropped at the write, and the
// records of its batch before it are written once, not again with the retry.
func TestWriteErrorWritesOthersOnce(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "in", 1)
	var msgs []*kafka.Message
	for a := range 5 {
		msgs = append(msgs, kafkatest.Message("in", nil, fmt.Appendf(nil, `{"a": %d}`, a)))
	}
	kafkatest.Produce(t, brokers, msgs) // before the stage starts: one batch
	out := filepath.Join(t.TempDir(), "out.jsonl")
	plan := build(t, `
pipeline: nan
kafka: {brokers: '${BROKERS}'}
sinks:
  store:
    from: in
    on_error: drop
    steps:
      - set: {r: (a - 2) / (a - 2)}
    file: {path: '${OUT}'}
`, map[string]string{"BROKERS": brokers, "OUT": out})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	if !kafkatest.WaitCommitted(t, brokers, "nan.store", "in", 5, 60*time.Second) {
		t.Error("not everything was committed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var as []string
	for _, l := range lines(t, out) {
		var v struct{ A int }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		as = append(as, fmt.Sprint(v.A))
	}
	if got := strings.Join(as, ","); got != "0,1,3,4" {
		t.Errorf("the file holds a=%s, want a=0,1,3,4", got)
	}
}
