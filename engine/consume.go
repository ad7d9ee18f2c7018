package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/conveyor-dev/conveyor/kafka/membership"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// item is one consumed message and its place in the offset tracker.
type item struct {
	m *kafka.Message
	e *entry
}

// processor is what a consuming stage does with each batch.
type processor interface {
	process(ctx context.Context, batch []item) error
	// finish makes every output of processed batches durable.
	finish(ctx context.Context) error
	// err reports an asynchronous failure (a failed delivery), without waiting.
	err() error
}

// consumeLoop reads topics in a consumer group and feeds batches to a
// processor, storing offsets only as the tracker confirms records durable.
type consumeLoop struct {
	*stage
	cm       kafka.ConfigMap
	topics   []string
	proc     processor
	tr       *tracker
	maxBatch int
	linger   time.Duration
	limit    *rate.Limiter // nil: no cap

	c       *kafka.Consumer
	batches chan []item
	batch   []item // read but not yet handed to the processor
	closing bool
	errLog  rateLimited
	watch   *groupWatch
}

const (
	defaultMaxBatch = 500
	defaultLinger   = 5 * time.Millisecond
	storeInterval   = 200 * time.Millisecond
)

// newConsumeLoop sets batching from the stage's rate cap.
func newConsumeLoop(st *stage, cm kafka.ConfigMap, c *pipeline.Consumer, proc processor, tr *tracker) *consumeLoop {
	l := &consumeLoop{stage: st, cm: cm, topics: c.From, proc: proc, tr: tr, linger: defaultLinger}
	l.limit, l.maxBatch = rateCap(c.Rate, defaultMaxBatch)
	return l
}

// rateCap returns the limiter of a stage's `rate:` (nil without one) and
// the batch size to use: a capped stage takes batches of about a tenth of a
// second's worth, so the cap holds smoothly.
func rateCap(r pipeline.Rate, batch int) (*rate.Limiter, int) {
	if r <= 0 {
		return nil, batch
	}
	batch = max(1, min(batch, int(float64(r)/10)))
	return rate.NewLimiter(rate.Limit(r), batch), batch
}

func (l *consumeLoop) run(ctx context.Context) error {
	c, w, err := l.openConsumer(l.cm)
	if err != nil {
		return err
	}
	l.c, l.watch = c, w
	stopWatch, err := w.subscribe(l.topics, l.rebalance)
	if err != nil {
		c.Close()
		return err
	}
	l.batches = make(chan []item, 2)

	// Processing outlives ctx by up to the drain period so a shutdown
	// finishes what was read; after that, unfinished records are abandoned
	// uncommitted and the next run reads them again.
	procCtx, cancelProc := context.WithCancel(context.Background())
	defer cancelProc()
	stopDrainTimer := context.AfterFunc(ctx, func() {
		time.AfterFunc(l.drain, cancelProc)
	})
	defer stopDrainTimer()

	g, gctx := errgroup.WithContext(procCtx)
	g.Go(func() error {
		for b := range l.batches {
			if l.limit != nil {
				if err := l.limit.WaitN(gctx, len(b)); err != nil {
					return err
				}
			}
			start := time.Now()
			if err := l.proc.process(gctx, b); err != nil {
				return err
			}
			since(l.counters.batch, start)
		}
		return nil
	})
	pollErr := l.poll(ctx, gctx)
	l.closing = true
	close(l.batches)
	procErr := g.Wait()
	switch {
	case errors.Is(procErr, context.Canceled) && ctx.Err() != nil:
		procErr = fmt.Errorf("%s %s: drain did not finish within %s; unfinished records will be read again", l.kind, l.name, l.drain)
	case errors.Is(procErr, errUnwritten):
		l.log.Warn("stopped while the sink could not write; the records not written are read again on the next start", "problem", l.counters.health.Problem())
		procErr = nil
	}
	finErr := l.proc.finish(procCtx)
	commitErr := l.commit()
	stopWatch()
	closeConsumer(c, l.cm, l.log, pollErr)
	return errors.Join(pollErr, procErr, finErr, commitErr)
}

