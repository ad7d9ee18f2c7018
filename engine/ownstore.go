package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/time/rate"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// ownStore is the exactly-once delivery of a sink that stores the consumer
// positions in the same database transaction as the records; on assignment
// the stage starts where that store says. Kafka's committed offsets follow
// along for lag monitoring only. Batches are written on the poll loop, so
// a rebalance never meets a half-written batch.
type ownStore struct {
	*stage
	group string
	sink  connectors.OffsetSink
	w     *transforms.Worker
	limit *rate.Limiter // the stage's rate cap; nil: none

	c     *kafka.Consumer
	admin *kafka.AdminClient // on c's connections: topic and cluster ids
	// stored is the position the sink's store holds for each assigned
	// partition (-1: none yet): the Prev of the next write.
	stored map[partitionKey]int64
	// seeked holds partitions moved back to the store's position and not
	// read since: their consumer position may still show where they were.
	seeked map[partitionKey]bool
	// ids are the identities of the assigned topics, stored with their
	// offsets.
	ids map[string]connectors.TopicID
	// unwritten is a batch read when the stage stopped, written by stop.
	unwritten []item
	outs      []*record.Record
	stopping  bool // the loop ended: the final write gets no retries
}

// ownStoreLoop makes the consumer loop of a sink with its own offset store.
func ownStoreLoop(r *ownStore, cm kafka.ConfigMap, from []string, maxBatch int, linger time.Duration) *consumer {
	return &consumer{stage: r.stage, cm: cm, topics: from, d: r, maxBatch: maxBatch, linger: linger, syncHandle: true, tickEvery: storeInterval}
}

func (r *ownStore) start(_ context.Context, c *kafka.Consumer) error {
	r.c = c
	admin, err := kafka.NewAdminClientFromConsumer(c)
	if err != nil {
		return fmt.Errorf("sink %s: admin client: %w", r.name, err)
	}
	r.admin = admin
	r.stored, r.seeked, r.ids = map[partitionKey]int64{}, map[partitionKey]bool{}, map[string]connectors.TopicID{}
	return nil
}

// close closes the admin client, before the consumer whose handle it uses.
func (r *ownStore) close() { r.admin.Close() }

// stop writes what was read, within the drain period; against a database
// that is down, it gives up at the first failure.
func (r *ownStore) stop(runErr error) error {
	r.stopping = true
	if runErr != nil || len(r.unwritten) == 0 {
		return runErr
	}
	dctx, cancel := context.WithTimeout(context.Background(), r.drain)
	defer cancel()
	runErr = r.flush(dctx, r.unwritten)
	r.unwritten = nil
	if errors.Is(runErr, errUnwritten) {
		r.log.Warn("stopped while the sink could not write; the records not written are read again on the next start", "problem", r.counters.health.Problem())
	}
	if errors.Is(runErr, context.DeadlineExceeded) || errors.Is(runErr, errUnwritten) {
		runErr = nil // not written, not stored: read again on the next start
	}
	return runErr
}

func (r *ownStore) err() error { return nil }

func (r *ownStore) busy() bool { return false }

func (r *ownStore) handle(ctx context.Context, batch []item) error {
	if r.limit != nil && r.limit.WaitN(ctx, len(batch)) != nil {
		r.unwritten = append(r.unwritten[:0], batch...)
		return errStopped // stop writes the batch within the drain period
	}
	if err := r.flush(ctx, batch); err != nil {
		if ctx.Err() != nil {
			return errStopped // the batch was not stored and is read again
		}
		return err
	}
	return nil
}

func (r *ownStore) tick(context.Context) error {
	r.stepOverGaps()
	return nil
}

