package engine

import (
	"github.com/conveyor-dev/conveyor/connectors"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Observer takes latency observations in seconds; a Prometheus histogram
// is one.
type Observer interface {
	Observe(seconds float64)
}

type noObserver struct{}

func (noObserver) Observe(float64) {}

// StageInfo describes a running stage to a Monitor.
type StageInfo struct {
	Pipeline, Stage string
	Kind            string // source, transform, sink
	Connector       string // generate, sql, ... ("" for transforms)
	Delivery        string
	Counters        *Counters
}

// Monitor watches a run: Run hands it every stage before starting it, and
// librdkafka's statistics as they come. RunOptions.Monitor may be nil.
type Monitor interface {
	AddStage(StageInfo)
	// KafkaStats is one librdkafka statistics document (JSON) of a
	// stage's consumer or producer.
	KafkaStats(pipeline, stage, client string, stats string)
	// ConsumerLag is a consuming stage's group lag per partition, as
	// Kafka's consumer group tool computes it (end offset - committed
	// offset); partitions without a commit are absent.
	ConsumerLag(pipeline, stage string, lag map[connectors.Partition]int64)
	// RemoveStage forgets a stage that a reload removed. AddStage for a
	// pipeline and stage already known replaces it (a restarted stage).
	RemoveStage(pipeline, stage string)
}

// ready marks a stage started: a source once open, a consuming stage once
// its group gave it an assignment (possibly empty: idle in the group is
// ready too), a shared source's standby once its lease group answered.
func (c *Counters) markReady() { c.ready.Store(true) }

// Ready reports whether the stage is ready: started, and not down (see
// Health).
func (c *Counters) Ready() bool { return c.NotReady() == "" }

// NotReady says why the stage is not ready, "" when it is.
func (c *Counters) NotReady() string {
	if p := c.problem(); p != "" {
		return p
	}
	if !c.ready.Load() {
		return "starting: no partitions assigned yet, or the source not open"
	}
	return ""
}

// problem says why the stage's connector or schema registry is down, ""
// when neither is.
func (c *Counters) problem() string {
	if p := c.health.Problem(); p != "" {
		return p
	}
	if c.registry != nil {
		if err := c.registry.Health(); err != nil {
			return "schema registry: " + err.Error()
		}
	}
	return ""
}

// Lag is the stage's group lag summed over its partitions, as last measured
// (see groupWatch); -1 before a partition has a committed offset.
func (c *Counters) Lag() int64 { return c.lag.Load() }

// setObservers installs latency observers; nil leaves the no-ops.
func (c *Counters) setObservers(batch, commit Observer) {
	if batch != nil {
		c.batch = batch
	}
	if commit != nil {
		c.commit = commit
	}
}

// SetLatencyObservers lets a Monitor record batch and commit latencies.
func (c *Counters) SetLatencyObservers(batch, commit Observer) { c.setObservers(batch, commit) }

func newCounters(h *connectors.Health) *Counters {
	c := &Counters{batch: noObserver{}, commit: noObserver{}, health: h}
	c.lag.Store(-1)
	return c
}

// since observes the seconds from start.
func since(o Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

// statsHandler forwards librdkafka statistics to the monitor.
type statsHandler struct {
	mon             Monitor
	pipeline, stage string
	mu              sync.Mutex
}

func (h *statsHandler) handle(client string, s *kafka.Stats) {
	if h == nil || h.mon == nil {
		return
	}
	h.mu.Lock()
	h.mon.KafkaStats(h.pipeline, h.stage, client, s.String())
	h.mu.Unlock()
}
