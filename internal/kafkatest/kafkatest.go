// Package kafkatest has helpers for tests that talk to a broker: producing
// fixtures, reading topics back and reading committed offsets.
package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/embedded"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// Embedded starts an in-process broker for the test and returns its address.
func Embedded(t testing.TB) string {
	t.Helper()
	b, err := embedded.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

// Admin opens an admin client of brokers and a context that gives up after
// timeout; done releases both. The client is quiet (log_level 2): tests
// against killed nodes would log every refused connection.
func Admin(t testing.TB, brokers string, timeout time.Duration) (admin *kafka.AdminClient, ctx context.Context, done func()) {
	t.Helper()
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": brokers, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return admin, ctx, func() { cancel(); admin.Close() }
}

// CreateTopic creates a topic with the given partitions.
func CreateTopic(t testing.TB, brokers, topic string, partitions int) {
	t.Helper()
	admin, ctx, done := Admin(t, brokers, 30*time.Second)
	defer done()
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: -1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			t.Fatalf("create topic %s: %v", topic, r.Error)
		}
	}
}

// Produce writes messages and waits until all are delivered.
func Produce(t testing.TB, brokers string, msgs []*kafka.Message) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": brokers, "enable.idempotence": true, "linger.ms": 5, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() {
		n := 0
		for ev := range p.Events() {
			if m, ok := ev.(*kafka.Message); ok {
				if m.TopicPartition.Error != nil {
					done <- m.TopicPartition.Error
					return
				}
				if n++; n == len(msgs) {
					done <- nil
					return
				}
			}
		}
	}()
	for _, m := range msgs {
		for {
			err := p.Produce(m, nil)
			if err == nil {
				break
			}
			if ke, ok := err.(kafka.Error); ok && ke.Code() == kafka.ErrQueueFull {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("produce: timed out waiting for delivery")
	}
}

// Message builds a message for topic.
func Message(topic string, key, value []byte, headers ...kafka.Header) *kafka.Message {
	return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: key, Value: value, Headers: headers}
}

// ReadUntil reads topic from the beginning until done says it has enough or
// the timeout passes; it returns every message read.
func ReadUntil(t testing.TB, brokers, topic string, timeout time.Duration, done func([]*kafka.Message) bool) []*kafka.Message {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": brokers, "group.id": fmt.Sprintf("kafkatest-%d", time.Now().UnixNano()),
		"auto.offset.reset": "earliest", "enable.auto.commit": false, "enable.metrics.push": false, "log_level": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	var out []*kafka.Message
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ev := c.Poll(100)
		if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error == nil {
			out = append(out, m)
		}
		if done(out) {
			return out
		}
	}
	return out
}

// Count returns a done function for ReadUntil that waits for n messages.
func Count(n int) func([]*kafka.Message) bool {
	return func(ms []*kafka.Message) bool { return len(ms) >= n }
}

// Committed returns the committed offsets of group for topic's partitions,
// and the topic's end offsets.
func Committed(t testing.TB, brokers, group, topic string) (committed, end map[int32]int64) {
	t.Helper()
	committed, end, err := committedOffsets(brokers, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	return committed, end
}

func committedOffsets(brokers, group, topic string) (committed, end map[int32]int64, err error) {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": group, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	md, err := c.GetMetadata(&topic, false, 10000)
	if err != nil {
		return nil, nil, err
	}
	var tps []kafka.TopicPartition
	for _, p := range md.Topics[topic].Partitions {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p.ID})
	}
	got, err := c.Committed(tps, 10000)
	if err != nil {
		return nil, nil, err
	}
	committed, end = map[int32]int64{}, map[int32]int64{}
	for _, tp := range got {
		committed[tp.Partition] = int64(tp.Offset)
		_, high, err := c.QueryWatermarkOffsets(topic, tp.Partition, 10000)
		if err != nil {
			return nil, nil, err
		}
		end[tp.Partition] = high
	}
	return committed, end, nil
}

