package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// javaPartitions asks Kafka's own Java code (testdata/KeyPartitions.java,
// run from the broker's jars) which partition among n its producer puts
// each key on.
func javaPartitions(t *testing.T, keys []string, n int) map[string]int32 {
	t.Helper()
	out := service.KafkaJava(t, strings.Join(keys, "\n")+"\n", filepath.Join("testdata", "KeyPartitions.java"), strconv.Itoa(n))
	want := map[string]int32{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		p, key, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("KeyPartitions.java printed %q", line)
		}
		want[key] = int32(n)
	}
	if len(want) != len(keys) {
		t.Fatalf("KeyPartitions.java gave %d partitions for %d keys", len(want), len(keys))
	}
	return want
}

// TestKeysLandWhereJavaPutsThem: 1,000 keyed records go through a source
// into a 6-partition topic, and from there through an at-least-once and an
// exactly-once transform (a tenth of them to dead-letter topics), on real
// Kafka. Every record of every topic must be on the partition Kafka's Java
// producer picks for its key, as Connect, Streams and ksqlDB would.
func TestKeysLandWhereJavaPutsThem(t *testing.T) {
	brokers := service.Kafka(t)
	name := unique("keys")
	topics := []struct {
		name string
		n    int
	}{{name + "-in", 1000}, {name + "-alo", 900}, {name + "-eo", 900}, {name + "-alo-dlq", 100}, {name + "-eo-dlq", 100}}
	cfg := filepath.Join(t.TempDir(), "keys.yaml")
	pipeline := fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
topics:
  %[1]s-in:      {partitions: 6}
  %[1]s-alo:     {partitions: 6}
  %[1]s-eo:      {partitions: 6}
  %[1]s-alo-dlq: {partitions: 6}
  %[1]s-eo-dlq:  {partitions: 6}
sources:
  gen:
    generate: {count: 1000, value: '{"n": _offset}'}
    key: '(n %% 4 == 0 ? "客户-" : "customer-") + string(n * 7919)'
    to: %[1]s-in
transforms:
  alo:
    from: %[1]s-in
    steps: [{assert: n %% 10 != 0}]
    to: %[1]s-alo
    on_error: {dead_letter: %[1]s-alo-dlq}
  eo:
    from: %[1]s-in
    delivery: exactly_once
    steps: [{assert: n %% 10 != 0}]
    to: %[1]s-eo
    on_error: {dead_letter: %[1]s-eo-dlq}
`, name)
	if err := os.WriteFile(cfg, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	for _, stage := range []string{"alo", "eo"} {
		if !kafkatest.WaitCommitted(t, brokers, name+"."+stage, name+"-in", 1000, 90*time.Second) {
			t.Fatalf("stage %s did not commit its input; stderr:\n%s", stage, p.Stderr.String())
		}
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	read := map[string][]kafkaRecord{}
	keys := map[string]bool{}
	for _, topic := range topics {
		for _, m := range kafkatest.ReadAll(t, brokers, topic.name, 60*time.Second) {
			read[topic.name] = append(read[topic.name], kafkaRecord{key: string(m.Key), partition: m.TopicPartition.Partition})
			keys[string(m.Key)] = true
		}
	}
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	want := javaPartitions(t, list, 6)
	for _, topic := range topics {
		got, moved := read[topic.name], 0
		for _, r := range got {
			if r.partition != want[r.key] {
				if moved++; moved <= 3 {
					t.Errorf("%s: key %q on partition %d, Java's producer puts it on %d", topic.name, r.key, r.partition, want[r.key])
				}
			}
		}
		if len(got) != topic.n || moved > 0 {
			t.Errorf("%s: %d records (want %d), %d on another partition than Java's", topic.name, len(got), topic.n, moved)
		}
		t.Logf("%s: %d records, %d on another partition than Java's", topic.name, len(got), moved)
	}
}

type kafkaRecord struct {
	key       string
	partition int32
}
