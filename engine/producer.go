package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/kafka/txn"
)

// acker is told when a produced message is durable (acks=all).
type acker interface {
	delivered()
}

// failAcker is an acker that is also told when its message was not
// delivered (a source's batch, whose source may be waiting on it).
type failAcker interface {
	failed(err error)
}

// producer wraps a librdkafka producer and the goroutine that reads its
// delivery reports. A failed delivery stops the stage: its record's offset is
// never stored, so nothing past it is committed.
type producer struct {
	p      *kafka.Producer
	cm     kafka.ConfigMap
	log    *slog.Logger
	stats  *statsHandler
	failed chan error // the first delivery failure
	done   chan struct{}
	queued atomic.Int64
}

func newProducer(cm kafka.ConfigMap, log *slog.Logger, stats *statsHandler) (*producer, error) {
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("create producer: %s", rdkafka.Scrub(cm, err.Error()))
	}
	pr := &producer{p: p, cm: cm, log: log, stats: stats, failed: make(chan error, 1), done: make(chan struct{})}
	go rdkafka.Logs(p.Logs(), cm, log)
	go pr.deliveries()
	return pr, nil
}

// deliveries runs until the producer is closed, which closes Events().
func (pr *producer) deliveries() {
	defer close(pr.done)
	for ev := range pr.p.Events() {
		switch e := ev.(type) {
		case *kafka.Message:
			pr.queued.Add(-1)
			if err := e.TopicPartition.Error; err != nil {
				err := fmt.Errorf("deliver to %s: %s", topicOf(e), rdkafka.Scrub(pr.cm, err.Error()))
				pr.fail(err)
				if a, ok := e.Opaque.(failAcker); ok {
					a.failed(err)
				}
				continue
			}
			if a, ok := e.Opaque.(acker); ok {
				a.delivered()
			}
		case kafka.Error:
			if e.IsFatal() {
				pr.fail(fmt.Errorf("producer: %s", rdkafka.Scrub(pr.cm, e.Error())))
				continue
			}
			pr.log.Warn("kafka producer", "error", rdkafka.Scrub(pr.cm, e.Error()))
		case *kafka.Stats:
			pr.stats.handle("producer", e)
		}
	}
}

func (pr *producer) fail(err error) {
	select {
	case pr.failed <- err:
	default:
	}
}

func topicOf(m *kafka.Message) string {
	if m.TopicPartition.Topic == nil {
		return "?"
	}
	return *m.TopicPartition.Topic
}

// errPermanent marks a produce error that retrying cannot fix (the record is
// too large, say); it goes to the stage's on_error.
var errPermanent = txn.ErrPermanent

// produce hands m to librdkafka, waiting while its queue is full.
func (pr *producer) produce(ctx context.Context, m *kafka.Message, a acker) error {
	m.Opaque = a
	for {
		pr.queued.Add(1)
		err := pr.p.Produce(m, nil)
		if err == nil {
			return nil
		}
		pr.queued.Add(-1)
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("produce to %s: %w: %s", topicOf(m), errPermanent, rdkafka.Scrub(pr.cm, err.Error()))
	}
}

// err returns the first delivery failure, if one happened, without waiting.
func (pr *producer) err() error {
	select {
	case err := <-pr.failed:
		pr.fail(err)
		return err
	default:
		return nil
	}
}

// flush waits until every queued message is delivered or the context ends.
func (pr *producer) flush(ctx context.Context) error {
	for pr.queued.Load() > 0 {
		if err := pr.err(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("flush producer: %d messages undelivered: %w", pr.queued.Load(), ctx.Err())
		}
		pr.p.Flush(50)
	}
	return nil
}

// close flushes what it can within ctx and stops the delivery goroutine.
func (pr *producer) close(ctx context.Context) error {
	err := pr.flush(ctx)
	pr.p.Close()
	<-pr.done
	return err
}