// WaitCommitted waits until topic holds at least total records and group has
// committed the end offset of every non-empty partition; it reports whether
// that happened in time.
func WaitCommitted(t testing.TB, brokers, group, topic string, total int64, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		committed, end, err := committedOffsets(brokers, group, topic)
		all := err == nil
		var sum int64
		for p, e := range end {
			sum += e
			if e > 0 && committed[p] != e {
				all = false
			}
		}
		all = all && sum >= total
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ReadAll reads topic from the beginning up to the end offsets it has when
// called, and returns every committed message (read_committed, like every
// consumer here). Done is judged by the consumer's position, not by counting
// messages: transaction markers and aborted records take offsets too.
func ReadAll(t testing.TB, brokers, topic string, timeout time.Duration) []*kafka.Message {
	t.Helper()
	end, err := endOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": brokers, "group.id": fmt.Sprintf("kafkatest-%d", time.Now().UnixNano()),
		"enable.auto.commit": false, "enable.metrics.push": false, "log_level": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var parts []kafka.TopicPartition
	for p, e := range end {
		if e > 0 {
			parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
		}
	}
	if err := c.Assign(parts); err != nil {
		t.Fatal(err)
	}
	var out []*kafka.Message
	reached := func() bool { return rdkafka.Reached(c, parts, end) }
	for deadline := time.Now().Add(timeout); !reached(); {
		if time.Now().After(deadline) {
			t.Fatalf("read %d records of %s within %s without reaching its end offsets %v", len(out), topic, timeout, end)
		}
		if m, ok := c.Poll(100).(*kafka.Message); ok && m.TopicPartition.Error == nil {
			out = append(out, m)
		}
	}
	return out
}

func endOffsets(brokers, topic string) (map[int32]int64, error) {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": "kafkatest-end", "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	md, err := c.GetMetadata(&topic, false, 10000)
	if err != nil {
		return nil, err
	}
	end := map[int32]int64{}
	for _, p := range md.Topics[topic].Partitions {
		_, high, err := c.QueryWatermarkOffsets(topic, p.ID, 10000)
		if err != nil {
			return nil, err
		}
		end[p.ID] = high
	}
	return end, nil
}

// HasRecords reports whether topic's end offsets add up to at least n; a
// topic whose partitions have no leader yet has none.
func HasRecords(t testing.TB, brokers, topic string, n int64) bool {
	t.Helper()
	end, err := endOffsets(brokers, topic)
	if err != nil {
		return false
	}
	var sum int64
	for _, e := range end {
		sum += e
	}
	return sum >= n
}

// Forget deletes topics and consumer groups left by an earlier run against
// the same broker, for tests whose pipelines use fixed names. Missing ones
// are fine.
func Forget(t testing.TB, brokers string, topics, groups []string) {
	t.Helper()
	a, ctx, done := Admin(t, brokers, 30*time.Second)
	defer done()
	if len(groups) > 0 {
		if _, err := a.DeleteConsumerGroups(ctx, groups); err != nil {
			t.Logf("delete groups: %v", err)
		}
	}
	res, err := a.DeleteTopics(ctx, topics)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrUnknownTopicOrPart {
			t.Fatalf("delete topic %s: %v", r.Topic, r.Error)
		}
	}
	// Deletion completes in the background; wait until metadata stops
	// showing the topics so the runner creates them afresh.
	for _, topic := range topics {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			md, err := a.GetMetadata(&topic, false, 5000)
			if err == nil {
				if tm, ok := md.Topics[topic]; !ok || tm.Error.Code() == kafka.ErrUnknownTopicOrPart {
					break
				}
			}
		}
	}
}

// EndOffsets returns the end offset of each partition of topic.
func EndOffsets(t testing.TB, brokers, topic string) map[int32]int64 {
	t.Helper()
	end, err := endOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return end
}

// ReaderAt returns a consumer assigned to topic at the given offsets per
// partition, reading committed records; it closes with the test.
func ReaderAt(t testing.TB, brokers, topic string, from map[int32]int64) *kafka.Consumer {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": brokers, "group.id": fmt.Sprintf("kafkatest-%d", time.Now().UnixNano()),
		"enable.auto.commit": false, "enable.metrics.push": false, "log_level": 2, "fetch.wait.max.ms": 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var parts []kafka.TopicPartition
	for p, off := range from {
		parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(off)})
	}
	if err := c.Assign(parts); err != nil {
		t.Fatal(err)
	}
	return c
}

// WaitRecordAfter waits until a committed record appears in topic at or
// after the given offsets, and reports whether one did within timeout.
// Transaction markers move end offsets without being records, so this
// reads rather than comparing offsets.
func WaitRecordAfter(t testing.TB, brokers, topic string, from map[int32]int64, timeout time.Duration) bool {
	t.Helper()
	c := ReaderAt(t, brokers, topic, from)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if m, ok := c.Poll(20).(*kafka.Message); ok && m.TopicPartition.Error == nil {
			return true
		}
	}
	return false
}
