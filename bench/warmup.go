package main

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// warmUp commits an offset for a throwaway group before anything is timed.
// A fresh broker creates __consumer_offsets on the first group request,
// which takes seconds; without this the first variant of round 1 pays it.
func (h *harness) warmUp(ctx context.Context, topic string) error {
	group := "bench-" + h.runID + "-warmup"
	defer h.cleanup(group)
	c, err := kafka.NewConsumer(readerConfig(h.cl.brokers, group))
	if err != nil {
		return fmt.Errorf("warm up: create consumer: %w", err)
	}
	defer c.Close()
	tp := []kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: 0}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := c.CommitOffsets(tp)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm up: commit an offset for group %s: %w", group, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
