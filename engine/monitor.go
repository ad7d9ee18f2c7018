package engine

import (
	"encoding/json"
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
}

// ready marks a stage able to do its work: a source once open, a
// consuming stage once its group gave it an assignment (possibly empty:
// idle in the group is ready too).
func (c *Counters) markReady() { c.ready.Store(true) }

// Ready reports whether the stage is ready (see StageInfo).
func (c *Counters) Ready() bool { return c.ready.Load() }

// Lag is the stage's consumer lag summed over its partitions, from the last
// statistics; -1 before the first.
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

func newCounters() *Counters {
	c := &Counters{batch: noObserver{}, commit: noObserver{}}
	c.lag.Store(-1)
	return c
}

// since observes the seconds from start.
func since(o Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

// statsHandler forwards librdkafka statistics to the monitor and keeps the
// stage's lag from them.
type statsHandler struct {
	mon             Monitor
	pipeline, stage string
	counters        *Counters
	mu              sync.Mutex
}

// consumerStats is the part of librdkafka's statistics the engine reads.
type consumerStats struct {
	Topics map[string]struct {
		Partitions map[string]struct {
			ConsumerLag int64 `json:"consumer_lag"`
		} `json:"partitions"`
	} `json:"topics"`
}

func (h *statsHandler) handle(client string, s *kafka.Stats) {
	if h == nil {
		return
	}
	js := s.String()
	if client == "consumer" {
		var cs consumerStats
		if json.Unmarshal([]byte(js), &cs) == nil {
			var lag int64
			for _, t := range cs.Topics {
				for id, p := range t.Partitions {
					if id != "-1" && p.ConsumerLag > 0 {
						lag += p.ConsumerLag
					}
				}
			}
			h.counters.lag.Store(lag)
		}
	}
	if h.mon != nil {
		h.mu.Lock()
		h.mon.KafkaStats(h.pipeline, h.stage, client, js)
		h.mu.Unlock()
	}
}
