package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// deliveryWatch counts a producer's delivery reports. Its goroutine is
// owned by the producer: it ends when the producer's Close closes Events.
type deliveryWatch struct {
	delivered atomic.Int64
	failed    chan error // the first failed delivery or fatal error
	done      chan struct{}
}

func watchDeliveries(p *kafka.Producer) *deliveryWatch {
	w := &deliveryWatch{failed: make(chan error, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ev := range p.Events() {
			switch e := ev.(type) {
			case *kafka.Message:
				if e.TopicPartition.Error != nil {
					w.fail(fmt.Errorf("delivery failed: %w", e.TopicPartition.Error))
					continue
				}
				w.delivered.Add(1)
			case kafka.Error:
				if e.IsFatal() {
					w.fail(fmt.Errorf("producer: %w", e))
				}
			}
		}
	}()
	return w
}

func (w *deliveryWatch) fail(err error) {
	select {
	case w.failed <- err:
	default:
	}
}

// err returns the first failure, without waiting.
func (w *deliveryWatch) err() error {
	select {
	case err := <-w.failed:
		w.fail(err) // keep it for later callers
		return err
	default:
		return nil
	}
}

// waitFor waits until n messages are delivered, one fails, or ctx ends.
func (w *deliveryWatch) waitFor(ctx context.Context, n int64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for w.delivered.Load() < n {
		if err := w.err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for deliveries (%d of %d): %w", w.delivered.Load(), n, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// produce hands m to librdkafka, waiting while its queue is full.
func produce(ctx context.Context, p *kafka.Producer, m *kafka.Message) error {
	for {
		err := p.Produce(m, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull {
			return fmt.Errorf("produce to %s: %w", *m.TopicPartition.Topic, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("produce to %s: %w", *m.TopicPartition.Topic, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