// poll reads until ctx is done or processing failed.
func (l *consumeLoop) poll(ctx, gctx context.Context) error {
	lastStore := time.Now()
	var batchStart time.Time
	for ctx.Err() == nil && gctx.Err() == nil {
		if err := l.proc.err(); err != nil {
			return err
		}
		if err := l.watch.failed(); err != nil {
			return err
		}
		timeout := 100
		if len(l.batch) > 0 {
			timeout = 1
		}
		switch e := l.c.Poll(timeout).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				l.warn("consume", e.TopicPartition.Error)
				break
			}
			if len(l.batch) == 0 {
				batchStart = time.Now()
			}
			l.batch = append(l.batch, item{m: e, e: l.tr.add(*e.TopicPartition.Topic, e.TopicPartition.Partition, int64(e.TopicPartition.Offset))})
		case kafka.Error:
			if e.IsFatal() {
				return l.fatal(l.cm, e)
			}
			l.warn("consumer", e)
		case *kafka.Stats:
			l.stats.handle("consumer", e)
		}
		if len(l.batch) > 0 && (len(l.batch) >= l.maxBatch || time.Since(batchStart) >= l.linger) {
			if !l.send(ctx, gctx) {
				return nil
			}
		}
		if time.Since(lastStore) >= storeInterval {
			l.stepOverGaps()
			l.store()
			lastStore = time.Now()
		}
	}
	return nil
}

func (l *consumeLoop) warn(what string, err error) {
	if ok, held := l.errLog.allow(); ok {
		l.log.Warn(what, "error", rdkafka.Scrub(l.cm, err.Error()), "repeats_unlogged", held)
	}
}

// send hands the pending batch to the processor; false when stopping.
func (l *consumeLoop) send(ctx, gctx context.Context) bool {
	select {
	case l.batches <- l.batch:
		l.batch = nil
		return true
	case <-ctx.Done():
	case <-gctx.Done():
	}
	return false
}

// stepOverGaps moves idle partitions past offsets that hold no record
// (transaction markers, compacted gaps), to the consumer's position. Only
// the poll loop may call it, between polls: the position then counts only
// records this loop was handed and tracked. Close, and librdkafka's
// rebalance handling inside it, poll and throw away prefetched records,
// which moves the position past records never processed; a commit from the
// position there lost every such record.
func (l *consumeLoop) stepOverGaps() {
	if parts, err := l.c.Assignment(); err == nil && len(parts) > 0 {
		if pos, err := l.c.Position(parts); err == nil {
			l.tr.skipTo(pos)
		}
	}
}

// store hands the offsets the tracker confirmed to librdkafka, which commits
// them in the background (auto commit of stored offsets only).
func (l *consumeLoop) store() {
	offs := l.tr.commitable()
	if len(offs) == 0 {
		return
	}
	if _, err := l.c.StoreOffsets(offs); err != nil {
		// A partition revoked a moment ago refuses its offset; its new
		// owner starts from the last commit, so nothing is lost.
		l.log.Debug("store offsets", "error", err)
	}
}

// commit stores and synchronously commits confirmed offsets.
func (l *consumeLoop) commit() error {
	defer since(l.counters.commit, time.Now())
	l.store()
	if _, err := l.c.Commit(); err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrNoOffset {
			return nil
		}
		return fmt.Errorf("%s %s: commit offsets: %w", l.kind, l.name, err)
	}
	return nil
}

// rebalance runs inside Poll. On revoke it finishes in-flight records of the
// revoked partitions (up to the drain period), commits what is durable and
// lets the partitions go; records still unfinished are read again by the new
// owner.
func (l *consumeLoop) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	l.watch.rebalanced(ev)
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if l.closing {
			return refuseWhileClosing(c, l.log, e.Partitions)
		}
		l.log.Info("partitions assigned", "partitions", formatPartitions(e.Partitions))
		l.counters.markReady()
		l.tr.release(e.Partitions)
		return c.Assign(l.resumePositions(c, e.Partitions))
	case kafka.RevokedPartitions:
		lost := c.AssignmentLost()
		l.log.Info("partitions revoked", "partitions", formatPartitions(e.Partitions), "lost", lost)
		if !lost && !l.closing {
			deadline := time.Now().Add(l.drain)
			if len(l.batch) > 0 {
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				l.send(ctx, ctx)
				cancel()
			}
			for l.tr.pending(e.Partitions) > 0 && time.Now().Before(deadline) && l.proc.err() == nil {
				time.Sleep(2 * time.Millisecond)
			}
		}
		if !lost {
			if err := l.commit(); err != nil {
				l.log.Warn("commit on revoke", "error", err)
			}
		}
		l.batch = nil
		l.tr.release(e.Partitions)
		return c.Unassign()
	}
	return nil
}

