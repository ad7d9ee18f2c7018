package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// sourceStage runs a Source as a producer loop.
type sourceStage struct {
	*stage
	src     connectors.Source
	to      string
	prod    *producer
	cursors *cursorKeeper // nil for sources without a cursor
	txn     *txnSource    // set, instead of prod, for exactly-once
	lease   *lease        // set for a shared source
}

// batchAck counts a batch's outstanding deliveries and tells the cursor
// keeper when none are left.
type batchAck struct {
	remaining atomic.Int64
	cursor    []byte
	keeper    *cursorKeeper
	finished  bool // guarded by keeper.mu
}

func (b *batchAck) delivered() {
	if b.remaining.Add(-1) == 0 && b.keeper != nil {
		b.keeper.done(b)
	}
}

func (s *sourceStage) run(ctx context.Context) error {
	w := s.chain.NewWorker()
	var outs []*record.Record
	emit := func(ctx context.Context, batch []*record.Record, cursor []byte) error {
		defer since(s.counters.batch, time.Now())
		if s.txn != nil {
			return s.emitTxn(ctx, w, batch, cursor)
		}
		if s.cursors != nil {
			// A stop signal does not cut a batch short: a half-produced
			// batch would be read and produced again after a restart, since
			// its cursor is never saved. It ends within the drain period.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.drain)
			defer cancel()
		}
		ba := &batchAck{cursor: cursor, keeper: s.cursors}
		ba.remaining.Store(1) // released below, after every produce call
		if s.cursors != nil {
			s.cursors.track(ba)
		}
		for _, r := range batch {
			var orig *record.Record
			var bad *badRecord
			if outs, orig, bad = s.steps(w, r, outs); bad != nil {
				if err := s.bad(ctx, *bad, ba); err != nil {
					return err
				}
				continue
			}
			for _, o := range outs {
				step := "encode"
				m, err := s.toMessage(o, s.to)
				if err == nil {
					step = "produce"
					ba.remaining.Add(1)
					if err = s.prod.produce(ctx, m, ba); err != nil {
						ba.remaining.Add(-1)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if err := s.bad(ctx, badRecord{rec: orig, step: step, err: err}, ba); err != nil {
						return err
					}
					continue
				}
				s.counters.Out.Add(1)
			}
		}
		ba.delivered()
		select {
		case err := <-s.prod.failed:
			return err
		default:
			return nil
		}
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
		v, err := s.format.Decode(r.Raw)
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
		c.Raw, _ = s.format.Encode(r.Value)
	}
	return c
}

func (s *sourceStage) bad(ctx context.Context, b badRecord, ba *batchAck) error {
	return s.reject(ctx, b, s.prod, ba, func() { ba.remaining.Add(1) })
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
		owned, err := l.acquire(ctx)
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
	if r.txnCM != nil {
		return r.runTxn(ctx)
	}
	prod, err := r.newProducer()
	if err != nil {
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	r.prod = prod
	fail := func(err error) error {
		_ = prod.close(context.Background())
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	if res, ok := r.src.(connectors.Resumer); ok {
		key := cursorKey(r.pipeline, r.name)
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
		r.cursors = newCursorKeeper(r.cursorTopic, key, prod)
	}
	if o, ok := r.src.(connectors.Opener); ok {
		if err := o.Open(ctx); err != nil {
			return fail(fmt.Errorf("open: %w", err))
		}
	}
	r.counters.markReady()
	var saveErr error
	stopSaver, saverDone := make(chan struct{}), make(chan struct{})
	if r.cursors != nil {
		go func() {
			defer close(saverDone)
			saveErr = r.cursors.run(context.Background(), stopSaver, 200*time.Millisecond)
		}()
	} else {
		close(saverDone)
	}
	runErr := r.sourceStage.run(ctx)
	drainCtx, cancel := context.WithTimeout(context.Background(), r.drain)
	defer cancel()
	// Let in-flight batches finish so the last cursor is saved, then flush.
	flushErr := prod.flush(drainCtx)
	close(stopSaver)
	<-saverDone
	closeErr := errors.Join(flushErr, saveErr, prod.close(drainCtx))
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

// runTxn runs an exactly-once source: its cursor is read back from
// committed transactions only, and saved in the same transaction as the
// batch it follows.
func (r *sourceRun) runTxn(ctx context.Context) error {
	// The producer first: registering the transactional id aborts what a
	// crashed predecessor left open, which would otherwise hold the cursor
	// topic's committed end back until the transaction timeout.
	p, err := r.newTxnProducer(ctx, r.txnCM, r.lease != nil)
	if err != nil {
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	defer p.Close()
	key := cursorKey(r.pipeline, r.name)
	cursor, err := loadCursorRetrying(ctx, r.cursorCM, r.cursorTopic, key)
	if err != nil {
		return fmt.Errorf("source %s: %w", r.name, err)
	}
	if err := r.src.(connectors.Resumer).Resume(cursor); err != nil {
		return fmt.Errorf("source %s: resume from stored cursor %s: %w", r.name, cursor, err)
	}
	if cursor != nil {
		r.log.Info("resuming from stored cursor", "cursor", string(cursor), "topic", r.cursorTopic)
	}
	r.txn = &txnSource{p: p, cursorTopic: r.cursorTopic, cursorKey: key}
	var closeErr error
	if o, ok := r.src.(connectors.Opener); ok {
		if err := o.Open(ctx); err != nil {
			return fmt.Errorf("source %s: open: %w", r.name, err)
		}
	}
	r.counters.markReady()
	runErr := r.sourceStage.run(ctx)
	if p.Open() { // the batch in hand when the stage stopped: read again next time
		actx, cancel := context.WithTimeout(context.Background(), r.drain)
		closeErr = p.Abort(actx)
		cancel()
	}
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
