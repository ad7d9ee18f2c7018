package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// TestTransformWithoutSteps copies records byte for byte: keys, values
// (even ones that are not JSON), headers and timestamps.
func TestTransformWithoutSteps(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "raw-in", 2)
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var in []*kafka.Message
	for _, v := range []string{`{"a": 1.50, "b":[1,2]}`, "not json", ""} {
		m := kafkatest.Message("raw-in", []byte("k-"+v), []byte(v), kafka.Header{Key: "h", Value: []byte("x")})
		m.Timestamp = ts
		in = append(in, m)
	}
	kafkatest.Produce(t, brokers, in)
	plan := build(t, `
pipeline: copy
kafka: {brokers: '${BROKERS}'}
transforms:
  copy: {from: raw-in, to: raw-out}
`, map[string]string{"BROKERS": brokers})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	out := kafkatest.ReadUntil(t, brokers, "raw-out", 30*time.Second, kafkatest.Count(3))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("got %d records, want 3", len(out))
	}
	for _, m := range out {
		if string(m.Key) != "k-"+string(m.Value) || len(m.Headers) != 1 || string(m.Headers[0].Value) != "x" || !m.Timestamp.Equal(ts) {
			t.Errorf("record changed on the way: key %q value %q headers %v time %v", m.Key, m.Value, m.Headers, m.Timestamp)
		}
	}
}
