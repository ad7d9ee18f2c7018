package engine

import (
	"context"
	"errors"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/config"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// txnSource is what an exactly-once source stage has instead of a plain
// producer: each batch's records, dead letters and the cursor past them go
// to Kafka in one transaction, so a restart resumes exactly after the last
// committed batch.
type txnSource struct {
	p                      *txnProducer
	cursorTopic, cursorKey string

	msgs        []*kafka.Message // the batch's messages, cursor last
	outputs     int64
	deadLetters int64
}

// emitTxn transforms a batch and commits it with its cursor; an aborted
// transaction is tried again with the same messages.
func (s *sourceStage) emitTxn(ctx context.Context, w *transforms.Worker, batch []*record.Record, cursor []byte) error {
	x := s.txn
	x.msgs, x.outputs, x.deadLetters = x.msgs[:0], 0, 0
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
			x.msgs = append(x.msgs, m)
			x.outputs++
		}
	}
	if cursor != nil {
		x.msgs = append(x.msgs, &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &x.cursorTopic, Partition: kafka.PartitionAny},
			Key:            []byte(x.cursorKey), Value: cursor,
		})
	}
	if len(x.msgs) == 0 {
		return nil
	}
	// A stop signal must not cut a commit short: it ends within the drain
	// period either way.
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
		if !errors.Is(err, errTxnAborted) || attempt == 5 || ctx.Err() != nil {
			return err
		}
		s.log.Info("transaction aborted; writing the batch again", "attempt", attempt, "error", err)
	}
}

// badTxn applies on_error; a dead letter joins the batch's transaction.
func (s *sourceStage) badTxn(b badRecord) error {
	switch s.onError.Action {
	case config.Drop:
		s.logDrop(b)
		return nil
	case config.DeadLetter:
		s.txn.msgs = append(s.txn.msgs, s.deadLetter(b))
		s.txn.deadLetters++
		return nil
	default:
		return s.failure(b)
	}
}

func (s *sourceStage) commitTxn(ctx context.Context) error {
	x := s.txn
	if err := x.p.begin(); err != nil {
		return err
	}
	for _, m := range x.msgs {
		if err := x.p.produce(ctx, m); err != nil {
			if abortErr := x.p.abort(ctx); abortErr != nil {
				return errors.Join(err, abortErr)
			}
			return err
		}
	}
	return x.p.commit(ctx, nil, nil)
}
