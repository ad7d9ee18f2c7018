package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
)

// producedSource is the at-least-once delivery of a source: records go out
// through the idempotent producer as they are transformed, and the cursor
// keeper stores a batch's cursor once every record of it and of every batch
// before it is delivered. A crash repeats at most the batches after the
// stored cursor.
type producedSource struct {
	*stage
	prod    *producer
	cursors *cursorKeeper // nil for sources without a cursor
	ba      *batchAck     // the batch being handed on

	// The saver stores cursors as they advance, until stopSaver closes.
	stopSaver, saverDone chan struct{}
	saveErr              error
}

// batchAck counts a batch's outstanding deliveries and tells the cursor
// keeper, and the source's ack, when none are left.
type batchAck struct {
	remaining atomic.Int64
	cursor    []byte
	keeper    *cursorKeeper
	ack       connectors.Ack
	finished  bool // guarded by keeper.mu
}

func (b *batchAck) delivered() {
	if b.remaining.Add(-1) != 0 {
		return
	}
	if b.keeper != nil {
		b.keeper.done(b)
	}
	b.ack(nil)
}

// failed is told that a message of the batch was not delivered: the stage
// stops, and the batch will never be whole.
func (b *batchAck) failed(err error) { b.ack(err) }

// newProducedSource returns the delivery over prod, storing cursors under
// cursorKey in cursorTopic ("": the source keeps none).
func newProducedSource(st *stage, prod *producer, cursorTopic, cursorKey string) *producedSource {
	d := &producedSource{stage: st, prod: prod, saverDone: make(chan struct{})}
	if cursorKey == "" {
		close(d.saverDone)
		return d
	}
	d.cursors = newCursorKeeper(cursorTopic, cursorKey, prod)
	d.stopSaver = make(chan struct{})
	go func() {
		defer close(d.saverDone)
		d.saveErr = d.cursors.run(context.Background(), d.stopSaver, 200*time.Millisecond)
	}()
	return d
}

func noCancel() {}

func (d *producedSource) begin(ctx context.Context, cursor []byte, ack connectors.Ack) (context.Context, context.CancelFunc) {
	cancel := context.CancelFunc(noCancel)
	if d.cursors != nil {
		// A stop signal does not cut a batch short: a half-produced
		// batch would be read and produced again after a restart, since
		// its cursor is never saved. It ends within the drain period.
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), d.drain)
	}
	d.ba = &batchAck{cursor: cursor, keeper: d.cursors, ack: ack}
	d.ba.remaining.Store(1) // released by end, after every produce call
	if d.cursors != nil {
		d.cursors.track(d.ba)
	}
	return ctx, cancel
}

func (d *producedSource) send(ctx context.Context, m *kafka.Message, orig *record.Record) error {
	d.ba.remaining.Add(1)
	if err := d.prod.produce(ctx, m, d.ba); err != nil {
		d.ba.remaining.Add(-1)
		return d.unsent(ctx, badRecord{rec: orig, step: "produce", err: err})
	}
	d.counters.Out.Add(1)
	return nil
}

func (d *producedSource) reject(ctx context.Context, b badRecord) error {
	ba := d.ba
	return d.stage.reject(ctx, b, d.prod, ba, func() { ba.remaining.Add(1) })
}

func (d *producedSource) unsent(ctx context.Context, b badRecord) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return d.reject(ctx, b)
}

func (d *producedSource) end(context.Context) error {
	d.ba.delivered()
	d.ba = nil
	select {
	case err := <-d.prod.failed:
		return err
	default:
		return nil
	}
}

func (d *producedSource) stop() error {
	drainCtx, cancel := context.WithTimeout(context.Background(), d.drain)
	defer cancel()
	// Let in-flight batches finish so the last cursor is saved, then flush.
	flushErr := d.prod.flush(drainCtx)
	if d.stopSaver != nil {
		close(d.stopSaver)
	}
	<-d.saverDone
	return errors.Join(flushErr, d.saveErr, d.prod.close(drainCtx))
}
