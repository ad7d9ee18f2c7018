package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// sourceStage runs a Source: the one source loop, whatever the delivery.
type sourceStage struct {
	*stage
	src   connectors.Source
	to    string
	d     sourceDelivery
	lease *lease // set for a shared source
}

// sourceDelivery is how a source stage makes a batch and the cursor past it
// durable: the idempotent producer, with the cursor stored once the batch
// and every batch before it are delivered (at least once, producedSource),
// or one Kafka transaction per batch holding its records, dead letters and
// cursor (exactly once, txnSource). The source loop calls begin, then send,
// reject or unsent for each record, then end, on the goroutine the
// connector emits on; stop once, after the loop.
type sourceDelivery interface {
	// begin starts a batch whose cursor (nil: the source keeps none)
	// becomes durable with it, and returns the context its records are
	// handed on under, to cancel once the batch ends. ack is told when the
	// batch is durable, or that it may not be.
	begin(ctx context.Context, cursor []byte, ack connectors.Ack) (context.Context, context.CancelFunc)
	// send hands on one output of record orig. An error stops the stage.
	send(ctx context.Context, m *kafka.Message, orig *record.Record) error
	// reject applies on_error to a record the steps refused.
	reject(ctx context.Context, b badRecord) error
	// unsent applies on_error to an output that could not be encoded or
	// produced, unless the stage is stopping.
	unsent(ctx context.Context, b badRecord) error
	// end makes the batch durable, or hands it to what will, and reports
	// a failure found since the last batch. ctx is the stage's, not
	// begin's.
	end(ctx context.Context) error
	// stop finishes the delivery once the loop is over: at least once,
	// it waits within the drain period for what is in flight and saves
	// the last cursor; exactly once, it abandons a batch not committed.
	// Then it releases the producer.
	stop() error
}

func (s *sourceStage) run(ctx context.Context) error {
	w := s.chain.NewWorker()
	var outs []*record.Record
	emit := func(ctx context.Context, batch []*record.Record, cursor []byte) (err error) {
		// A batch that fails here is not durable; once its ack is told
		// so, a late delivery report cannot say otherwise.
		ack := connectors.AckOf(ctx)
		defer func() {
			if err != nil {
				ack(err)
			}
		}()
		// A paused source holds here, before its next batch.
		if err := s.pause.wait(ctx); err != nil {
			return err
		}
		defer since(s.counters.batch, time.Now())
		bctx, cancel := s.d.begin(ctx, cursor, ack)
		defer cancel()
		for _, r := range batch {
			var orig *record.Record
			var bad *badRecord
			if outs, orig, bad = s.steps(w, r, outs); bad != nil {
				if err := s.d.reject(bctx, *bad); err != nil {
					return err
				}
				continue
			}
			for _, o := range outs {
				m, err := s.toMessage(bctx, o, s.to)
				switch {
				case err != nil && stopped(err):
				case err != nil:
					err = s.d.unsent(bctx, badRecord{rec: orig, step: "encode", err: err})
				default:
					err = s.d.send(bctx, m, orig)
				}
				if err != nil {
					return err
				}
			}
		}
		return s.d.end(ctx)
	}
	err := s.src.Read(ctx, emit)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	if errors.Is(err, connectors.ErrStalePosition) {
		return fmt.Errorf("source %s: %w; to read it from the start, %s", s.name, err, s.resetHint())
	}
	if err != nil {
		return fmt.Errorf("source %s: %w", s.name, err)
	}
	return nil
}

// steps counts a source record in, decodes its bytes when the source read
// bytes (the stage's format decides how), and applies the steps. It returns
// the outputs and the record as read, for dead letters; a record that fails
// comes back as a badRecord.
func (s *sourceStage) steps(w *transforms.Worker, r *record.Record, outs []*record.Record) ([]*record.Record, *record.Record, *badRecord) {
	s.counters.In.Add(1)
	orig := s.original(r)
	if r.Err != nil {
		return outs[:0], orig, &badRecord{rec: orig, step: "read", err: r.Err}
	}
	if r.Value == nil && r.Raw != nil {
		v, err := s.rawFormat.Decode(r.Raw)
		if err != nil {
			return outs[:0], orig, &badRecord{rec: orig, step: "decode", err: err}
		}
		r.Value = v
	}
	outs, err := w.Apply(r, outs[:0])
	if err != nil {
		return outs, orig, &badRecord{rec: orig, step: stepName(err), err: err}
	}
	if len(outs) == 0 {
		s.counters.Filtered.Add(1)
	}
	return outs, orig, nil
}