// flush applies the steps to the batch and writes it with the positions
// past it, retrying transient failures.
func (r *ownStore) flush(ctx context.Context, batch []item) error {
	defer since(r.counters.batch, time.Now())
	recs := make([]*record.Record, 0, len(batch))
	offsets := map[partitionKey]*connectors.Offset{}
	var order []partitionKey
	for _, it := range batch {
		m := it.m
		k := partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}
		delete(r.seeked, k)
		o, ok := offsets[k]
		if !ok {
			o = &connectors.Offset{Group: r.group, Partition: connectors.Partition{Topic: k.topic, Partition: k.part}, ID: r.ids[k.topic], Prev: r.stored[k]}
			offsets[k] = o
			order = append(order, k)
		}
		o.Next = int64(m.TopicPartition.Offset) + 1
		r.counters.In.Add(1)
		rec, err := r.toRecord(ctx, m)
		if err != nil {
			if stopped(err) {
				return err
			}
			if err := r.reject(badRecord{rec: r.original(m), step: "decode", err: err}); err != nil {
				return err
			}
			continue
		}
		r.outs, err = r.w.Apply(rec, r.outs[:0])
		if err != nil {
			if err := r.reject(badRecord{rec: r.original(m), step: stepName(err), err: err}); err != nil {
				return err
			}
			continue
		}
		if len(r.outs) == 0 {
			r.counters.Filtered.Add(1)
		}
		recs = append(recs, r.outs...)
	}
	offs := make([]connectors.Offset, 0, len(order))
	for _, k := range order {
		offs = append(offs, *offsets[k])
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 10*time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		start := time.Now()
		err := r.sink.WriteWithOffsets(ctx, recs, offs)
		since(r.counters.commit, start)
		var re *connectors.RecordError
		switch {
		case err == nil:
			return struct{}{}, nil
		case errors.As(err, &re) && re.Index >= 0 && re.Index < len(recs):
			if err := r.reject(badRecord{rec: recs[re.Index], step: "write", err: re.Err}); err != nil {
				return struct{}{}, backoff.Permanent(err)
			}
			recs = append(recs[:re.Index], recs[re.Index+1:]...)
			b.Reset()
			return struct{}{}, errRetryNow
		case errors.Is(err, connectors.ErrOffsetConflict):
			return struct{}{}, backoff.Permanent(err)
		}
		r.counters.health.Down("writes fail and are retried: " + err.Error())
		if ok, held := r.dropLog.allow(); ok {
			r.log.Warn("write failed; retrying", "error", err, "records", len(recs), "failures_unlogged", held)
		}
		if r.stopping {
			return struct{}{}, backoff.Permanent(errUnwritten)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if errors.Is(err, connectors.ErrOffsetConflict) {
		// Another process wrote these partitions since: start over from
		// what the store holds now.
		r.log.Warn("stored offsets moved under this process; reading the partitions again from the store", "error", err)
		return r.reposition(ctx, order)
	}
	if err != nil {
		return fmt.Errorf("sink %s: %w", r.name, err)
	}
	kafkaOffs := make([]kafka.TopicPartition, 0, len(offs))
	for _, o := range offs {
		r.stored[partitionKey{o.Topic, o.Partition.Partition}] = o.Next
		kafkaOffs = append(kafkaOffs, kafka.TopicPartition{Topic: &o.Topic, Partition: o.Partition.Partition, Offset: kafka.Offset(o.Next)})
	}
	r.counters.health.Up()
	r.counters.Out.Add(int64(len(recs)))
	if _, err := r.c.StoreOffsets(kafkaOffs); err != nil {
		r.log.Debug("store offsets for lag monitoring", "error", err)
	}
	return nil
}

// stepOverGaps commits to Kafka, for monitoring, the position of each idle
// partition where it is past the stored offset: transaction markers take
// offsets but are never records, so the stored offset of a caught-up
// partition of a transactional topic stays short of its end. Kafka's
// committed offset then shows lag 0 as the sink's store, which needs no
// such step, is exact. Called between polls with no batch pending, so
// every record before the position is written.
func (r *ownStore) stepOverGaps() {
	parts := make([]kafka.TopicPartition, 0, len(r.stored))
	for k := range r.stored {
		if !r.seeked[k] {
			parts = append(parts, kafka.TopicPartition{Topic: &k.topic, Partition: k.part})
		}
	}
	if len(parts) == 0 {
		return
	}
	pos, err := r.c.Position(parts)
	if err != nil {
		return
	}
	var moved []kafka.TopicPartition
	for _, tp := range pos {
		if int64(tp.Offset) > r.stored[partitionKey{*tp.Topic, tp.Partition}] {
			moved = append(moved, tp)
		}
	}
	if len(moved) == 0 {
		return
	}
	if _, err := r.c.StoreOffsets(moved); err != nil {
		r.log.Debug("store offsets for lag monitoring", "error", err)
	}
}

// errRetryNow asks backoff for another attempt at once: a bad record was
// taken out of the batch.
var errRetryNow = errors.New("retry without the rejected record")

// reject applies on_error; runner check refuses dead letters here.
func (r *ownStore) reject(b badRecord) error {
	if r.onError.Action == pipeline.Drop {
		r.logDrop(b)
		return nil
	}
	return r.failure(b)
}

// reposition seeks partitions to the positions the store holds.
func (r *ownStore) reposition(ctx context.Context, keys []partitionKey) error {
	parts := make([]kafka.TopicPartition, 0, len(keys))
	for _, k := range keys {
		if _, assigned := r.stored[k]; assigned {
			parts = append(parts, kafka.TopicPartition{Topic: &k.topic, Partition: k.part})
		}
	}
	positioned, err := r.positions(ctx, parts)
	if err != nil {
		return err
	}
	for _, tp := range positioned {
		r.seeked[partitionKey{*tp.Topic, tp.Partition}] = true
		if err := r.c.Seek(tp, 0); err != nil {
			return fmt.Errorf("sink %s: seek %s: %w", r.name, formatPartitions([]kafka.TopicPartition{tp}), err)
		}
	}
	return nil
}

// positions reads the stored positions of parts and the identities of
// their topics, retrying while the database or the cluster is unreachable
// for up to the drain period, and notes the positions as the Prev of the
// next writes. Positions stored for another topic of the same name stop
// the stage (ErrStalePosition). Partitions without one start from the
// group's committed offset, or start: when there is none.
func (r *ownStore) positions(ctx context.Context, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	ps := make([]connectors.Partition, len(parts))
	var topics []string
	for i, tp := range parts {
		ps[i] = connectors.Partition{Topic: *tp.Topic, Partition: tp.Partition}
		if !slices.Contains(topics, *tp.Topic) {
			topics = append(topics, *tp.Topic)
		}
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 5*time.Second
	var ids map[string]connectors.TopicID
	stored, err := backoff.Retry(ctx, func() (map[connectors.Partition]connectors.StoredOffset, error) {
		stored, err := r.sink.StoredOffsets(ctx, r.group, ps)
		if err != nil {
			return nil, err
		}
		ids, err = topicIDs(ctx, r.admin, topics)
		return stored, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(r.drain))
	if err != nil {
		return nil, fmt.Errorf("sink %s: read stored offsets: %w", r.name, err)
	}
	if err := r.checkIdentity(ps, stored, ids); err != nil {
		return nil, err
	}
	maps.Copy(r.ids, ids)
	out := make([]kafka.TopicPartition, len(parts))
	var unbound []connectors.Offset
	for i, tp := range parts {
		k := partitionKey{*tp.Topic, tp.Partition}
		out[i] = tp
		if s, ok := stored[ps[i]]; ok {
			out[i].Offset = kafka.Offset(s.Next)
			r.stored[k] = s.Next
			if s.ID.IsZero() {
				unbound = append(unbound, connectors.Offset{Group: r.group, Partition: ps[i], ID: ids[ps[i].Topic], Prev: s.Next, Next: s.Next})
			}
		} else {
			out[i].Offset = kafka.OffsetStored
			r.stored[k] = -1
		}
	}
	r.bind(ctx, unbound)
	return out, nil
}

// checkIdentity refuses positions stored for another topic than the one
// of that name assigned now: it was deleted and created again, or the
// files point at another cluster (or a new embedded broker, whose topics
// are all new). Their offsets mean other records there.
func (r *ownStore) checkIdentity(parts []connectors.Partition, stored map[connectors.Partition]connectors.StoredOffset, ids map[string]connectors.TopicID) error {
	type mismatch struct {
		topic string
		was   connectors.TopicID
	}
	var order []mismatch
	partsOf := map[mismatch][]string{}
	for _, p := range parts {
		s, ok := stored[p]
		if !ok || s.ID.Matches(ids[p.Topic]) {
			continue
		}
		m := mismatch{p.Topic, s.ID}
		if _, seen := partsOf[m]; !seen {
			order = append(order, m)
		}
		partsOf[m] = append(partsOf[m], fmt.Sprint(p.Partition))
	}
	if len(order) == 0 {
		return nil
	}
	var what []string
	for _, m := range order {
		what = append(what, fmt.Sprintf("topic %s (partitions %s) stored for %s, but %s now is %s",
			m.topic, strings.Join(partsOf[m], ", "), m.was, m.topic, ids[m.topic]))
	}
	return fmt.Errorf("sink %s: %w: %s holds offsets of group %s for another topic than the one of that name now: %s. "+
		"The topic was deleted and created again, or this is another cluster or a new embedded broker: reading on from those offsets would skip or repeat records. "+
		"To read the topic from the group's committed offsets in Kafka (or from start, when it has none), %s",
		r.name, connectors.ErrStalePosition, r.sink.OffsetStore(), r.group, strings.Join(what, "; "), r.resetHint())
}

// bind stores the assigned topic's identity with positions stored without
// one (by a conveyor from before identities were kept): they are taken as
// that topic's. Should it fail, the next write binds them.
func (r *ownStore) bind(ctx context.Context, offs []connectors.Offset) {
	if len(offs) == 0 {
		return
	}
	var parts []string
	for _, o := range offs {
		parts = append(parts, fmt.Sprintf("%s[%d]@%d (%s)", o.Topic, o.Partition.Partition, o.Next, o.ID))
	}
	r.log.Info("stored offsets carry no topic identity (stored by an older conveyor): taking them as the assigned topic's and binding them to it",
		"store", r.sink.OffsetStore(), "group", r.group, "offsets", strings.Join(parts, ", "))
	if err := r.sink.WriteWithOffsets(ctx, nil, offs); err != nil {
		r.log.Warn("could not bind the stored offsets to their topic yet; the next write does", "error", err)
	}
}

// assigned starts each partition where the sink's store says.
func (r *ownStore) assigned(_ *kafka.Consumer, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.drain)
	defer cancel()
	return r.positions(ctx, parts)
}

// revoked drops the unwritten records of the batch (nothing of them is
// stored, so the next owner reads them).
func (r *ownStore) revoked(_ *kafka.Consumer, parts []kafka.TopicPartition, _, _ bool, _ []item) {
	for _, tp := range parts {
		delete(r.stored, partitionKey{*tp.Topic, tp.Partition})
		delete(r.seeked, partitionKey{*tp.Topic, tp.Partition})
	}
}
