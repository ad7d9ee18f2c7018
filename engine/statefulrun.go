package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/kafka/topic"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/aggregate"
	"github.com/conveyor-dev/conveyor/transforms/stateful"
)

// txnState is what a transform with stateful steps adds to the
// exactly-once loop: the steps and their state, where the state is kept in
// Kafka, and how to read it back.
type txnState struct {
	plan      *stateful.Plan
	run       *stateful.Runner
	changelog string          // "" without an aggregate
	readCM    kafka.ConfigMap // for restore readers
	adminCM   kafka.ConfigMap
	from      []string
}

// changelogTopic is where a stage's aggregate state is kept: compacted, one
// partition per input partition.
func changelogTopic(pipeline, stage string) string {
	return pipeline + "-" + stage + "-changelog"
}

// prepare checks that every topic the stage reads has the same partition
// count (partition N of each must hold the same keys) and creates the
// changelog topic with that count.
func (s *txnState) prepare(ctx context.Context, kind, name string) error {
	admin, err := kafka.NewAdminClient(&s.adminCM)
	if err != nil {
		return fmt.Errorf("%s %s: admin client: %s", kind, name, rdkafka.Scrub(s.adminCM, err.Error()))
	}
	defer admin.Close()
	counts := map[string]int{}
	all := append(slices.Clone(s.from), s.plan.Topics()...)
	for _, t := range all {
		md, err := admin.GetMetadata(&t, false, 10000)
		if err != nil {
			return fmt.Errorf("%s %s: metadata of %s: %w", kind, name, t, err)
		}
		tm, ok := md.Topics[t]
		if !ok || tm.Error.Code() != kafka.ErrNoError || len(tm.Partitions) == 0 {
			return fmt.Errorf("%s %s: topic %s does not exist: declare it under topics: or create it", kind, name, t)
		}
		counts[t] = len(tm.Partitions)
	}
	for _, t := range all[1:] {
		if counts[t] != counts[all[0]] {
			return fmt.Errorf("%s %s: %s has %d partitions and %s has %d: a stateful stage needs its topics co-partitioned (same count, same keys)", kind, name, all[0], counts[all[0]], t, counts[t])
		}
	}
	if s.changelog == "" {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	mismatches, err := topic.Ensure(cctx, admin, []topic.Spec{{
		Name: s.changelog, Partitions: counts[all[0]], ReplicationFactor: -1,
		Config: map[string]string{"cleanup.policy": "compact"},
	}})
	if err != nil {
		return fmt.Errorf("%s %s: changelog topic: %s", kind, name, rdkafka.Scrub(s.adminCM, err.Error()))
	}
	if len(mismatches) > 0 {
		return fmt.Errorf("%s %s: changelog %s", kind, name, mismatches[0])
	}
	return nil
}

// restore rebuilds the state of the partitions in parts and returns them
// positioned where the main consumer must go on: input partitions at their
// committed offsets (the changelog holds the state up to there), join
// tables at their end (read whole here first), join_table inputs at their
// committed offsets (both tables read up to there).
func (x *txnTransform) restore(c *kafka.Consumer, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	s := x.state
	started := time.Now()
	committed, err := c.Committed(parts, 30000)
	if err != nil {
		return nil, fmt.Errorf("read committed offsets: %w", err)
	}
	for _, tp := range parts {
		s.run.Release(tp.Partition)
	}
	out := slices.Clone(committed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	restored := 0
	done := map[int32]bool{}
	for i, tp := range committed {
		t, p := *tp.Topic, tp.Partition
		ps := s.run.Partition(p)
		with, joinsTables := s.plan.JoinsTables()
		switch {
		case s.plan.IsTable(t):
			end, err := readPartition(ctx, s.readCM, t, p, kafka.OffsetBeginning, -1, func(m *kafka.Message) error {
				k, v, err := x.decodeRow(ctx, m)
				if err != nil {
					if stopped(err) {
						return err
					}
					return x.badRow(m, tp.Offset, err)
				}
				ps.ApplyTableRow(t, k, v)
				return nil
			})
			if err != nil {
				return nil, err
			}
			out[i].Offset = kafka.Offset(end)
		case joinsTables:
			if tp.Offset < 0 {
				break // nothing committed: the whole table is read as new
			}
			fromWith := t == with
			_, err := readPartition(ctx, s.readCM, t, p, kafka.OffsetBeginning, int64(tp.Offset), func(m *kafka.Message) error {
				rec, err := x.toRecord(ctx, m)
				if err != nil {
					if stopped(err) {
						return err
					}
					return x.badRow(m, tp.Offset, err)
				}
				s.run.JoinTables(ps, rec, fromWith)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		if ps.Changelogged() && !done[p] && !s.plan.IsTable(t) {
			done[p] = true
			_, err := readPartition(ctx, s.readCM, s.changelog, p, kafka.OffsetBeginning, -1, func(m *kafka.Message) error {
				restored++
				return ps.Restore(m.Key, m.Value)
			})
			if err != nil {
				return nil, fmt.Errorf("restore from %s[%d]: %w", s.changelog, p, err)
			}
		}
	}
	x.log.Info("state restored", "partitions", formatPartitions(parts), "changelog_entries", restored, "took", time.Since(started).Round(time.Millisecond))
	return out, nil
}

// badRow is what restore does with a table row that does not decode: the
// stage stops under on_error: fail, as it does when it meets the row while
// running; otherwise the row stays out of the table. Rows before the
// partition's committed offset went through on_error when the stage read
// them; later ones (written while no process ran the stage) are counted
// and logged as dropped, as a restore cannot dead-letter them once.
func (x *txnTransform) badRow(m *kafka.Message, committed kafka.Offset, err error) error {
	b := badRecord{rec: x.original(m), step: "decode", err: err}
	if x.onError.Action == pipeline.Fail {
		return fmt.Errorf("table %s: %w", b.where(), err)
	}
	if committed < 0 || m.TopicPartition.Offset >= committed {
		x.logDrop(b)
	}
	return nil
}

// handleStateful runs one record through the stateful plan inside the
// open transaction: table rows update the tables, other records go
// through the steps, and the aggregate's changelog entries join the
// transaction.
func (x *txnTransform) handleStateful(ctx context.Context, m *kafka.Message) error {
	s := x.state
	t, p := *m.TopicPartition.Topic, m.TopicPartition.Partition
	ps := s.run.Partition(p)
	if s.plan.IsTable(t) {
		k, v, err := x.decodeRow(ctx, m)
		if err != nil {
			if stopped(err) {
				return err
			}
			return x.bad(ctx, m, "decode", err)
		}
		ps.ApplyTableRow(t, k, v)
		return nil
	}
	rec, err := x.toRecord(ctx, m)
	if err != nil {
		if stopped(err) {
			return err
		}
		return x.bad(ctx, m, "decode", err)
	}
	if with, ok := s.plan.JoinsTables(); ok {
		rec = s.run.JoinTables(ps, rec, t == with)
		if rec.Value == nil {
			// The key has no joined row (any more): its deletion goes
			// straight out; the steps are for rows.
			return x.emit(ctx, m, []*record.Record{rec})
		}
	}
	outs, changes, err := s.run.Run(ps, rec)
	for _, ch := range changes {
		cm := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &s.changelog, Partition: p}, Key: ch.Key, Value: ch.Value}
		if err := x.p.Produce(ctx, cm); err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return fmt.Errorf("%s %s: write changelog %s: %w", x.kind, x.name, s.changelog, err)
		}
	}
	if errors.Is(err, aggregate.ErrLate) && x.onError.Action != pipeline.DeadLetter {
		// Late for a closed window: expected in streams, never fatal.
		x.logDrop(badRecord{rec: x.original(m), step: stepName(err), err: err})
		return nil
	}
	if err != nil {
		return x.bad(ctx, m, stepName(err), err)
	}
	if len(outs) == 0 {
		x.counters.Filtered.Add(1)
	}
	return x.emit(ctx, m, outs)
}

// emit produces the outputs of input m in the open transaction.
func (x *txnTransform) emit(ctx context.Context, m *kafka.Message, outs []*record.Record) error {
	for _, o := range outs {
		out, err := x.toMessage(ctx, o, x.to)
		if err == nil {
			err = x.p.Produce(ctx, out)
		}
		if err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			if errors.Is(err, errTxnAborted) || stopped(err) {
				return err // the transaction or the codec, not the record, failed
			}
			if err := x.bad(ctx, m, "encode or produce", err); err != nil {
				return err
			}
			continue
		}
		x.counters.Out.Add(1)
	}
	return nil
}

// readPartition reads topic[p] from from up to until (-1: its end now),
// committed records only, calling fn for each, and returns the offset it
// stopped at.
func readPartition(ctx context.Context, cm kafka.ConfigMap, t string, p int32, from kafka.Offset, until int64, fn func(*kafka.Message) error) (int64, error) {
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return 0, fmt.Errorf("restore reader: %s", rdkafka.Scrub(cm, err.Error()))
	}
	defer c.Close()
	// A changelog created a moment ago may have no leader yet.
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 2*time.Second
	bounds, err := backoff.Retry(ctx, func() ([2]int64, error) {
		low, high, err := c.QueryWatermarkOffsets(t, p, 10000)
		if err != nil && !settling(err) {
			return [2]int64{}, backoff.Permanent(err)
		}
		return [2]int64{low, high}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(time.Minute))
	if err != nil {
		return 0, fmt.Errorf("offsets of %s[%d]: %w", t, p, err)
	}
	low, high := bounds[0], bounds[1]
	if until < 0 || until > high {
		until = high
	}
	if until <= low {
		return until, nil
	}
	parts := []kafka.TopicPartition{{Topic: &t, Partition: p, Offset: from}}
	if err := rdkafka.ReadTo(ctx, c, parts, map[int32]int64{p: until}, fn); err != nil {
		return 0, err
	}
	return until, nil
}
