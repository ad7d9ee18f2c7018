package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// TestRateCaps: a stage's rate: holds in every delivery mode, for a
// transform and for an exactly-once SQL sink. A rate limiter can never let
// through more than rate × elapsed + its burst, however slow the machine,
// so the bound below cannot fail for a stage that keeps its cap.
func TestRateCaps(t *testing.T) {
	const rate, burst, n = 100, 10, 3000
	for _, c := range []struct{ name, stage string }{
		{"transform at_least_once", "transforms:\n  copy:\n    from: in\n    delivery: at_least_once\n    rate: 100/s\n    to: out\n"},
		{"transform exactly_once", "transforms:\n  copy:\n    from: in\n    delivery: exactly_once\n    rate: 100/s\n    to: out\n"},
		{"sql sink exactly_once", "sinks:\n  rows:\n    from: in\n    delivery: exactly_once\n    rate: 100/s\n    sql: {driver: sqlite, dsn: 'file:${DB}', table: rows, mode: insert, auto_create: true}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			brokers := kafkatest.Embedded(t)
			kafkatest.CreateTopic(t, brokers, "in", 3)
			kafkatest.CreateTopic(t, brokers, "out", 3)
			var msgs []*kafka.Message
			for i := range n {
				msgs = append(msgs, kafkatest.Message("in", []byte(fmt.Sprint(i%7)), fmt.Appendf(nil, `{"i":%d}`, i)))
			}
			kafkatest.Produce(t, brokers, msgs)
			db := filepath.Join(t.TempDir(), "rows.db")
			plan := build(t, "pipeline: capped\nkafka: {brokers: '"+brokers+"'}\n"+c.stage, map[string]string{"DB": db})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			if err := plan.Run(ctx, engine.RunOptions{}); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			var out int
			if c.stage[:5] == "sinks" {
				conn, err := sqldb.Open(sqldb.SQLite, "file:"+db)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if err := conn.Get(&out, `SELECT count(*) FROM rows`); err != nil {
					t.Fatal(err)
				}
			} else {
				out = len(kafkatest.ReadAll(t, brokers, "out", 30*time.Second))
			}
			limit := int(rate*elapsed.Seconds()) + burst
			if out == 0 || out > limit {
				t.Fatalf("%d records through in %s at rate %d/s: want 1 to %d", out, elapsed.Round(time.Millisecond), rate, limit)
			}
		})
	}
}
