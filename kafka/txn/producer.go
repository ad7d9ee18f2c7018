// Package txn is conveyor's one transactional producer: exactly-once
// stages and dead-letter replay produce through it, so fencing, retries
// and aborts work the same everywhere.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// ErrFenced says another process registered this producer's transactional
// id: it took over.
var ErrFenced = errors.New("fenced: another process took over this stage")

// ErrAborted says the open transaction was rolled back (or lost with a
// recreated producer); nothing of it is visible. The caller rewinds to
// where the transaction began and carries on.
var ErrAborted = errors.New("transaction aborted")

// ErrPermanent marks a produce error that retrying cannot fix (the record
// is too large, say): the record, not the transaction, is at fault.
var ErrPermanent = errors.New("permanent")

// Options are what a Producer reports to and how it meets a fatal error.
type Options struct {
	Log *slog.Logger
	// Stats gets librdkafka's statistics; nil ignores them.
	Stats func(*kafka.Stats)
	// Committed and Aborted are told of each transaction's end; nil: not.
	Committed, Aborted func()
	// FencedStops returns a fatal error as ErrFenced instead of replacing
	// the producer: where the transactional id is shared by whoever holds
	// a lease, or a replay group, a new producer would fence the process
	// that took over.
	FencedStops bool
}

// Producer is a transactional producer: what it produces between Begin and
// Commit becomes visible to read_committed consumers all at once, with the
// consumer offsets sent along, or not at all. One goroutine uses it.
type Producer struct {
	cm  kafka.ConfigMap
	opt Options
	p   *kafka.Producer
	// events is closed when the producer's event channel is.
	events chan struct{}
	open   bool
	// resets counts producers recreated after fatal errors, recently: two
	// processes sharing a transactional id fence each other for ever.
	resets []time.Time
}

// New creates the producer and registers its transactional id, which
// fences a predecessor with the same id and aborts its open transaction.
func New(ctx context.Context, cm kafka.ConfigMap, opt Options) (*Producer, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	t := &Producer{cm: cm, opt: opt}
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// ID is the transactional id.
func (t *Producer) ID() string { return rdkafka.String(t.cm, "transactional.id") }

// Open reports whether a transaction is open.
func (t *Producer) Open() bool { return t.open }

func (t *Producer) start(ctx context.Context) error {
	p, err := kafka.NewProducer(&t.cm)
	if err != nil {
		return fmt.Errorf("create transactional producer: %s", rdkafka.Scrub(t.cm, err.Error()))
	}
	t.p, t.events = p, make(chan struct{})
	go rdkafka.Logs(p.Logs(), t.cm, t.opt.Log)
	go func() { // delivery reports are off; errors still come here
		defer close(t.events)
		for ev := range p.Events() {
			switch e := ev.(type) {
			case kafka.Error:
				t.opt.Log.Warn("kafka producer", "error", rdkafka.Scrub(t.cm, e.Error()))
			case *kafka.Stats:
				if t.opt.Stats != nil {
					t.opt.Stats(e)
				}
			}
		}
	}()
	if err := t.retry(ctx, func() error { return p.InitTransactions(ctx) }); err != nil {
		t.Close()
		return fmt.Errorf("init transactions for id %s: %s", t.ID(), rdkafka.Scrub(t.cm, err.Error()))
	}
	return nil
}

// Close closes the producer; an open transaction is left to the broker,
// which aborts it at its timeout or when the id registers again.
func (t *Producer) Close() {
	t.p.Close()
	<-t.events
}

// Begin opens a transaction unless one is open.
func (t *Producer) Begin() error {
	if t.open {
		return nil
	}
	if err := t.p.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %s", rdkafka.Scrub(t.cm, err.Error()))
	}
	t.open = true
	return nil
}

// Produce adds m to the open transaction, waiting while the queue is full.
// An error librdkafka raises at once (a message too large) wraps
// ErrPermanent: the record is at fault. One that says the transaction
// itself failed wraps ErrAborted: the caller aborts it and reads again.
func (t *Producer) Produce(ctx context.Context, m *kafka.Message) error {
	for {
		err := t.p.Produce(m, nil)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrQueueFull {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.p.Flush(10)
			continue
		}
		if errors.As(err, &ke) && (ke.Code() == kafka.ErrState || ke.TxnRequiresAbort() || ke.IsFatal()) {
			// A produce request of the transaction failed underneath
			// (sequence numbers skipped after an abort purged the queue,
			// say): no record is at fault.
			return fmt.Errorf("produce to %s: %w: %s", topicOf(m), ErrAborted, rdkafka.Scrub(t.cm, err.Error()))
		}
		return fmt.Errorf("produce to %s: %w: %s", topicOf(m), ErrPermanent, rdkafka.Scrub(t.cm, err.Error()))
	}
}

