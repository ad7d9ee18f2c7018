package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/kafka/txn"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// txnSource is the exactly-once delivery of a source: each batch's
// records, dead letters and the cursor past them go to Kafka in one
// transaction, so a restart resumes exactly after the last committed
// batch.
type txnSource struct {
	*stage
	p                      *txn.Producer
	cursorTopic, cursorKey string

	cursor      []byte           // the batch's cursor; nil: none
	ack         connectors.Ack   // told once the batch is committed
	msgs        []*kafka.Message // the batch's outputs, dead letters and cursor
	origin      []*record.Record // origin[i] is the record msgs[i] is an output of; nil for dead letters and the cursor
	outputs     int64
	deadLetters int64
}

// add appends a message of the batch and the record it is an output of.
func (x *txnSource) add(m *kafka.Message, origin *record.Record) {
	x.msgs, x.origin = append(x.msgs, m), append(x.origin, origin)
}

// begin collects a batch: its messages are produced when it ends.
func (x *txnSource) begin(ctx context.Context, cursor []byte, ack connectors.Ack) (context.Context, context.CancelFunc) {
	x.msgs, x.origin, x.outputs, x.deadLetters = x.msgs[:0], x.origin[:0], 0, 0
	x.cursor, x.ack = cursor, ack
	return ctx, noCancel
}

func (x *txnSource) send(_ context.Context, m *kafka.Message, orig *record.Record) error {
	x.add(m, orig)
	x.outputs++
	return nil
}

func (x *txnSource) reject(_ context.Context, b badRecord) error { return x.bad(b) }

func (x *txnSource) unsent(_ context.Context, b badRecord) error { return x.bad(b) }

// end commits the batch with its cursor; an aborted transaction is tried
// again with the same messages.
func (x *txnSource) end(ctx context.Context) error {
	if x.cursor != nil {
		x.add(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &x.cursorTopic, Partition: kafka.PartitionAny},
			Key:            []byte(x.cursorKey), Value: x.cursor,
		}, nil)
	}
	if len(x.msgs) == 0 {
		x.ack(nil)
		return nil
	}
	// A stop signal must not cut a commit short: it ends within the drain
	// period either way.
	outer := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.drain)
	defer cancel()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := x.commit(ctx)
		since(x.counters.commit, start)
		if err == nil {
			x.counters.Out.Add(x.outputs)
			x.counters.DeadLettered.Add(x.deadLetters)
			x.ack(nil)
			return nil
		}
		if errors.Is(err, errTxnAborted) && outer.Err() != nil {
			// Stopping, or the lease moved to another process: nothing of
			// the batch was written, and its rows are read again.
			return outer.Err()
		}
		if !errors.Is(err, errTxnAborted) || attempt == 5 || ctx.Err() != nil {
			return err
		}
		x.log.Info("transaction aborted; writing the batch again", "attempt", attempt, "error", err)
	}
}

// stop abandons the batch in hand when the stage stopped: it is read again
// next time.
func (x *txnSource) stop() error {
	defer x.p.Close()
	if !x.p.Open() {
		return nil
	}
	actx, cancel := context.WithTimeout(context.Background(), x.drain)
	defer cancel()
	return x.p.Abort(actx)
}

// bad applies on_error; a dead letter joins the batch's transaction.
func (x *txnSource) bad(b badRecord) error {
	switch x.onError.Action {
	case pipeline.Drop:
		x.logDrop(b)
		return nil
	case pipeline.DeadLetter:
		x.add(x.deadLetter(b), nil)
		x.deadLetters++
		x.noteRejected(b, pipeline.DeadLetter)
		return nil
	default:
		return x.failure(b)
	}
}

// commit produces the batch in one transaction and commits it. An output
// Kafka refuses for good (a record too large, say) is taken out of the
// batch, which goes again: its record follows on_error.
func (x *txnSource) commit(ctx context.Context) error {
	for {
		if err := x.p.Begin(); err != nil {
			return err
		}
		i, err := x.produce(ctx)
		if err == nil {
			return x.p.Commit(ctx, nil, nil)
		}
		if abortErr := x.p.Abort(ctx); abortErr != nil {
			return errors.Join(err, abortErr)
		}
		if !errors.Is(err, errPermanent) || x.origin[i] == nil {
			return err
		}
		b := badRecord{rec: x.origin[i], step: "produce", err: err}
		x.msgs, x.origin = slices.Delete(x.msgs, i, i+1), slices.Delete(x.origin, i, i+1)
		x.outputs--
		if err := x.bad(b); err != nil {
			return err
		}
	}
}

// produce produces the batch's messages, and on an error says which.
func (x *txnSource) produce(ctx context.Context) (int, error) {
	for i, m := range x.msgs {
		if err := x.p.Produce(ctx, m); err != nil {
			return i, err
		}
	}
	return 0, nil
}
