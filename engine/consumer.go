package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/membership"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// item is one consumed message and, at least once, its place in the
// offset tracker.
type item struct {
	m *kafka.Message
	e *entry
}

// delivery is how a consuming stage makes its read positions durable: the
// offset tracker with stored offsets (at least once), a Kafka transaction
// (exactly once) or the sink's own store. Every method runs on the poll
// loop's goroutine, between polls (rebalances inside Poll).
type delivery interface {
	// start readies the delivery for consumer c before it subscribes.
	start(ctx context.Context, c *kafka.Consumer) error
	// handle takes a batch of polled records. errStopped ends the loop
	// without an error.
	handle(ctx context.Context, batch []item) error
	// tick runs between polls (see consumer.tickEvery).
	tick(ctx context.Context) error
	// err reports a failure found outside the loop, without waiting.
	err() error
	// busy asks for short polls (a transaction is open).
	busy() bool
	// assigned positions newly assigned partitions.
	assigned(c *kafka.Consumer, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error)
	// revoked lets partitions go; pending is what was polled but not handled.
	revoked(c *kafka.Consumer, parts []kafka.TopicPartition, lost, closing bool, pending []item)
	// stop ends the delivery once polling stopped: it finishes or
	// abandons what is in flight and makes durable what may be. It gets
	// the loop's error and returns the stage's.
	stop(runErr error) error
	// close releases what start took, before the consumer closes.
	close()
}

// errStopped: the delivery is stopping (ctx done, or its processing
// ended); the loop ends and stop says how.
var errStopped = errors.New("stopped")

// consumer is the one loop of every consuming stage: it polls, batches,
// answers rebalances, watches the group and closes the consumer; how
// positions become durable is its delivery's.
type consumer struct {
	*stage
	cm     kafka.ConfigMap
	topics []string
	d      delivery
	tr     *tracker // set at least once: records are tracked as polled
	// maxBatch and linger bound a batch; syncHandle says handle is done
	// with a batch when it returns, so its slice is reused.
	maxBatch   int
	linger     time.Duration
	syncHandle bool
	// tickEvery is how often tick runs; tickBusy lets it run with a batch
	// pending (only where records are tracked as polled).
	tickEvery time.Duration
	tickBusy  bool

	c       *kafka.Consumer
	watch   *groupWatch
	batch   []item // polled, not yet handed on
	closing bool
	errLog  rateLimited
	// failed is set by a rebalance callback that could not position the
	// partitions; the loop stops with it.
	failed error
	// paused: the assigned partitions are paused (see applyPause).
	paused bool
}

const (
	defaultMaxBatch = 500
	defaultLinger   = 5 * time.Millisecond
	storeInterval   = 200 * time.Millisecond
)

func (l *consumer) run(ctx context.Context) error {
	c, w, err := l.openConsumer(l.cm)
	if err != nil {
		return err
	}
	l.c, l.watch = c, w
	if err := l.d.start(ctx, c); err != nil {
		c.Close()
		return err
	}
	stopWatch, err := w.subscribe(l.topics, l.rebalance)
	if err != nil {
		l.d.close()
		c.Close()
		return err
	}
	l.batch = make([]item, 0, min(l.maxBatch, defaultMaxBatch))
	pollErr := l.poll(ctx)
	l.closing = true
	runErr := l.d.stop(pollErr)
	stopWatch()
	l.d.close()
	closeConsumer(c, l.cm, l.log, runErr)
	return runErr
}

// poll reads until ctx is done or the delivery stops or failed.
func (l *consumer) poll(ctx context.Context) error {
	lastTick := time.Now()
	var batchStart time.Time
	for ctx.Err() == nil {
		if l.failed != nil {
			return l.failed
		}
		l.applyPause()
		if err := l.d.err(); err != nil {
			return stoppedIsNil(err)
		}
		if err := l.watch.failed(); err != nil {
			return err
		}
		timeout := 100
		if len(l.batch) > 0 {
			timeout = 1
		} else if l.d.busy() {
			timeout = 5
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
			it := item{m: e}
			if l.tr != nil {
				it.e = l.tr.add(*e.TopicPartition.Topic, e.TopicPartition.Partition, int64(e.TopicPartition.Offset))
			}
			l.batch = append(l.batch, it)
		case kafka.Error:
			if e.IsFatal() {
				return l.fatal(l.cm, e)
			}
			l.warn("consumer", e)
		case *kafka.Stats:
			l.stats.handle("consumer", e)
		}
		if len(l.batch) > 0 && (len(l.batch) >= l.maxBatch || time.Since(batchStart) >= l.linger) {
			err := l.d.handle(ctx, l.batch)
			l.clearBatch()
			if err != nil {
				return stoppedIsNil(err)
			}
		}
		if (len(l.batch) == 0 || l.tickBusy) && time.Since(lastTick) >= l.tickEvery {
			if err := l.d.tick(ctx); err != nil {
				return err
			}
			lastTick = time.Now()
		}
	}
	return nil
}

func stoppedIsNil(err error) error {
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// clearBatch starts a new batch: in the same slice when handle is done
// with the old one, else in a new one sized like the last, so under load a
// full batch is one allocation rather than a slice grown by doubling.
func (l *consumer) clearBatch() {
	if l.syncHandle {
		clear(l.batch)
		l.batch = l.batch[:0]
		return
	}
	l.batch = make([]item, 0, len(l.batch))
}

func (l *consumer) warn(what string, err error) {
	if ok, held := l.errLog.allow(); ok {
		l.log.Warn(what, "error", rdkafka.Scrub(l.cm, err.Error()), "repeats_unlogged", held)
	}
}

// rebalance runs inside Poll.
func (l *consumer) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	l.watch.rebalanced(ev)
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if l.closing {
			return refuseWhileClosing(c, l.log, e.Partitions)
		}
		l.log.Info("partitions assigned", "partitions", formatPartitions(e.Partitions))
		l.counters.markReady()
		l.counters.Rebalances.Add(1)
		parts, err := l.d.assigned(c, e.Partitions)
		if err != nil {
			l.failed = err
			return nil
		}
		if err := c.Assign(parts); err != nil {
			return err
		}
		l.counters.live.assign(parts)
		if l.paused {
			// Partitions assigned while the stage is paused stay paused.
			if err := c.Pause(parts); err != nil {
				l.log.Warn("pause newly assigned partitions", "error", err)
			}
		}
		return nil
	case kafka.RevokedPartitions:
		lost := c.AssignmentLost()
		l.log.Info("partitions revoked", "partitions", formatPartitions(e.Partitions), "lost", lost)
		l.d.revoked(c, e.Partitions, lost, l.closing, l.batch)
		l.clearBatch()
		l.counters.live.revoke(e.Partitions)
		return c.Unassign()
	}
	return nil
}

// applyPause pauses or resumes the assigned partitions when the stage was
// paused or resumed since the last poll. The loop goes on polling while
// paused, so the consumer stays in its group (heartbeats, rebalances,
// max.poll.interval.ms); what was already polled is handled as usual.
func (l *consumer) applyPause() {
	want := l.pause.isPaused()
	if want == l.paused {
		return
	}
	parts, err := l.c.Assignment()
	if err != nil {
		l.log.Warn("read the assignment to pause or resume it", "error", err)
		return
	}
	if want {
		err = l.c.Pause(parts)
	} else {
		err = l.c.Resume(parts)
	}
	if err != nil {
		l.log.Warn("pause or resume partitions", "paused", want, "error", err)
		return
	}
	l.paused = want
	l.log.Info("stage paused or resumed", "paused", want, "partitions", formatPartitions(parts))
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
