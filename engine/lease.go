package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// lease makes one runner process at a time the reader of a shared source.
// The processes join a consumer group of their own for the stage and
// subscribe to the pipeline's cursor topic; whoever is assigned its
// partition 0 holds the lease. The group does the rest: a process that
// stops leaves and another takes over at once; one that dies loses the
// lease when its session times out (a few seconds; a restarted process
// with the same instance name takes it back at once, as a static member).
// The lease consumer never reads: its partitions are paused.
//
// An exactly-once shared source's transactional id is the stage's, not the
// process's: the new holder registers it before it reads the cursor, which
// aborts what the old one left open and fences it, so a process that lost
// the lease without noticing (paused, cut off) cannot commit any more.
type lease struct {
	c     *kafka.Consumer
	cm    kafka.ConfigMap
	topic string
	log   *slog.Logger
	drain time.Duration
	ready func()

	held chan context.Context // an acquisition waiting for the stage

	mu       sync.Mutex
	cancel   context.CancelFunc // ends the held context; nil while not held
	released chan struct{}      // closed by release when the stage stopped using the lease

	stop, done chan struct{}
	closing    atomic.Bool // the consumer closes: assignments are refused
	fatal      chan string
	failed     error // set by the poll goroutine before done closes
}

// leaseSession is the lease group's default session timeout: how long a
// dead holder keeps the lease. librdkafka's 45 s is far too long for a
// source to stand still; 6 s is a broker's smallest by default.
const leaseSession = "6000"

func newLease(cm kafka.ConfigMap, topic string, st *stage) *lease {
	return &lease{cm: cm, topic: topic, log: st.log, drain: st.drain, ready: st.counters.markReady,
		held: make(chan context.Context, 1), stop: make(chan struct{}), done: make(chan struct{}), fatal: make(chan string, 1)}
}

// start joins the lease group and polls it until close.
func (l *lease) start() error {
	c, err := kafka.NewConsumer(&l.cm)
	if err != nil {
		return fmt.Errorf("lease consumer: %s", rdkafka.Scrub(l.cm, err.Error()))
	}
	l.c = c
	go rdkafka.WatchLogs(c.Logs(), l.cm, l.log, l.fatal)
	if err := c.SubscribeTopics([]string{l.topic}, l.rebalance); err != nil {
		c.Close()
		return fmt.Errorf("lease: subscribe to %s: %w", l.topic, err)
	}
	go l.poll()
	return nil
}

func (l *lease) poll() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case msg := <-l.fatal:
			l.failed = fmt.Errorf("lease consumer: %w: %s", errConsumerFailed, msg)
			l.lose()
			return
		default:
		}
		if e, ok := l.c.Poll(100).(kafka.Error); ok && e.IsFatal() {
			l.failed = fmt.Errorf("lease consumer: %w: %s", errConsumerFailed, rdkafka.Scrub(l.cm, e.Error()))
			l.lose()
			return
		}
	}
}

// acquire waits until this process holds the lease and returns a context
// that ends when it loses it (or ctx ends). After the stage stopped writing,
// it must call release.
func (l *lease) acquire(ctx context.Context) (context.Context, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		if l.failed != nil {
			return nil, l.failed
		}
		return nil, errors.New("lease consumer stopped")
	case held := <-l.held:
		owned, cancel := context.WithCancel(ctx)
		context.AfterFunc(held, cancel)
		return owned, nil
	}
}

// release says the stage no longer writes under the lease it acquired, so a
// pending revoke may hand it on.
func (l *lease) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released != nil {
		select {
		case <-l.released:
		default:
			close(l.released)
		}
	}
}

// close leaves the lease group; the stage released the lease before.
func (l *lease) close() {
	close(l.stop)
	<-l.done
	l.closing.Store(true)
	closeConsumer(l.c, l.cm, l.log, l.failed)
}

// rebalance runs inside Poll. The lease group assigns cooperatively, so a
// process joining does not take the lease from its holder.
func (l *lease) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if err := c.IncrementalAssign(e.Partitions); err != nil {
			return err
		}
		if l.closing.Load() {
			return nil // closing: the close revokes them again; the lease is not taken
		}
		l.ready()
		if len(e.Partitions) > 0 {
			_ = c.Pause(e.Partitions) // the lease never reads
		}
		if hasPartitionZero(e.Partitions) {
			l.gain()
		} else if !l.holding() {
			l.log.Info("standing by: another runner process reads this source; this one takes over when that one stops or dies", "lease_group", rdkafka.String(l.cm, "group.id"))
		}
	case kafka.RevokedPartitions:
		if hasPartitionZero(e.Partitions) {
			l.lose()
		}
		return c.IncrementalUnassign(e.Partitions)
	}
	return nil
}

func (l *lease) holding() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cancel != nil
}

func (l *lease) gain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.released = cancel, make(chan struct{})
	l.held <- ctx
	l.log.Info("this runner process reads the source now", "lease_group", rdkafka.String(l.cm, "group.id"))
}

// lose ends the held lease and waits, up to the drain period, until the
// stage stopped writing under it.
func (l *lease) lose() {
	l.mu.Lock()
	cancel, released := l.cancel, l.released
	l.cancel = nil
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-l.held: // never picked up: nobody to wait for
		return
	default:
	}
	select {
	case <-released:
	case <-time.After(l.drain):
		l.log.Warn("lease revoked, but the source did not stop within the drain period; handing it on")
	}
}

func hasPartitionZero(ps []kafka.TopicPartition) bool {
	for _, p := range ps {
		if p.Partition == 0 {
			return true
		}
	}
	return false
}
