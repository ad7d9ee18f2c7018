package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// TestSourceDeadLetterKeepsValue: a generated record a step rejects reaches
// the dead-letter topic with the value as generated, before any step.
func TestSourceDeadLetterKeepsValue(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	plan := build(t, `
pipeline: srcdlq
kafka: {brokers: '${BROKERS}'}
sources:
  gen:
    generate: {count: 4, value: '{"n": _offset}'}
    steps:
      - set: {doubled: n * 2}
      - assert: n % 2 == 0
    to: good
    on_error: {dead_letter: bad}
`, map[string]string{"BROKERS": brokers})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := plan.Run(ctx, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := kafkatest.ReadUntil(t, brokers, "bad", 10*time.Second, kafkatest.Count(2))
	if len(bad) != 2 {
		t.Fatalf("%d dead letters, want 2", len(bad))
	}
	for _, m := range bad {
		if v := string(m.Value); v != `{"n":1}` && v != `{"n":3}` {
			t.Errorf("dead letter value %s, want the generated value without the set step's field", v)
		}
	}
}
