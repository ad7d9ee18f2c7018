package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// pauser holds a stage while it is paused from the control API. It belongs
// to the stage, not to one incarnation: a paused stage that is restarted
// comes back paused.
type pauser struct {
	// flag mirrors paused for the poll loop, which asks on every poll: an
	// atomic load there, the lock only to change it.
	flag    atomic.Bool
	mu      sync.Mutex
	paused  bool
	resumed chan struct{} // closed by resume; nil while not paused
}

func (p *pauser) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		p.paused, p.resumed = true, make(chan struct{})
		p.flag.Store(true)
	}
}

func (p *pauser) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		p.flag.Store(false)
		close(p.resumed)
	}
}

// isPaused reports whether the stage is paused; a nil pauser never is.
func (p *pauser) isPaused() bool {
	return p != nil && p.flag.Load()
}

// wait blocks while the stage is paused, until resumed or ctx is done.
func (p *pauser) wait(ctx context.Context) error {
	if !p.isPaused() {
		return nil
	}
	p.mu.Lock()
	paused, resumed := p.paused, p.resumed
	p.mu.Unlock()
	if !paused {
		return nil
	}
	select {
	case <-resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errorRingSize is how many of a stage's last errors its status keeps.
const errorRingSize = 20

// live is what a running stage reports of itself beyond its counts, for
// Run.Status: the partitions it owns and their lag, whether a shared
// source stands by, and its last errors.
type live struct {
	mu      sync.Mutex
	owned   map[connectors.Partition]bool
	lag     map[connectors.Partition]int64
	errs    []StageError // oldest first, at most errorRingSize
	standby bool
}

func (l *live) addError(e StageError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == errorRingSize {
		l.errs = slices.Delete(l.errs, 0, 1)
	}
	l.errs = append(l.errs, e)
}

func (l *live) errors() []StageError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// assign adds partitions to those owned; revoke removes them.
func (l *live) assign(parts []kafka.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owned == nil {
		l.owned = map[connectors.Partition]bool{}
	}
	for _, tp := range parts {
		l.owned[connectors.Partition{Topic: *tp.Topic, Partition: tp.Partition}] = true
	}
}

func (l *live) revoke(parts []kafka.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tp := range parts {
		delete(l.owned, connectors.Partition{Topic: *tp.Topic, Partition: tp.Partition})
	}
}

func (l *live) setLag(lag map[connectors.Partition]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lag = maps.Clone(lag)
}

func (l *live) setStandby(b bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.standby = b
}

// partitions are the owned partitions in order, with their lag (-1 before
// the group committed an offset for one).
func (l *live) partitions() []PartitionStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]PartitionStatus, 0, len(l.owned))
	for p := range l.owned {
		lag, ok := l.lag[p]
		if !ok {
			lag = -1
		}
		out = append(out, PartitionStatus{Topic: p.Topic, Partition: p.Partition, Lag: lag})
	}
	slices.SortFunc(out, func(a, b PartitionStatus) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

func (l *live) isStandby() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.standby
}

// noteRejected keeps a record that on_error dropped, dead-lettered or
// failed on in the stage's last errors.
func (s *stage) noteRejected(b badRecord, action pipeline.ErrorAction) {
	e := StageError{Time: time.Now(), Message: b.err.Error(), Step: b.step, Action: string(action), Partition: -1, Offset: -1}
	if b.rec != nil && b.rec.Topic != "" {
		e.Topic, e.Partition, e.Offset = b.rec.Topic, b.rec.Partition, b.rec.Offset
	}
	s.counters.live.addError(e)
}

// noteStopped keeps the error that stopped a stage in its last errors,
// unless it is a record's failure already kept.
func (c *Counters) noteStopped(err error) {
	if err == nil || errors.Is(err, context.Canceled) || c.recordFailed.Load() {
		return
	}
	c.live.addError(StageError{Time: time.Now(), Message: err.Error(), Partition: -1, Offset: -1})
}

// carryOver starts c, a new incarnation's counters, from the totals and
// last errors of the one before, so a restart neither rewinds the
// stage's counts nor loses its history.
func (c *Counters) carryOver(prev *Counters) {
	c.In.Store(prev.In.Load())
	c.Out.Store(prev.Out.Load())
	c.Filtered.Store(prev.Filtered.Load())
	c.Dropped.Store(prev.Dropped.Load())
	c.DeadLettered.Store(prev.DeadLettered.Load())
	c.Failed.Store(prev.Failed.Load())
	c.TxnCommits.Store(prev.TxnCommits.Load())
	c.TxnAborts.Store(prev.TxnAborts.Load())
	c.Rebalances.Store(prev.Rebalances.Load())
	c.lag.Store(prev.lag.Load()) // the group's, until measured again
	c.live.errs = prev.live.errors()
}
