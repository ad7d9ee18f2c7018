package pipetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/kafka/topic"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// quietClient is what every client of the harness adds: no logs channel to
// drain, librdkafka's own logging kept to errors.
var quietClient = map[string]string{"go.logs.channel.enable": "false", "log_level": "3", "client.id": "pipetest"}

// forEmbedded points a pipeline at the embedded broker: brokers forced,
// security settings (meant for the real cluster) dropped, and replication
// left to the broker's default (it has one node).
func forEmbedded(p *pipeline.Config, addr string) {
	p.Kafka.Brokers = addr
	p.Kafka.Config = stripSecurity(p.Kafka.Config)
	for name, t := range p.Topics {
		t.ReplicationFactor = -1
		p.Topics[name] = t
	}
	for i := range p.Sources {
		p.Sources[i].Kafka.Config = stripSecurity(p.Sources[i].Kafka.Config)
	}
	for i := range p.Transforms {
		p.Transforms[i].Kafka.Config = stripSecurity(p.Transforms[i].Kafka.Config)
	}
	for i := range p.Sinks {
		p.Sinks[i].Kafka.Config = stripSecurity(p.Sinks[i].Kafka.Config)
	}
}

func stripSecurity(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if k == "security.protocol" || strings.HasPrefix(k, "sasl.") || strings.HasPrefix(k, "ssl.") {
			continue
		}
		out[k] = v
	}
	return out
}

// createTopics creates the pipeline's declared topics before any input is
// produced, so inputs land in as many partitions as the pipeline declares.
func createTopics(ctx context.Context, p *pipeline.Config) error {
	if len(p.Topics) == 0 {
		return nil
	}
	cm := rdkafka.Build(rdkafka.Admin, p.Kafka.Brokers, p.Kafka.Config, nil, quietClient)
	admin, err := kafka.NewAdminClient(&cm)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	var specs []topic.Spec
	for name, t := range p.Topics {
		specs = append(specs, topic.Spec{Name: name, Partitions: t.Partitions, ReplicationFactor: -1, Config: t.Config})
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	_, err = topic.Ensure(ctx, admin, specs)
	return err
}

// produce writes the inputs, in order, with the pipeline's producer
// settings (so keys land on the partitions its own stages would pick), and
// waits until every record is acknowledged.
func produce(ctx context.Context, p *pipeline.Config, tc topicCodecs, inputs []TopicInput) error {
	n := 0
	for _, ti := range inputs {
		n += len(ti.Records)
	}
	if n == 0 {
		return nil
	}
	cm := rdkafka.Build(rdkafka.Producer, p.Kafka.Brokers, p.Kafka.Config, nil, quietClient)
	cm["go.delivery.report.fields"] = "key"
	prod, err := kafka.NewProducer(&cm)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer prod.Close()
	done := make(chan error, 1)
	go func() {
		left := n
		for ev := range prod.Events() {
			if m, ok := ev.(*kafka.Message); ok {
				if m.TopicPartition.Error != nil {
					done <- fmt.Errorf("produce to %s: %w", *m.TopicPartition.Topic, m.TopicPartition.Error)
					return
				}
				if left--; left == 0 {
					done <- nil
					return
				}
			}
		}
	}()
	for _, ti := range inputs {
		topicName := ti.Topic
		for _, r := range ti.Records {
			r, err := tc.encode(ctx, topicName, r)
			if err != nil {
				return err
			}
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topicName, Partition: kafka.PartitionAny}, Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
			}
			if !r.Timestamp.IsZero() {
				m.Timestamp = r.Timestamp
			}
			for {
				err := prod.Produce(m, nil)
				if err == nil {
					break
				}
				if ke, ok := err.(kafka.Error); ok && ke.Code() == kafka.ErrQueueFull {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				return fmt.Errorf("produce to %s: %w", topicName, err)
			}
		}
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("produce inputs: %w", ctx.Err())
	}
}

// readTopic reads topic from the beginning to the end offsets it has when
// called, read_committed. The end is judged by the consumer's position, not
// by counting records: transaction markers take offsets too.
func readTopic(ctx context.Context, brokers, name string) ([]*Got, error) {
	c, err := newProbe(brokers)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	parts, err := partitions(c, name)
	if err != nil || len(parts) == 0 {
		return nil, nil // a topic nobody wrote does not exist: no records
	}
	end := map[int32]int64{}
	var assign []kafka.TopicPartition
	for _, p := range parts {
		_, high, err := c.QueryWatermarkOffsets(name, p, 10000)
		if err != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", name, err)
		}
		if high > 0 {
			end[p] = high
			assign = append(assign, kafka.TopicPartition{Topic: &name, Partition: p, Offset: kafka.OffsetBeginning})
		}
	}
	if len(assign) == 0 {
		return nil, nil
	}
	byPart := map[int32][]*Got{}
	err = rdkafka.ReadTo(ctx, c, assign, end, func(m *kafka.Message) error {
		g := &Got{Key: m.Key, Value: m.Value, Topic: name, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Timestamp: m.Timestamp}
		for _, h := range m.Headers {
			g.Headers = append(g.Headers, record.Header{Key: h.Key, Value: h.Value})
		}
		byPart[g.Partition] = append(byPart[g.Partition], g)
		return nil
	})
	if ctx.Err() != nil {
		return nil, fmt.Errorf("read %s: did not reach its end offsets %v: %w", name, end, ctx.Err())
	}
	if err != nil {
		return nil, err
	}
	var ids []int32
	for p := range byPart {
		ids = append(ids, p)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []*Got
	for _, p := range ids {
		out = append(out, byPart[p]...)
	}
	return out, nil
}

var probeSeq atomic.Int64

// newProbe is a consumer that never commits, for reading and for
// watermarks; read_committed like every consumer of the engine.
func newProbe(brokers string) (*kafka.Consumer, error) {
	cm := kafka.ConfigMap{
		"bootstrap.servers": brokers, "group.id": fmt.Sprintf("pipetest-probe-%d-%d", time.Now().UnixNano(), probeSeq.Add(1)),
		"enable.auto.commit": false, "enable.auto.offset.store": false, "isolation.level": "read_committed",
		"enable.metrics.push": false, "log_level": 3, "client.id": "pipetest", "allow.auto.create.topics": false,
	}
	return kafka.NewConsumer(&cm)
}

// partitions lists a topic's partitions; none when it does not exist.
func partitions(c *kafka.Consumer, name string) ([]int32, error) {
	md, err := c.GetMetadata(&name, false, 10000)
	if err != nil {
		return nil, err
	}
	t, ok := md.Topics[name]
	if !ok || t.Error.Code() != kafka.ErrNoError {
		return nil, nil
	}
	var out []int32
	for _, p := range t.Partitions {
		out = append(out, p.ID)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
