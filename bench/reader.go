package main

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// readTopic calls fn for the records of topic from the start of each
// partition up to the end offsets it has now, or for the first limit
// records when limit > 0. It reads assigned partitions: no group join.
func (h *harness) readTopic(ctx context.Context, topic string, limit int64, fn func(*kafka.Message) error) error {
	end, err := h.cl.endOffsets(ctx, topic)
	if err != nil {
		return err
	}
	c, err := kafka.NewConsumer(readerConfig(h.cl.brokers, "bench-reader-"+h.runID))
	if err != nil {
		return fmt.Errorf("read %s: create consumer: %w", topic, err)
	}
	defer c.Close()
	var assign []kafka.TopicPartition
	for p, e := range end {
		if e > 0 {
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
		}
	}
	if err := c.Assign(assign); err != nil {
		return fmt.Errorf("read %s: assign: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var read int64
	for !rdkafka.Reached(c, assign, end) && (limit <= 0 || read < limit) {
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %d records read: %w", topic, read, ctx.Err())
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("read %s: %w", topic, e.TopicPartition.Error)
			}
			read++
			if err := fn(e); err != nil {
				return err
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("read %s: %w", topic, e)
			}
		}
	}
	return nil
}

// sampleSize is the average value size of up to 2000 records of topic.
func (h *harness) sampleSize(ctx context.Context, topic string) (float64, error) {
	var n, total int64
	err := h.readTopic(ctx, topic, 2000, func(m *kafka.Message) error {
		n++
		total += int64(len(m.Value))
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("sample %s: no records", topic)
	}
	return float64(total) / float64(n), nil
}