func topicOf(m *kafka.Message) string {
	if m.TopicPartition.Topic == nil {
		return "?"
	}
	return *m.TopicPartition.Topic
}

// Commit sends offsets (when there are any) with the consumer's group
// metadata and commits. It returns ErrAborted when the transaction had to
// be rolled back; any other error is for the caller to stop with.
func (t *Producer) Commit(ctx context.Context, offsets []kafka.TopicPartition, meta *kafka.ConsumerGroupMetadata) error {
	if !t.open {
		return nil
	}
	if len(offsets) > 0 {
		if err := t.retry(ctx, func() error { return t.p.SendOffsetsToTransaction(ctx, offsets, meta) }); err != nil {
			return t.recover(ctx, "send offsets to transaction", err)
		}
	}
	if err := t.retry(ctx, func() error { return t.p.CommitTransaction(ctx) }); err != nil {
		return t.recover(ctx, "commit transaction", err)
	}
	t.open = false
	if t.opt.Committed != nil {
		t.opt.Committed()
	}
	return nil
}

// retry repeats a call librdkafka says may be repeated.
func (t *Producer) retry(ctx context.Context, call func() error) error {
	for {
		err := call()
		var ke kafka.Error
		if err == nil || !errors.As(err, &ke) || !(ke.IsRetriable() || ke.IsTimeout()) || ke.TxnRequiresAbort() || ctx.Err() != nil {
			return err
		}
		t.opt.Log.Debug("transactional call: retrying", "error", rdkafka.Scrub(t.cm, err.Error()))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Abort rolls back the open transaction.
func (t *Producer) Abort(ctx context.Context) error {
	if !t.open {
		return nil
	}
	err := t.retry(ctx, func() error { return t.p.AbortTransaction(ctx) })
	if err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.IsFatal() {
			if t.opt.FencedStops {
				t.open = false
				return fmt.Errorf("abort transaction: %w: %s", ErrFenced, rdkafka.Scrub(t.cm, err.Error()))
			}
			return t.reset(ctx, err)
		}
		return fmt.Errorf("abort transaction: %s", rdkafka.Scrub(t.cm, err.Error()))
	}
	t.open = false
	t.aborted()
	return nil
}

func (t *Producer) aborted() {
	if t.opt.Aborted != nil {
		t.opt.Aborted()
	}
}

// recover handles a failed transactional call: an abortable error aborts,
// a fatal one (fenced by a newer producer with the same id, say) replaces
// the producer. Either way the transaction is gone: ErrAborted.
func (t *Producer) recover(ctx context.Context, what string, err error) error {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch {
		case ke.IsFatal() && t.opt.FencedStops:
			t.open = false
			return fmt.Errorf("%s: %w: %s", what, ErrFenced, rdkafka.Scrub(t.cm, err.Error()))
		case ke.IsFatal():
			t.opt.Log.Warn(what+": producer failed; replacing it", "error", rdkafka.Scrub(t.cm, err.Error()))
			if err := t.reset(ctx, err); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", what, ErrAborted)
		case ke.TxnRequiresAbort():
			t.opt.Log.Warn(what+": aborting the transaction", "error", rdkafka.Scrub(t.cm, err.Error()))
			if err := t.Abort(ctx); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", what, ErrAborted)
		}
	}
	return fmt.Errorf("%s: %s", what, rdkafka.Scrub(t.cm, err.Error()))
}

// reset replaces a producer that hit a fatal error. Fenced over and over
// means another live process uses the same transactional id.
func (t *Producer) reset(ctx context.Context, cause error) error {
	now := time.Now()
	recent := t.resets[:0]
	for _, r := range t.resets {
		if now.Sub(r) < time.Minute {
			recent = append(recent, r)
		}
	}
	t.resets = append(recent, now)
	if len(t.resets) > 3 {
		return fmt.Errorf("transactional producer %s failed %d times in a minute, last: %s; if two runners share this id, give each its own --instance",
			t.ID(), len(t.resets), rdkafka.Scrub(t.cm, cause.Error()))
	}
	t.Close()
	if t.open {
		t.aborted() // lost with the producer
	}
	t.open = false
	return t.start(ctx)
}
