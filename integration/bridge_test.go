package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestBridgeSource copies a topic of a second, independent Kafka cluster
// into the pipeline's cluster with the kafka_cluster source while input
// flows, SIGKILLing the runner mid-stream and starting it again. Its
// positions on the other cluster are its cursor in the pipeline's cluster:
// nothing may be lost or reordered per key; exactly once, nothing repeats.
// Keys, headers and timestamps must arrive as written.
func TestBridgeSource(t *testing.T) { eachDelivery(t, testBridgeSource) }

func testBridgeSource(t *testing.T, delivery string) {
	pipelineKafka, other := service.Kafka(t), service.SecondKafka(t)
	name := unique("bridge-in")
	in, out := name+"-in", name+"-out"
	kafkatest.CreateTopic(t, other, in, 4)
	kafkatest.CreateTopic(t, pipelineKafka, out, 4)
	cfg := writeConfig(t, name, fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {session.timeout.ms: "3000", heartbeat.interval.ms: "500"}
sources:
  bridge:
    kafka_cluster:
      brokers: ${OTHER_BROKERS}
      topics: [%s]
      batch: 500
    delivery: ${DELIVERY}
    steps:
      - set: {copied: true}
    to: %s
`, name, in, out))
	runBridge(t, bridgeCase{
		cfg: cfg, delivery: delivery, inBrokers: other, in: in, outBrokers: pipelineKafka, out: out,
		env:   []string{"KAFKA_BROKERS=" + pipelineKafka, "OTHER_BROKERS=" + other, "DELIVERY=" + delivery},
		fault: "SIGKILL x3, kafka_cluster source from another cluster",
	})
}

// TestBridgeSink is TestBridgeSource the other way: the kafka_cluster sink
// writes the pipeline's topic to a second cluster, at least once (the only
// mode it has): nothing lost or reordered per key.
func TestBridgeSink(t *testing.T) {
	pipelineKafka, other := service.Kafka(t), service.SecondKafka(t)
	name := unique("bridge-out")
	in, out := name+"-in", name+"-out"
	kafkatest.CreateTopic(t, pipelineKafka, in, 4)
	kafkatest.CreateTopic(t, other, out, 4)
	cfg := writeConfig(t, name, fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {session.timeout.ms: "3000", heartbeat.interval.ms: "500"}
sinks:
  bridge:
    from: %s
    steps:
      - set: {copied: true}
    kafka_cluster:
      brokers: ${OTHER_BROKERS}
      topic: %s
`, name, in, out))
	runBridge(t, bridgeCase{
		cfg: cfg, delivery: "at_least_once", inBrokers: pipelineKafka, in: in, outBrokers: other, out: out,
		env:   []string{"KAFKA_BROKERS=" + pipelineKafka, "OTHER_BROKERS=" + other, "CONVEYOR_INSTANCE=one"},
		fault: "SIGKILL x3, kafka_cluster sink to another cluster",
	})
}

func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type bridgeCase struct {
	cfg, delivery, fault string
	inBrokers, in        string
	outBrokers, out      string
	env                  []string
}

// runBridge feeds the input, kills and restarts the runner three times
// while the output grows, then tallies the output and compares each
// record's timestamp with its input's.
func runBridge(t *testing.T, c bridgeCase) {
	const (
		rate  = 4000
		kills = 3
	)
	feed := runnertest.Feed(t, c.inBrokers, c.in, rate, 60)
	p := runnertest.Start(t, c.cfg, c.env...)
	for k := range kills {
		if !kafkatest.WaitRecordAfter(t, c.outBrokers, c.out, settledEnds(t, c.outBrokers, c.out, 4), time.Minute) {
			t.Fatalf("kill %d: no output; stderr:\n%s", k+1, p.Stderr.String())
		}
		time.Sleep(1500 * time.Millisecond) // working for a while: positions stored behind it
		p.Kill(t)
		p = runnertest.Start(t, c.cfg, c.env...)
	}
	time.Sleep(time.Second)
	n := feed.Stop(t)
	t.Logf("%d records fed at %d/s", n, rate)
	tl := tallyFault(t, p, c.outBrokers, c.out, n, 3*time.Minute, c.fault, c.delivery)
	t.Log(tl)
	expect(t, c.delivery, tl, kills*rate)

	written := map[int]time.Time{}
	for _, m := range kafkatest.ReadAll(t, c.inBrokers, c.in, time.Minute) {
		written[recordID(t, m)] = m.Timestamp
	}
	outs := kafkatest.ReadAll(t, c.outBrokers, c.out, time.Minute)
	for _, m := range outs {
		id := recordID(t, m)
		if want := written[id]; !m.Timestamp.Equal(want) {
			t.Fatalf("record %d: timestamp %v on the other side, written at %v", id, m.Timestamp, want)
		}
	}
	t.Logf("%d output records: keys, headers and timestamps as written", len(outs))
}

func recordID(t *testing.T, m *kafka.Message) int {
	t.Helper()
	var v struct{ ID int }
	if err := json.Unmarshal(m.Value, &v); err != nil {
		t.Fatalf("record %q: %v", m.Value, err)
	}
	return v.ID
}

// settledEnds is the end offset of each of the partitions of a topic just
// created, waiting for their leaders.
func settledEnds(t *testing.T, brokers, topic string, partitions int) map[int32]int64 {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": "unused", "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	end := map[int32]int64{}
	deadline := time.Now().Add(time.Minute)
	for p := range int32(partitions) {
		for {
			_, high, err := c.QueryWatermarkOffsets(topic, p, 5000)
			if err == nil {
				end[p] = high
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("end of %s[%d]: %v", topic, p, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return end
}
