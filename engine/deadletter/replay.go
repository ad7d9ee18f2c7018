package deadletter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/kafka/txn"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// ReplayOptions say what Replay re-publishes.
type ReplayOptions struct {
	From string // the dead-letter topic
	To   string // where its records go
	// Group is the consumer group whose committed offsets remember what was
	// replayed; it is also the producer's transactional id. Default:
	// DefaultGroup(From, To).
	Group string
	// Where, when set, is an expression over each dead letter; only those
	// for which it is true are re-published. The others are skipped for
	// good: their offsets are committed too.
	Where string
	// DryRun counts what would be replayed and skipped, and writes and
	// commits nothing.
	DryRun bool
	// BatchSize is the most records in one transaction (default 500).
	BatchSize int
	// BatchTime is the longest a transaction collects records (default 1s).
	BatchTime time.Duration
	// afterAssign lets a test write dead letters once the end offsets are
	// taken.
	afterAssign func()
}

// Counts are what a replay did.
type Counts struct {
	Read     int // dead letters read (up to the end offsets as of the start)
	Replayed int // re-published to the target topic (or, dry run, would be)
	Skipped  int // not matching --where; their offsets are committed all the same
}

// DefaultGroup is the consumer group of a replay from one topic to another.
func DefaultGroup(from, to string) string { return "conveyor-dlq-replay." + from + "." + to }

// CompileWhere compiles a --where expression; errors are *UsageError.
func CompileWhere(src string) (*expression.Filter, error) {
	f, err := expression.CompileFilter("--where", src)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return f, nil
}

// Replay re-publishes the dead letters of From to To, each once: a
// record's original key, value bytes and headers (without the
// conveyor.error.* ones, and with conveyor.replayed.from added) go to To
// in the same Kafka transaction that commits the group's offsets past it.
// Records that do not match Where are skipped and their offsets committed
// as well, so a later replay with the same group does not see them again.
//
// Replay reads up to the end offsets From had when it started and then
// returns. An error leaves every finished batch replayed and the rest
// untouched: running it again carries on where it stopped.
func Replay(ctx context.Context, o Options, r ReplayOptions) (Counts, error) {
	var counts Counts
	if r.From == "" || r.To == "" {
		return counts, &UsageError{Err: errors.New("replay needs --from and --to")}
	}
	if r.From == r.To {
		return counts, &UsageError{Err: fmt.Errorf("--from and --to are the same topic %s", r.From)}
	}
	if r.Group == "" {
		r.Group = DefaultGroup(r.From, r.To)
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 500
	}
	if r.BatchTime <= 0 {
		r.BatchTime = time.Second
	}
	rp := &replay{opt: o, r: r, log: o.log().With("from", r.From, "to", r.To, "group", r.Group)}
	if r.Where != "" {
		where, err := CompileWhere(r.Where)
		if err != nil {
			return counts, err
		}
		rp.where = where
	}
	err := rp.run(ctx)
	return rp.counts, err
}

type replay struct {
	opt   Options
	r     ReplayOptions
	log   *slog.Logger
	where *expression.Filter

	c      *client
	p      *txn.Producer
	counts Counts

	end       map[int32]int64 // end offsets as of the start
	committed map[int32]int64 // the group's offsets, as this replay moved them
	pending   map[int32]bool  // partitions not yet read to their end
}

