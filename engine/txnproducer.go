package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// txnProducer is a transactional producer: what it produces between begin
// and commit becomes visible to read_committed consumers all at once, with
// the consumer offsets sent along, or not at all.
type txnProducer struct {
	cm  kafka.ConfigMap
	log *slog.Logger
	st  *stage // for statistics and transaction counts
	p   *kafka.Producer
	// events is closed when the producer's event channel is.
	events chan struct{}
	open   bool
	// resets counts producers recreated after fatal errors, recently: two
	// processes sharing a transactional id fence each other for ever.
	resets []time.Time
	// fencedStops: a fatal error is not repaired with a new producer but
	// returned as errFenced. For a shared source, whose transactional id
	// is the stage's: a new producer would fence the process that took the
	// source over.
	fencedStops bool
}

// errFenced says another process registered this producer's
// transactional id: it took over the stage.
var errFenced = errors.New("fenced: another process took over this stage")

// errTxnAborted says the open transaction was rolled back (or lost with a
// recreated producer); nothing of it is visible. The caller rewinds to
// where the transaction began and carries on.
var errTxnAborted = errors.New("transaction aborted")

func newTxnProducer(ctx context.Context, cm kafka.ConfigMap, log *slog.Logger, st *stage) (*txnProducer, error) {
	t := &txnProducer{cm: cm, log: log, st: st}
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *txnProducer) id() string {
	return rdkafka.String(t.cm, "transactional.id")
}

// start creates the producer and registers its transactional id, which
// fences a predecessor with the same id and aborts its open transaction.
func (t *txnProducer) start(ctx context.Context) error {
	p, err := kafka.NewProducer(&t.cm)
	if err != nil {
		return fmt.Errorf("create transactional producer: %s", rdkafka.Scrub(t.cm, err.Error()))
	}
	t.p, t.events = p, make(chan struct{})
	go rdkafka.Logs(p.Logs(), t.cm, t.log)
	go func() { // delivery reports are off; errors still come here
		defer close(t.events)
		for ev := range p.Events() {
			switch e := ev.(type) {
			case kafka.Error:
				t.log.Warn("kafka producer", "error", rdkafka.Scrub(t.cm, e.Error()))
			case *kafka.Stats:
				t.st.stats.handle("producer", e)
			}
		}
	}()
	for {
		err = p.InitTransactions(ctx)
		var ke kafka.Error
		if err == nil || !errors.As(err, &ke) || !(ke.IsRetriable() || ke.IsTimeout()) || ctx.Err() != nil {
			break
		}
		t.log.Info("init transactions: retrying", "error", rdkafka.Scrub(t.cm, err.Error()))
	}
	if err != nil {
		t.close()
		return fmt.Errorf("init transactions for id %s: %s", t.id(), rdkafka.Scrub(t.cm, err.Error()))
	}
	return nil
}

func (t *txnProducer) close() {
	t.p.Close()
	<-t.events
}

// begin opens a transaction unless one is open.
func (t *txnProducer) begin() error {
	if t.open {
		return nil
	}
	if err := t.p.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %s", rdkafka.Scrub(t.cm, err.Error()))
	}
	t.open = true
	return nil
}

// produce adds m to the open transaction, waiting while the queue is full.
// An error librdkafka raises at once (a message too large) wraps
// errPermanent: on_error applies to the record. One that says the
// transaction itself failed wraps errTxnAborted: the caller aborts it.
func (t *txnProducer) produce(ctx context.Context, m *kafka.Message) error {
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
			// The transaction failed underneath (a produce request of it
			// failed: sequence numbers skipped after an abort purged the
			// queue, say): no record is at fault; the transaction must be
			// aborted and done again.
			return fmt.Errorf("produce to %s: %w: %s", topicOf(m), errTxnAborted, rdkafka.Scrub(t.cm, err.Error()))
		}
		return fmt.Errorf("produce to %s: %w: %s", topicOf(m), errPermanent, rdkafka.Scrub(t.cm, err.Error()))
	}
}

// commit sends offsets (when there are any) with the consumer's group
// metadata and commits. It returns errTxnAborted when the transaction had
// to be rolled back; any other error stops the stage.
func (t *txnProducer) commit(ctx context.Context, offsets []kafka.TopicPartition, meta *kafka.ConsumerGroupMetadata) error {
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
	t.st.counters.TxnCommits.Add(1)
	return nil
}

// retry repeats a call librdkafka says may be repeated.
func (t *txnProducer) retry(ctx context.Context, call func() error) error {
	for {
		err := call()
		var ke kafka.Error
		if err == nil || !errors.As(err, &ke) || !ke.IsRetriable() || ke.TxnRequiresAbort() || ctx.Err() != nil {
			return err
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// abort rolls back the open transaction.
func (t *txnProducer) abort(ctx context.Context) error {
	if !t.open {
		return nil
	}
	err := t.retry(ctx, func() error { return t.p.AbortTransaction(ctx) })
	if err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.IsFatal() {
			if t.fencedStops {
				t.open = false
				return fmt.Errorf("abort transaction: %w: %s", errFenced, rdkafka.Scrub(t.cm, err.Error()))
			}
			return t.reset(ctx, err)
		}
		return fmt.Errorf("abort transaction: %s", rdkafka.Scrub(t.cm, err.Error()))
	}
	t.open = false
	t.st.counters.TxnAborts.Add(1)
	return nil
}

// recover handles a failed transactional call: an abortable error aborts,
// a fatal one (fenced by a newer producer with the same id, say) replaces
// the producer. Either way the transaction is gone: errTxnAborted.
func (t *txnProducer) recover(ctx context.Context, what string, err error) error {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch {
		case ke.IsFatal() && t.fencedStops:
			t.open = false
			return fmt.Errorf("%s: %w: %s", what, errFenced, rdkafka.Scrub(t.cm, err.Error()))
		case ke.IsFatal():
			t.log.Warn(what+": producer failed; replacing it", "error", rdkafka.Scrub(t.cm, err.Error()))
			if err := t.reset(ctx, err); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", what, errTxnAborted)
		case ke.TxnRequiresAbort():
			t.log.Warn(what+": aborting the transaction", "error", rdkafka.Scrub(t.cm, err.Error()))
			if err := t.abort(ctx); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", what, errTxnAborted)
		}
	}
	return fmt.Errorf("%s: %s", what, rdkafka.Scrub(t.cm, err.Error()))
}

// reset replaces a producer that hit a fatal error. Fenced over and over
// means another live process uses the same transactional id.
func (t *txnProducer) reset(ctx context.Context, cause error) error {
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
			t.id(), len(t.resets), rdkafka.Scrub(t.cm, cause.Error()))
	}
	t.close()
	if t.open {
		t.st.counters.TxnAborts.Add(1) // lost with the producer
	}
	t.open = false
	return t.start(ctx)
}
