package engine_test

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// javaPartitions reads testdata/java-partitions.txt: the partition among 6
// that Kafka's Java producer picks for each key the pipeline below makes.
func javaPartitions(t *testing.T) map[string]int32 {
	t.Helper()
	f, err := os.Open("testdata/java-partitions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]int32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		p, key, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		want[key] = int32(n)
	}
	return want
}

const javaKeys = `
pipeline: keys
kafka: {brokers: '${BROKERS}'}
topics:
  in:      {partitions: 6}
  out-alo: {partitions: 6}
  out-eo:  {partitions: 6}
  dlq-alo: {partitions: 6}
  dlq-eo:  {partitions: 6}
sources:
  gen:
    generate: {count: 1000, value: '{"n": _offset}'}
    key: '(n % 3 == 0 ? "ключ-" : "order-") + string(n)'
    to: in
transforms:
  alo:
    from: in
    steps: [{assert: n % 10 != 0}]
    to: out-alo
    on_error: {dead_letter: dlq-alo}
  eo:
    from: in
    delivery: exactly_once
    steps: [{assert: n % 10 != 0}]
    to: out-eo
    on_error: {dead_letter: dlq-eo}
`

// TestKeysLandWhereJavaPutsThem: every producer of a stage (a source's, an
// at-least-once and an exactly-once transform's, and their dead letters')
// puts a keyed record on the partition Kafka's Java producer would, so
// conveyor's topics join with Connect's, Streams' and ksqlDB's.
func TestKeysLandWhereJavaPutsThem(t *testing.T) {
	want := javaPartitions(t)
	brokers := kafkatest.Embedded(t)
	plan := build(t, javaKeys, map[string]string{"BROKERS": brokers})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	for _, group := range []string{"keys.alo", "keys.eo"} {
		if !kafkatest.WaitCommitted(t, brokers, group, "in", 1000, 60*time.Second) {
			t.Errorf("group %s did not commit all of topic in", group)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for topic, n := range map[string]int{"in": 1000, "out-alo": 900, "out-eo": 900, "dlq-alo": 100, "dlq-eo": 100} {
		msgs := kafkatest.ReadAll(t, brokers, topic, 30*time.Second)
		if len(msgs) != n {
			t.Errorf("%s: %d records, want %d", topic, len(msgs), n)
		}
		moved := 0
		for _, m := range msgs {
			p, ok := want[string(m.Key)]
			if !ok {
				t.Fatalf("%s: unexpected key %q", topic, m.Key)
			}
			if m.TopicPartition.Partition != p {
				if moved++; moved <= 3 {
					t.Errorf("%s: key %q on partition %d, Java's producer puts it on %d", topic, m.Key, m.TopicPartition.Partition, p)
				}
			}
		}
		if moved > 0 {
			t.Errorf("%s: %d of %d records on another partition than Java's", topic, moved, len(msgs))
		}
	}
}
