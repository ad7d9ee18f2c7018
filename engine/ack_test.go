package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

const ackPipeline = `
pipeline: acks
kafka: {brokers: '${BROKERS}'}
delivery: ${DELIVERY}
topics:
  acked: {partitions: 3}
  acked-dlq: {partitions: 1}
sources:
  s:
    acking: {}
    to: acked
    steps:
      - filter: id < 1000
    on_error: {dead_letter: acked-dlq}
`

// ackingSource emits its batches one at a time with an Ack, and when the
// Ack says a batch is durable reads the topics to see that it is.
type ackingSource struct {
	brokers string
	t       *testing.T
	batches [][]*record.Record
	// want[i] is how many records the output and dead-letter topics hold
	// once batch i is acknowledged.
	want   [][2]int
	acked  int
	cursor int
}

func (s *ackingSource) Resume([]byte) error { return nil }

func (s *ackingSource) Read(ctx context.Context, emit connectors.Emit) error {
	for i, b := range s.batches {
		done := make(chan error, 1)
		calls := 0
		ack := func(err error) { calls++; done <- err }
		s.cursor++
		if err := emit(connectors.WithAck(ctx, ack), b, fmt.Appendf(nil, "%d", s.cursor)); err != nil {
			return err
		}
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("batch %d: ack: %w", i, err)
			}
		case <-time.After(30 * time.Second):
			return fmt.Errorf("batch %d was never acknowledged", i)
		}
		// At once: no waiting for what an ack promised is already there.
		out := len(kafkatest.ReadAll(s.t, s.brokers, "acked", 10*time.Second))
		dlq := len(kafkatest.ReadAll(s.t, s.brokers, "acked-dlq", 10*time.Second))
		if out != s.want[i][0] || dlq != s.want[i][1] {
			return fmt.Errorf("batch %d acknowledged with %d records in the topic and %d dead letters, want %d and %d", i, out, dlq, s.want[i][0], s.want[i][1])
		}
		if calls != 1 {
			return fmt.Errorf("batch %d: ack called %d times", i, calls)
		}
		s.acked++
	}
	return nil
}

// TestSourceAck: a source that passes an Ack with a batch is told once the
// batch's records (and dead letters) are in Kafka, also for a batch the
// steps filter whole, in either delivery.
func TestSourceAck(t *testing.T) { eachDelivery(t, testSourceAck) }

func testSourceAck(t *testing.T, delivery string) {
	brokers := kafkatest.Embedded(t)
	rec := func(id int) *record.Record { return &record.Record{Value: map[string]any{"id": int64(id)}} }
	src := &ackingSource{brokers: brokers, t: t,
		batches: [][]*record.Record{
			{rec(1), rec(2), rec(3)},
			{rec(1000), rec(1001)}, // filtered
			{rec(4), {Err: errors.New("unreadable"), Raw: []byte("?")}},
		},
		want: [][2]int{{3, 0}, {3, 0}, {4, 1}},
	}
	spec := connectors.SourceSpec{
		Spec: connectors.Spec{Name: "acking", Config: struct{}{}},
		New:  func(pipeline.Connector, connectors.Env) (connectors.Source, error) { return src, nil },
	}
	reg := connectors.Registry{Sources: []connectors.SourceSpec{spec}}
	env := map[string]string{"BROKERS": brokers, "DELIVERY": delivery}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p, err := pipeline.Parse("test.yaml", []byte(ackPipeline), pipeline.Options{Lookup: lookup, Kinds: reg.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{Lookup: lookup})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := plan.Run(ctx, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if src.acked != len(src.batches) {
		t.Fatalf("%d of %d batches acknowledged", src.acked, len(src.batches))
	}
}
