package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

const aggregatePipeline = `
pipeline: agg
kafka: {brokers: '${BROKERS}'}
topics:
  points: {partitions: 3}
  users:  {partitions: 3, config: {cleanup.policy: compact}}
  totals: {partitions: 3}
transforms:
  total:
    from: points
    steps:
      - join: {table: users, as: user, type: left}
      - aggregate:
          values:
            n: count
            sum: {sum: points}
            spent: {sum: -points, where: points < 0}
            name: {last: user.name}
    to: totals
`

// TestAggregateRestores runs an aggregate with a stream-table join, stops
// it, feeds more records and runs it again: the second run must continue
// from the state the first one left in its changelog, so each key's last
// row counts every record of both runs once.
func TestAggregateRestores(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "points", 3)
	kafkatest.CreateTopic(t, brokers, "users", 3)
	var users []*kafka.Message
	for u := range 5 {
		users = append(users, kafkatest.Message("users", []byte(strconv.Itoa(u)), fmt.Appendf(nil, `{"name":"user%d"}`, u)))
	}
	kafkatest.Produce(t, brokers, users)
	want := map[string][3]int64{} // n, sum, spent per key
	produce := func(from, to int) {
		var msgs []*kafka.Message
		for i := from; i < to; i++ {
			k := strconv.Itoa(i % 5)
			p := int64(i%7 - 3)
			msgs = append(msgs, kafkatest.Message("points", []byte(k), fmt.Appendf(nil, `{"points":%d}`, p)))
			w := want[k]
			w[0]++
			w[1] += p
			if p < 0 {
				w[2] -= p
			}
			want[k] = w
		}
		kafkatest.Produce(t, brokers, msgs)
	}
	run := func(inputs int64) {
		plan := build(t, aggregatePipeline, map[string]string{"BROKERS": brokers})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
		if !kafkatest.WaitCommitted(t, brokers, "agg.total", "points", inputs, 60*time.Second) {
			t.Errorf("the aggregate did not commit %d records", inputs)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	produce(0, 600)
	run(600)
	produce(600, 1000)
	run(1000)

	last := map[string]map[string]any{}
	for _, m := range kafkatest.ReadAll(t, brokers, "totals", 30*time.Second) {
		var v map[string]any
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		last[string(m.Key)] = v
	}
	for k, w := range want {
		got := last[k]
		if got == nil || got["n"] != float64(w[0]) || got["sum"] != float64(w[1]) || got["spent"] != float64(w[2]) || got["name"] != "user"+k {
			t.Errorf("key %s: last row %v, want n=%d sum=%d spent=%d name=user%s", k, got, w[0], w[1], w[2], k)
		}
	}
}
