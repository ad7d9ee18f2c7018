package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/txn"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// txnSource is what an exactly-once source stage has instead of a plain
// producer: each batch's records, dead letters and the cursor past them go
// to Kafka in one transaction, so a restart resumes exactly after the last
// committed batch.
type txnSource struct {
	p                      *txn.Producer
	cursorTopic, cursorKey string

	msgs        []*kafka.Message // the batch's outputs, dead letters and cursor
	origin      []*record.Record // origin[i] is the record msgs[i] is an output of; nil for dead letters and the cursor
	outputs     int64
	deadLetters int64
}

// add appends a message of the batch and the record it is an output of.
func (x *txnSource) add(m *kafka.Message, origin *record.Record) {
	x.msgs, x.origin = append(x.msgs, m), append(x.origin, origin)
}

// emitTxn transforms a batch and commits it with its cursor; an aborted
// transaction is tried again with the same messages.
func (s *sourceStage) emitTxn(ctx context.Context, w *transforms.Worker, batch []*record.Record, cursor []byte) error {
	x := s.txn
	x.msgs, x.origin, x.outputs, x.deadLetters = x.msgs[:0], x.origin[:0], 0, 0
	var outs []*record.Record
	for _, r := range batch {
		var orig *record.Record
		var bad *badRecord
		if outs, orig, bad = s.steps(w, r, outs); bad != nil {
			if err := s.badTxn(*bad); err != nil {
				return err
			}
			continue
		}
		for _, o := range outs {
			m, err := s.toMessage(o, s.to)
			if err != nil {
				if err := s.badTxn(badRecord{rec: orig, step: "encode", err: err}); err != nil {
					return err
				}
				continue
			}
			x.add(m, orig)
			x.outputs++
		}
	}
	if cursor != nil {
		x.add(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &x.cursorTopic, Partition: kafka.PartitionAny},
			Key:            []byte(x.cursorKey), Value: cursor,
		}, nil)
	}
	if len(x.msgs) == 0 {
		return nil
	}
	// A stop signal must not cut a commit short: it ends within the drain
	// period either way.
	outer := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.drain)
	defer cancel()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := s.commitTxn(ctx)
		since(s.counters.commit, start)
		if err == nil {
			s.counters.Out.Add(x.outputs)
			s.counters.DeadLettered.Add(x.deadLetters)
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
		s.log.Info("transaction aborted; writing the batch again", "attempt", attempt, "error", err)
	}
}

// badTxn applies on_error; a dead letter joins the batch's transaction.
func (s *sourceStage) badTxn(b badRecord) error {
	switch s.onError.Action {
	case pipeline.Drop:
		s.logDrop(b)
		return nil
	case pipeline.DeadLetter:
		s.txn.add(s.deadLetter(b), nil)
		s.txn.deadLetters++
		return nil
	default:
		return s.failure(b)
	}
}

// commitTxn produces the batch in one transaction and commits it. An
// output Kafka refuses for good (a record too large, say) is taken out of
// the batch, which goes again: its record follows on_error.
func (s *sourceStage) commitTxn(ctx context.Context) error {
	x := s.txn
	for {
		if err := x.p.Begin(); err != nil {
			return err
		}
		i, err := s.produceTxn(ctx)
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
		if err := s.badTxn(b); err != nil {
			return err
		}
	}
}

// produceTxn produces the batch's messages, and on an error says which.
func (s *sourceStage) produceTxn(ctx context.Context) (int, error) {
	for i, m := range s.txn.msgs {
		if err := s.txn.p.Produce(ctx, m); err != nil {
			return i, err
		}
	}
	return 0, nil
}