func (rp *replay) run(ctx context.Context) error {
	c, err := newConsumer(rp.opt, rp.r.Group)
	if err != nil {
		return err
	}
	rp.c = c
	defer c.close()
	bs, err := c.partitions(rp.r.From)
	if err != nil {
		return err
	}
	if _, err := c.partitions(rp.r.To); err != nil {
		return err
	}
	if !rp.r.DryRun {
		// Registering the transactional id fences an earlier replay of the
		// same group that may still run, and settles its last transaction,
		// before the committed offsets are read below.
		p, err := newTxnProducer(ctx, rp.opt, rp.r.Group)
		if err != nil {
			return err
		}
		rp.p = p
		defer p.Close()
	}
	if err := rp.assign(bs); err != nil {
		return err
	}
	if rp.r.afterAssign != nil {
		rp.r.afterAssign()
	}
	for len(rp.pending) > 0 {
		batch, err := rp.collect(ctx)
		if err != nil {
			return err
		}
		if err := rp.handle(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// assign starts each partition at the group's committed offset (the
// beginning when it has none) and notes the end offsets as of now.
func (rp *replay) assign(bs []bounds) error {
	topic := rp.r.From
	tps := make([]kafka.TopicPartition, 0, len(bs))
	for _, b := range bs {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: b.partition})
	}
	got, err := rp.c.c.Committed(tps, rp.opt.timeoutMs())
	if isGroupNotFound(err) {
		got, err = nil, nil // a new group: nothing committed yet
	}
	if err != nil {
		return fmt.Errorf("group %s: committed offsets of %s: %s", rp.r.Group, topic, rp.c.scrub(err))
	}
	committed := map[int32]kafka.Offset{}
	for _, tp := range got {
		if isGroupNotFound(tp.Error) {
			continue
		}
		if tp.Error != nil {
			return fmt.Errorf("group %s: committed offset of %s[%d]: %s", rp.r.Group, topic, tp.Partition, rp.c.scrub(tp.Error))
		}
		committed[tp.Partition] = tp.Offset
	}
	rp.end, rp.committed, rp.pending = map[int32]int64{}, map[int32]int64{}, map[int32]bool{}
	var assign []kafka.TopicPartition
	for _, b := range bs {
		start, from := b.low, kafka.OffsetBeginning
		if off, ok := committed[b.partition]; ok && off >= 0 {
			start, from = int64(off), off
		}
		rp.end[b.partition], rp.committed[b.partition] = b.end, start
		if start >= b.end {
			continue
		}
		rp.pending[b.partition] = true
		assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: b.partition, Offset: from})
	}
	rp.log.Debug("replay starts", "assigned", fmt.Sprint(assign), "end", fmt.Sprint(rp.end))
	if len(assign) == 0 {
		return nil
	}
	if err := rp.c.c.Assign(assign); err != nil {
		return fmt.Errorf("assign %s: %s", topic, rp.c.scrub(err))
	}
	return nil
}

// isGroupNotFound tells a group that never committed, which some brokers
// report as an error rather than with no offsets.
func isGroupNotFound(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Code() == kafka.ErrGroupIDNotFound
}