// original keeps what a dead letter needs of a source record before the
// steps change it: a copy, with the value encoded when the source made a
// value rather than reading bytes. Without dead letters the record itself
// serves, and the hot path allocates nothing for it.
func (s *sourceStage) original(r *record.Record) *record.Record {
	if s.onError.Action != pipeline.DeadLetter {
		return r
	}
	c := copyRecord(r)
	if c.Raw == nil && r.Value != nil && r.Err == nil {
		c.Raw, _ = s.rawFormat.Encode(r.Value)
	}
	return c
}

type sourceRun struct {
	sourceStage
	txnCM       kafka.ConfigMap // set for exactly-once
	leaseCM     kafka.ConfigMap // set for a shared source: see lease
	newProducer func() (*producer, error)
	cursorTopic string
	cursorCM    kafka.ConfigMap // for reading the cursor topic
}

func (r *sourceRun) run(ctx context.Context) error {
	if r.leaseCM == nil {
		return r.runOwned(ctx)
	}
	l := newLease(r.leaseCM, r.cursorTopic, r.stage)
	if err := l.start(); err != nil {
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	defer l.close()
	r.lease = l
	for {
		r.counters.live.setStandby(true)
		owned, err := l.acquire(ctx)
		r.counters.live.setStandby(false)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("source %s: %w", r.name, err)
		}
		err = r.runOwned(owned)
		l.release()
		fenced := errors.Is(err, errFenced)
		if ctx.Err() != nil || (owned.Err() == nil && !fenced) {
			return err // stopped, finished or failed
		}
		// The lease moved on: what failed because of that (a fenced
		// transaction) is the new holder's to redo.
		r.log.Info("lost the source to another runner process; standing by", "stopped_with", err)
	}
}

// runOwned reads the source, as the only process doing so.
func (r *sourceRun) runOwned(ctx context.Context) error {
	key := ""
	res, resumes := r.src.(connectors.Resumer)
	if resumes {
		key = cursorKey(r.pipeline, r.name)
	}
	d, err := r.newDelivery(ctx, key)
	if err != nil {
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	r.d = d
	fail := func(err error) error {
		_ = d.stop()
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	if resumes {
		cursor, err := loadCursorRetrying(ctx, r.cursorCM, r.cursorTopic, key)
		if err != nil {
			return fail(err)
		}
		if err := res.Resume(cursor); err != nil {
			return fail(fmt.Errorf("resume from stored cursor %s: %w", cursor, err))
		}
		if cursor != nil {
			r.log.Info("resuming from stored cursor", "cursor", string(cursor), "topic", r.cursorTopic)
		}
	}
	if o, ok := r.src.(connectors.Opener); ok {
		if err := o.Open(ctx); err != nil {
			return fail(fmt.Errorf("open: %w", err))
		}
	}
	r.counters.markReady()
	runErr := r.sourceStage.run(ctx)
	closeErr := d.stop()
	if c, ok := r.src.(connectors.Closer); ok {
		closeErr = errors.Join(closeErr, c.Close())
	}
	if closeErr != nil {
		closeErr = fmt.Errorf("source %s: %w", r.name, closeErr)
	}
	if runErr == nil && closeErr == nil && ctx.Err() == nil {
		r.log.Info("source finished")
	}
	return errors.Join(runErr, closeErr)
}

// newDelivery makes the stage's delivery, keeping the source's cursor
// under cursorKey ("": the source keeps none). Exactly once, the cursor is
// read back from committed transactions only, and saved in the same
// transaction as the batch it follows.
func (r *sourceRun) newDelivery(ctx context.Context, cursorKey string) (sourceDelivery, error) {
	if r.txnCM != nil {
		// The producer before the cursor is read: registering the
		// transactional id aborts what a crashed predecessor left open,
		// which would otherwise hold the cursor topic's committed end back
		// until the transaction timeout.
		p, err := r.newTxnProducer(ctx, r.txnCM, r.lease != nil)
		if err != nil {
			return nil, err
		}
		return &txnSource{stage: r.stage, p: p, cursorTopic: r.cursorTopic, cursorKey: cursorKey}, nil
	}
	prod, err := r.newProducer()
	if err != nil {
		return nil, err
	}
	return newProducedSource(r.stage, prod, r.cursorTopic, cursorKey), nil
}