// resumePositions starts a partition this process had before at the later
// of the group's commit and what the process itself knows is durable. After
// a lost assignment (a coordinator failover, say) the last commits may have
// failed; every record before the remembered offset had its effect made
// durable, so starting there loses nothing and repeats less.
func (l *consumeLoop) resumePositions(c *kafka.Consumer, parts []kafka.TopicPartition) []kafka.TopicPartition {
	mem := l.tr.resume(parts)
	if len(mem) == 0 {
		return parts
	}
	committed, err := c.Committed(parts, 10000)
	if err != nil {
		l.log.Debug("read committed offsets on assignment", "error", err)
		return parts
	}
	out := append([]kafka.TopicPartition(nil), parts...)
	for i, tp := range committed {
		off, ok := mem[partitionKey{*tp.Topic, tp.Partition}]
		if ok && off > int64(tp.Offset) {
			out[i].Offset = kafka.Offset(off)
			l.log.Info("resuming past the committed offset: records up to here were already durable", "partition", formatPartitions(out[i:i+1]), "committed", int64(tp.Offset), "offset", off)
		}
	}
	return out
}

// errConsumerFailed marks a fatal consumer error: the consumer can neither
// commit nor close any more.
var errConsumerFailed = errors.New("consumer failed")

// closeTimeout bounds a consumer's Close.
const closeTimeout = 30 * time.Second

// refuseWhileClosing answers an assignment that arrives while the consumer
// closes. A static member does not leave its group when it closes, so a
// rebalance under way can still hand it partitions; taking them would keep
// librdkafka's close waiting for ever for a revoke that never comes.
func refuseWhileClosing(c *kafka.Consumer, log *slog.Logger, parts []kafka.TopicPartition) error {
	log.Debug("partitions assigned while closing: refused", "partitions", formatPartitions(parts))
	return c.Unassign()
}

// fatal describes a fatal consumer error; a fenced static member means
// another live process uses this process's instance name.
func (s *stage) fatal(cm kafka.ConfigMap, e kafka.Error) error {
	if e.Code() == kafka.ErrFencedInstanceID {
		return fmt.Errorf("%s %s: %w: another process joined the consumer group as the same member %s: give each runner of these pipelines its own --instance (CONVEYOR_INSTANCE)", s.kind, s.name, errConsumerFailed, rdkafka.String(cm, "group.instance.id"))
	}
	return fmt.Errorf("%s %s: %w: %s", s.kind, s.name, errConsumerFailed, rdkafka.Scrub(cm, e.Error()))
}

// closeConsumer closes c and, when it is a static member, removes it from
// its group: librdkafka never sends LeaveGroup for a static member (KIP-345),
// and a clean stop should hand its partitions to the other members at once,
// not after the session timeout. A crash leaves the member in place, so that
// the restarted process takes its partitions back without a rebalance.
//
// After a fatal error it does neither: librdkafka refuses to close a failed
// consumer, and confluent-kafka-go's Close then polls for ever. The process
// is on its way out; the client goes with it.
func closeConsumer(c *kafka.Consumer, cm kafka.ConfigMap, log *slog.Logger, runErr error) {
	if errors.Is(runErr, errConsumerFailed) {
		log.Debug("consumer failed: left unclosed")
		return
	}
	// confluent-kafka-go's Close polls until librdkafka says the consumer
	// closed, which after some failures never happens: a stop must end
	// all the same. The goroutine ends with the process then.
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			log.Warn("close consumer", "error", err)
		}
	case <-time.After(closeTimeout):
		log.Error("the consumer did not close within its time (librdkafka); leaving it behind", "timeout", closeTimeout)
	}
	id, g := rdkafka.String(cm, "group.instance.id"), rdkafka.String(cm, "group.id")
	if id == "" || g == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := membership.Leave(ctx, cm, g, id); err != nil {
		log.Warn("could not leave the consumer group: other members take this process's partitions only when its session times out", "group", g, "session_timeout_ms", sessionTimeout(cm), "error", rdkafka.Scrub(cm, err.Error()))
		return
	}
	log.Debug("left the consumer group", "group", g, "instance", id)
}

// sessionTimeout is the consumer's session.timeout.ms, librdkafka's
// default when unset.
func sessionTimeout(cm kafka.ConfigMap) string {
	if v := rdkafka.String(cm, "session.timeout.ms"); v != "" {
		return v
	}
	return "45000"
}

func formatPartitions(ps []kafka.TopicPartition) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s[%d]", *p.Topic, p.Partition)
	}
	return strings.Join(parts, ",")
}
