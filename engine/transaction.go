package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/time/rate"

	"github.com/conveyor-dev/conveyor/kafka/txn"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// txnTransform is the exactly-once delivery of a transform: each
// transaction holds the outputs and dead letters of the records read since
// the last one, and the consumer offsets past them, so a crash or a revoke
// leaves either all of it or none. Records are handled on the poll loop as
// they are polled, so a rebalance callback never meets a half-done record.
type txnTransform struct {
	*stage
	producerCM kafka.ConfigMap
	to         string
	interval   time.Duration
	maxRecords int
	limit      *rate.Limiter // the stage's rate cap; nil: none

	c    *kafka.Consumer
	p    *txn.Producer
	w    *transforms.Worker
	outs []*record.Record

	// The open transaction: when it began, records read, and per partition
	// the first offset read (where to rewind on abort) and the next one.
	began time.Time
	n     int
	first map[partitionKey]kafka.Offset
	next  map[partitionKey]kafka.Offset
	// aborts counts transactions aborted in a row at the same place: a
	// record that makes every commit fail stops the stage rather than loop.
	aborts    int
	abortedAt string
	closing   bool
	// committed is the offset this process last committed per partition.
	committed map[partitionKey]kafka.Offset
	// seeked holds partitions moved back by a seek and not read from since:
	// their position may still show where they were before.
	seeked map[partitionKey]bool
	// state is set for a stage with stateful steps.
	state *txnState
}

// exactlyOnce makes the consumer loop of an exactly-once transform.
// Tables of stateful steps are read in the same group so that partition N
// of every topic goes to the same process (range assignment).
func exactlyOnce(x *txnTransform, cm kafka.ConfigMap, from []string) *consumer {
	topics := from
	if x.state != nil {
		topics = append(slices.Clone(from), x.state.plan.Topics()...)
	}
	return &consumer{stage: x.stage, cm: cm, topics: topics, d: x, maxBatch: 1, syncHandle: true}
}

func (x *txnTransform) start(ctx context.Context, c *kafka.Consumer) error {
	x.c = c
	p, err := x.newTxnProducer(ctx, x.producerCM, false)
	if err != nil {
		return fmt.Errorf("%s %s: %w", x.kind, x.name, err)
	}
	x.p = p
	x.first, x.next, x.committed = map[partitionKey]kafka.Offset{}, map[partitionKey]kafka.Offset{}, map[partitionKey]kafka.Offset{}
	x.seeked = map[partitionKey]bool{}
	if x.state != nil {
		if err := x.state.prepare(ctx, x.kind, x.name); err != nil {
			p.Close()
			return err
		}
	}
	return nil
}

func (x *txnTransform) close() { x.p.Close() }

// stop commits what was handled, within the drain period, unless the stage
// failed or a record was cut short: then the open transaction is rolled
// back and read again on the next start.
func (x *txnTransform) stop(runErr error) error {
	x.closing = true
	dctx, cancel := context.WithTimeout(context.Background(), x.drain)
	defer cancel()
	interrupted := errors.Is(runErr, errInterrupted)
	if interrupted {
		runErr = nil
	}
	if runErr == nil && !interrupted {
		runErr = x.commit(dctx)
		if errors.Is(runErr, errTxnAborted) {
			runErr = nil // read again on the next start
		}
	} else if err := x.p.Abort(dctx); err != nil {
		x.log.Warn("abort transaction", "error", err)
	}
	return runErr
}

// errInterrupted says the stage stopped in the middle of a record (its
// outputs were not all produced), so the open transaction must not commit:
// the position has moved past a record whose effect is incomplete.
var errInterrupted = errors.New("stopped in the middle of a record")

func (x *txnTransform) err() error { return nil }

func (x *txnTransform) busy() bool { return x.p.Open() }

// handle handles each record in the open transaction as it is polled.
func (x *txnTransform) handle(ctx context.Context, batch []item) error {
	for _, it := range batch {
		if x.limit != nil && x.limit.Wait(ctx) != nil {
			return errInterrupted // stopping before this record
		}
		if err := x.handleOne(ctx, it.m); err != nil {
			if !errors.Is(err, errTxnAborted) {
				return err
			}
			if err := x.abortAndRewind(err); err != nil {
				return err
			}
		}
	}
	return nil
}

// tick commits the open transaction when it is due.
func (x *txnTransform) tick(ctx context.Context) error {
	if !x.p.Open() && time.Since(x.began) >= x.interval {
		// Idle: a transaction marker read since the last commit moves
		// the position; commit it so the group shows no lag.
		if err := x.catchUp(); err != nil {
			return err
		}
		x.began = time.Now()
	}
	if x.p.Open() && (x.n >= x.maxRecords || time.Since(x.began) >= x.interval) {
		// A stop signal must not cut a commit short: it ends within the
		// drain period either way.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.drain)
		err := x.commit(cctx)
		cancel()
		if err != nil && !errors.Is(err, errTxnAborted) {
			return err
		}
	}
	return nil
}