// collect polls until it has a batch, the batch time is up, or every
// partition has reached its end.
func (rp *replay) collect(ctx context.Context) ([]*kafka.Message, error) {
	var batch []*kafka.Message
	deadline := time.Now().Add(rp.r.BatchTime)
	for len(batch) < rp.r.BatchSize && time.Now().Before(deadline) {
		m, err := rp.c.poll(ctx, 100)
		if err != nil {
			return nil, err
		}
		if m == nil {
			if len(batch) > 0 || rp.reachedEnd() {
				break
			}
			continue
		}
		p := m.TopicPartition.Partition
		if int64(m.TopicPartition.Offset) >= rp.end[p] {
			// Written after the replay started: left for the next one.
			if err := rp.c.c.Pause([]kafka.TopicPartition{m.TopicPartition}); err != nil {
				return nil, fmt.Errorf("pause %s[%d]: %s", rp.r.From, p, rp.c.scrub(err))
			}
			continue
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// reachedEnd reports whether the consumer's position is at the end of every
// pending partition.
func (rp *replay) reachedEnd() bool {
	for p := range rp.pending {
		if rp.c.position(rp.r.From, p) < rp.end[p] {
			return false
		}
	}
	return true
}

// handle replays a batch: produces the matching records and commits them
// with the offsets past the whole batch in one transaction.
func (rp *replay) handle(ctx context.Context, batch []*kafka.Message) error {
	var counts Counts
	var out []*kafka.Message
	for _, m := range batch {
		l := rp.opt.letter(ctx, m)
		counts.Read++
		ok, err := rp.match(&l)
		if err != nil {
			return err
		}
		if !ok {
			counts.Skipped++
			continue
		}
		counts.Replayed++
		out = append(out, rp.message(&l))
	}
	offsets := rp.offsets()
	if rp.r.DryRun {
		rp.add(counts)
		for _, tp := range offsets {
			rp.advance(tp.Partition, int64(tp.Offset))
		}
		return nil
	}
	if len(out) == 0 && len(offsets) == 0 {
		rp.add(counts)
		return nil
	}
	if err := rp.transact(ctx, out, offsets); err != nil {
		return err
	}
	rp.add(counts)
	for _, tp := range offsets {
		rp.advance(tp.Partition, int64(tp.Offset))
	}
	rp.log.Debug("replay batch committed", "read", counts.Read, "replayed", counts.Replayed, "skipped", counts.Skipped, "offsets", fmt.Sprint(offsets))
	return nil
}

func (rp *replay) add(c Counts) {
	rp.counts.Read += c.Read
	rp.counts.Replayed += c.Replayed
	rp.counts.Skipped += c.Skipped
}

// advance notes the group's new offset of partition p; a partition at its
// end is done.
func (rp *replay) advance(p int32, off int64) {
	rp.committed[p] = off
	if off >= rp.end[p] {
		delete(rp.pending, p)
	}
}

// offsets are the positions to commit: everything polled so far, and
// transaction markers skipped, never past the end as of the start.
func (rp *replay) offsets() []kafka.TopicPartition {
	var out []kafka.TopicPartition
	topic := rp.r.From
	for p := range rp.pending {
		pos := rp.c.position(topic, p)
		if pos < 0 {
			continue
		}
		pos = min(pos, rp.end[p])
		if pos > rp.committed[p] {
			out = append(out, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(pos)})
		}
	}
	return out
}

// match evaluates --where against a dead letter.
func (rp *replay) match(l *Letter) (bool, error) {
	if rp.where == nil {
		return true, nil
	}
	ok, err := rp.where.Match(l.Record())
	if err != nil {
		return false, fmt.Errorf("--where at %s: %w", l.Where(), err)
	}
	return ok, nil
}

// message is the record to re-publish: the original key, value and
// headers, and where it was replayed from.
func (rp *replay) message(l *Letter) *kafka.Message {
	to := rp.r.To
	m := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &to, Partition: kafka.PartitionAny},
		Key:            l.Key,
		Value:          l.Value,
	}
	for _, h := range l.Original() {
		if h.Key == HeaderReplayedFrom {
			continue // from an earlier replay of the same record
		}
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	m.Headers = append(m.Headers, kafka.Header{Key: HeaderReplayedFrom, Value: []byte(l.Where())})
	return m
}

// newTxnProducer starts the replay's transactional producer. A fatal
// error stops the replay rather than fence whoever took the group over.
func newTxnProducer(ctx context.Context, o Options, id string) (*txn.Producer, error) {
	cm := rdkafka.Build(rdkafka.Producer, o.Brokers, o.Config, nil, map[string]string{
		"transactional.id":       id,
		"transaction.timeout.ms": "60000",
		"go.delivery.reports":    "false", // a commit reports any failed delivery
		"statistics.interval.ms": "0",     // nothing here reads statistics
	})
	o.log().Debug("producer config", "config", rdkafka.Redacted(cm))
	return txn.New(ctx, cm, txn.Options{Log: o.log(), FencedStops: true})
}

// transact produces msgs and commits them with offsets for c's group in
// one transaction. On failure the transaction is aborted: nothing of it is
// visible and no offset moved.
func (rp *replay) transact(ctx context.Context, msgs []*kafka.Message, offsets []kafka.TopicPartition) error {
	err := rp.fill(ctx, msgs)
	if err == nil {
		var meta *kafka.ConsumerGroupMetadata
		if len(offsets) > 0 {
			if meta, err = rp.c.c.GetConsumerGroupMetadata(); err != nil {
				err = fmt.Errorf("consumer group metadata: %s", rp.c.scrub(err))
			}
		}
		if err == nil {
			err = rp.p.Commit(ctx, offsets, meta)
		}
	}
	if err == nil {
		return nil
	}
	actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if aerr := rp.p.Abort(actx); aerr != nil {
		rp.log.Warn("abort transaction", "error", aerr)
	}
	return fmt.Errorf("%w (this batch was rolled back; batches before it stay replayed: run replay again to carry on)", err)
}

func (rp *replay) fill(ctx context.Context, msgs []*kafka.Message) error {
	if err := rp.p.Begin(); err != nil {
		return err
	}
	for _, m := range msgs {
		if err := rp.p.Produce(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