// handleOne transforms one record inside the open transaction.
func (x *txnTransform) handleOne(ctx context.Context, m *kafka.Message) error {
	if !x.p.Open() {
		if err := x.p.Begin(); err != nil {
			return fmt.Errorf("%s %s: %w", x.kind, x.name, err)
		}
		x.began = time.Now()
	}
	k := partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}
	if _, ok := x.first[k]; !ok {
		x.first[k] = m.TopicPartition.Offset
	}
	x.next[k] = m.TopicPartition.Offset + 1
	delete(x.seeked, k)
	x.n++
	x.counters.In.Add(1)
	if x.state != nil {
		return x.handleStateful(ctx, m)
	}

	rec, err := x.toRecord(ctx, m)
	if err != nil {
		if stopped(err) {
			return err
		}
		return x.bad(ctx, m, "decode", err)
	}
	x.outs, err = x.w.Apply(rec, x.outs[:0])
	if err != nil {
		return x.bad(ctx, m, stepName(err), err)
	}
	if len(x.outs) == 0 {
		x.counters.Filtered.Add(1)
	}
	return x.emit(ctx, m, x.outs)
}

// bad applies on_error inside the transaction: a dead letter commits with
// the offsets, so each bad record has exactly one.
func (x *txnTransform) bad(ctx context.Context, m *kafka.Message, step string, err error) error {
	b := badRecord{rec: x.original(m), step: step, err: err}
	switch x.onError.Action {
	case pipeline.Drop:
		x.logDrop(b)
		return nil
	case pipeline.DeadLetter:
		if err := x.p.Produce(ctx, x.deadLetter(b)); err != nil {
			return fmt.Errorf("%s %s: dead letter to %s: %w", x.kind, x.name, x.onError.DeadLetter, err)
		}
		x.counters.DeadLettered.Add(1)
		x.noteRejected(b, pipeline.DeadLetter)
		return nil
	default:
		return x.failure(b)
	}
}

// commit ends the open transaction with the offsets past every record
// handled in it. On errTxnAborted the consumer is back where the
// transaction began.
func (x *txnTransform) commit(ctx context.Context) error {
	if !x.p.Open() {
		return nil
	}
	offsets := make([]kafka.TopicPartition, 0, len(x.next))
	for k, off := range x.next {
		offsets = append(offsets, kafka.TopicPartition{Topic: &k.topic, Partition: k.part, Offset: off})
	}
	// Every record before the position was handled (records are handled
	// as they are polled); the position also steps over transaction
	// markers, so a caught-up stage commits the partition's end.
	if pos, err := x.c.Position(offsets); err == nil {
		for i, tp := range pos {
			if tp.Offset > offsets[i].Offset && !x.seeked[partitionKey{*tp.Topic, tp.Partition}] {
				offsets[i].Offset = tp.Offset
			}
		}
	}
	meta, err := x.c.GetConsumerGroupMetadata()
	if err != nil {
		return fmt.Errorf("%s %s: group metadata: %w", x.kind, x.name, err)
	}
	commitStart := time.Now()
	err = x.p.Commit(ctx, offsets, meta)
	since(x.counters.commit, commitStart)
	if x.n > 0 {
		since(x.counters.batch, x.began)
	}
	if err == nil {
		x.aborts = 0
		x.forget()
		for _, tp := range offsets {
			x.committed[partitionKey{*tp.Topic, tp.Partition}] = tp.Offset
		}
		return nil
	}
	if !errors.Is(err, errTxnAborted) {
		return fmt.Errorf("%s %s: %w", x.kind, x.name, err)
	}
	if rerr := x.rewind(err); rerr != nil {
		return rerr
	}
	return err
}

// catchUp commits, in an otherwise empty transaction, the positions of
// partitions that moved past their last commit without records.
func (x *txnTransform) catchUp() error {
	if len(x.committed) == 0 {
		return nil
	}
	parts := make([]kafka.TopicPartition, 0, len(x.committed))
	for k := range x.committed {
		parts = append(parts, kafka.TopicPartition{Topic: &k.topic, Partition: k.part})
	}
	pos, err := x.c.Position(parts)
	if err != nil {
		return nil
	}
	moved := false
	for _, tp := range pos {
		k := partitionKey{*tp.Topic, tp.Partition}
		if tp.Offset > x.committed[k] && !x.seeked[k] {
			x.next[k], moved = tp.Offset, true
		}
	}
	if !moved {
		return nil
	}
	if err := x.p.Begin(); err != nil {
		return fmt.Errorf("%s %s: %w", x.kind, x.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), x.drain)
	defer cancel()
	if err := x.commit(ctx); err != nil && !errors.Is(err, errTxnAborted) {
		return err
	}
	return nil
}

// abortAndRewind aborts the open transaction, which failed while records
// were produced into it, and reads its records again.
func (x *txnTransform) abortAndRewind(cause error) error {
	x.log.Info("transaction failed; aborting it", "error", cause)
	ctx, cancel := context.WithTimeout(context.Background(), x.drain)
	defer cancel()
	if err := x.p.Abort(ctx); err != nil {
		return fmt.Errorf("%s %s: %w", x.kind, x.name, err)
	}
	return x.rewind(cause)
}

// rewind seeks each partition of an aborted transaction back to its first
// record, so the next transaction reads them again.
func (x *txnTransform) rewind(cause error) error {
	where := formatOffsets(x.first)
	if where == x.abortedAt {
		x.aborts++
	} else {
		x.aborts, x.abortedAt = 1, where
	}
	if x.aborts >= 5 {
		return fmt.Errorf("%s %s: transactions from %s aborted %d times in a row: %w", x.kind, x.name, where, x.aborts, cause)
	}
	if !x.closing && x.state != nil {
		// The state took in the aborted records: rebuild it as committed.
		if err := x.reposition(); err != nil {
			return fmt.Errorf("%s %s: after an aborted transaction: %w", x.kind, x.name, err)
		}
	} else if !x.closing {
		for k, off := range x.first {
			t := k.topic
			x.seeked[k] = true
			if err := x.c.Seek(kafka.TopicPartition{Topic: &t, Partition: k.part, Offset: off}, 0); err != nil {
				x.log.Debug("seek after abort", "partition", k, "error", err)
			}
		}
	}
	x.log.Info("transaction aborted; reading its records again", "from", where)
	x.forget()
	return nil
}

func (x *txnTransform) forget() {
	clear(x.first)
	clear(x.next)
	x.n = 0
}

func (x *txnTransform) assigned(c *kafka.Consumer, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	if x.state == nil {
		return parts, nil
	}
	parts, err := x.restore(c, parts)
	if err != nil {
		return nil, fmt.Errorf("%s %s: restore state: %w", x.kind, x.name, err)
	}
	return parts, nil
}

// revoked aborts the open transaction: the partitions' next owner reads
// from the committed offsets, which the abort leaves where they were.
func (x *txnTransform) revoked(_ *kafka.Consumer, parts []kafka.TopicPartition, _, _ bool, _ []item) {
	if x.p.Open() {
		ctx, cancel := context.WithTimeout(context.Background(), x.drain)
		err := x.p.Abort(ctx)
		cancel()
		if err != nil {
			x.log.Warn("abort transaction on revoke", "error", err)
		}
		x.forget()
	}
	for _, tp := range parts {
		delete(x.committed, partitionKey{*tp.Topic, tp.Partition})
		delete(x.seeked, partitionKey{*tp.Topic, tp.Partition})
		if x.state != nil {
			x.state.run.Release(tp.Partition) // released; the next owner restores it
		}
	}
}

func formatOffsets(m map[partitionKey]kafka.Offset) string {
	parts := make([]string, 0, len(m))
	for k, off := range m {
		parts = append(parts, fmt.Sprintf("%s[%d]@%d", k.topic, k.part, off))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// reposition rebuilds the state of every assigned partition that the
// aborted transaction touched, and seeks each topic of them back to where
// the rebuilt state ends.
func (x *txnTransform) reposition() error {
	touched := map[int32]bool{}
	for k := range x.first {
		touched[k.part] = true
	}
	assigned, err := x.c.Assignment()
	if err != nil {
		return err
	}
	var parts []kafka.TopicPartition
	for _, tp := range assigned {
		if touched[tp.Partition] {
			parts = append(parts, tp)
		}
	}
	positioned, err := x.restore(x.c, parts)
	if err != nil {
		return err
	}
	for _, tp := range positioned {
		if tp.Offset < 0 {
			// Nothing committed yet: back to the aborted transaction's
			// first record (or leave a partition it did not touch).
			first, ok := x.first[partitionKey{*tp.Topic, tp.Partition}]
			if !ok {
				continue
			}
			tp.Offset = first
		}
		x.seeked[partitionKey{*tp.Topic, tp.Partition}] = true
		if err := x.c.Seek(tp, 0); err != nil {
			return fmt.Errorf("seek %s: %w", formatPartitions([]kafka.TopicPartition{tp}), err)
		}
	}
	return nil
}
