// Package metrics serves a run's Prometheus metrics and its health and
// readiness over HTTP. It implements engine.Monitor: the engine tells it
// of every stage and passes librdkafka's statistics; the stage counters
// are read at scrape time, so the hot path pays nothing for them.
package metrics

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/engine"
)

// Registry holds the metrics of one runner process.
type Registry struct {
	reg   *prometheus.Registry
	conns Connectors

	mu     sync.Mutex
	stages []engine.StageInfo
	lagged map[[2]string]map[connectors.Partition]int64 // the lag series set per pipeline and stage

	batch, commit *prometheus.HistogramVec
	lag           *prometheus.GaugeVec
	queue         *prometheus.GaugeVec
	kafkaBytes    *prometheus.GaugeVec
	rebalances    *prometheus.GaugeVec
}

var stageLabels = []string{"pipeline", "stage"}

// Connectors tells which connectors read or write database rows, from
// their specs.
type Connectors interface {
	Spec(kind, name string) (connectors.Spec, bool)
}

// New returns a registry with the process and Go runtime collectors.
func New(conns Connectors) *Registry {
	r := &Registry{
		conns:  conns,
		reg:    prometheus.NewRegistry(),
		lagged: map[[2]string]map[connectors.Partition]int64{},
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conveyor_batch_duration_seconds",
			Help:    "Time to process a batch: a consumed batch, a sink write, a source batch, an exactly-once transaction's work.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, stageLabels),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conveyor_commit_duration_seconds",
			Help:    "Time to commit: consumer offsets, a Kafka transaction, or a sink's rows with their offsets.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, stageLabels),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "conveyor_consumer_lag",
			Help: "Records between a partition's end and the stage's group's committed offset, as kafka-consumer-groups reports it; every process of the group reports the whole group.",
		}, []string{"pipeline", "stage", "topic", "partition"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "conveyor_producer_queue_messages",
			Help: "Messages waiting in the stage's producer queue (librdkafka msg_cnt).",
		}, stageLabels),
		kafkaBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "conveyor_kafka_bytes",
			Help: "Bytes a stage's Kafka client sent (tx) or received (rx) since it started (librdkafka tx_bytes, rx_bytes).",
		}, []string{"pipeline", "stage", "client", "direction"}),
		rebalances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "conveyor_consumer_rebalances",
			Help: "Rebalances the stage's consumer went through (librdkafka cgrp.rebalance_cnt).",
		}, stageLabels),
	}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.batch, r.commit, r.lag, r.queue, r.kafkaBytes, r.rebalances, stageCollector{r})
	return r
}

// AddStage registers a stage: its counters become metrics and its latencies
// are recorded. A stage already registered under the same pipeline and name
// (restarted, or changed by a reload) is replaced, so its series stay one.
func (r *Registry) AddStage(s engine.StageInfo) {
	r.mu.Lock()
	i := slices.IndexFunc(r.stages, func(o engine.StageInfo) bool { return o.Pipeline == s.Pipeline && o.Stage == s.Stage })
	if i >= 0 {
		r.stages[i] = s
	} else {
		r.stages = append(r.stages, s)
	}
	r.mu.Unlock()
	s.Counters.SetLatencyObservers(r.batch.WithLabelValues(s.Pipeline, s.Stage), r.commit.WithLabelValues(s.Pipeline, s.Stage))
}

// RemoveStage drops a stage a reload removed, with its series.
func (r *Registry) RemoveStage(pipeline, stage string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stages = slices.DeleteFunc(r.stages, func(o engine.StageInfo) bool { return o.Pipeline == pipeline && o.Stage == stage })
	labels := prometheus.Labels{"pipeline": pipeline, "stage": stage}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{r.batch, r.commit, r.lag, r.queue, r.kafkaBytes, r.rebalances} {
		v.DeletePartialMatch(labels)
	}
	delete(r.lagged, [2]string{pipeline, stage})
}

// stats is the part of librdkafka's statistics shown as metrics.
type stats struct {
	MsgCnt  int64 `json:"msg_cnt"`
	TxBytes int64 `json:"tx_bytes"`
	RxBytes int64 `json:"rx_bytes"`
	Cgrp    *struct {
		RebalanceCnt int64 `json:"rebalance_cnt"`
	} `json:"cgrp"`
}

// KafkaStats turns one librdkafka statistics document into gauges.
func (r *Registry) KafkaStats(pipeline, stage, client, doc string) {
	var s stats
	if err := json.Unmarshal([]byte(doc), &s); err != nil {
		return
	}
	r.kafkaBytes.WithLabelValues(pipeline, stage, client, "tx").Set(float64(s.TxBytes))
	r.kafkaBytes.WithLabelValues(pipeline, stage, client, "rx").Set(float64(s.RxBytes))
	if client == "producer" {
		r.queue.WithLabelValues(pipeline, stage).Set(float64(s.MsgCnt))
		return
	}
	if s.Cgrp != nil {
		r.rebalances.WithLabelValues(pipeline, stage).Set(float64(s.Cgrp.RebalanceCnt))
	}
}

// ConsumerLag replaces a stage's lag series with the partitions given,
// setting the new values before dropping the gone ones, so a scrape never
// sees the stage without them.
func (r *Registry) ConsumerLag(pipeline, stage string, lag map[connectors.Partition]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := [2]string{pipeline, stage}
	for p, l := range lag {
		r.lag.WithLabelValues(pipeline, stage, p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(l))
	}
	for p := range r.lagged[key] {
		if _, ok := lag[p]; !ok {
			r.lag.DeleteLabelValues(pipeline, stage, p.Topic, strconv.Itoa(int(p.Partition)))
		}
	}
	r.lagged[key] = lag
}

// stageCollector reads the stage counters at scrape time.
type stageCollector struct{ r *Registry }

var counterDescs = []struct {
	desc *prometheus.Desc
	get  func(c *engine.Counters) int64
}{
	{prometheus.NewDesc("conveyor_records_in_total", "Records a stage read (rows for a SQL source).", stageLabels, nil), func(c *engine.Counters) int64 { return c.In.Load() }},
	{prometheus.NewDesc("conveyor_records_out_total", "Records a stage wrote (rows for a SQL sink).", stageLabels, nil), func(c *engine.Counters) int64 { return c.Out.Load() }},
	{prometheus.NewDesc("conveyor_records_filtered_total", "Records a filter step (or an inner join) removed.", stageLabels, nil), func(c *engine.Counters) int64 { return c.Filtered.Load() }},
	{prometheus.NewDesc("conveyor_records_dead_lettered_total", "Bad records sent to the dead-letter topic.", stageLabels, nil), func(c *engine.Counters) int64 { return c.DeadLettered.Load() }},
	{prometheus.NewDesc("conveyor_records_dropped_total", "Bad records dropped by on_error: drop (and late records).", stageLabels, nil), func(c *engine.Counters) int64 { return c.Dropped.Load() }},
	{prometheus.NewDesc("conveyor_records_failed_total", "Bad records that stopped their stage (on_error: fail).", stageLabels, nil), func(c *engine.Counters) int64 { return c.Failed.Load() }},
}

var (
	txnDesc   = prometheus.NewDesc("conveyor_transactions_total", "Exactly-once transactions, by outcome (committed, aborted).", []string{"pipeline", "stage", "outcome"}, nil)
	sqlDesc   = prometheus.NewDesc("conveyor_sql_rows_total", "Rows a SQL source read or a SQL sink wrote, by direction (read, written).", []string{"pipeline", "stage", "direction"}, nil)
	readyDesc = prometheus.NewDesc("conveyor_stage_ready", "1 when the stage is ready: a source open, a consuming stage with its group assignment.", stageLabels, nil)
	infoDesc  = prometheus.NewDesc("conveyor_stage_info", "Constant 1, labelled with the stage's kind, connector and delivery mode.", []string{"pipeline", "stage", "kind", "connector", "delivery"}, nil)
)

func (c stageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range counterDescs {
		ch <- d.desc
	}
	ch <- txnDesc
	ch <- sqlDesc
	ch <- readyDesc
	ch <- infoDesc
}

func (c stageCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.stageList() {
		for _, d := range counterDescs {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(s.Counters)), s.Pipeline, s.Stage)
		}
		if s.Delivery == "exactly_once" {
			ch <- prometheus.MustNewConstMetric(txnDesc, prometheus.CounterValue, float64(s.Counters.TxnCommits.Load()), s.Pipeline, s.Stage, "committed")
			ch <- prometheus.MustNewConstMetric(txnDesc, prometheus.CounterValue, float64(s.Counters.TxnAborts.Load()), s.Pipeline, s.Stage, "aborted")
		}
		if spec, ok := c.r.conns.Spec(s.Kind, s.Connector); ok && spec.Caps.Rows {
			dir, n := "read", s.Counters.In.Load()
			if s.Kind == "sink" {
				dir, n = "written", s.Counters.Out.Load()
			}
			ch <- prometheus.MustNewConstMetric(sqlDesc, prometheus.CounterValue, float64(n), s.Pipeline, s.Stage, dir)
		}
		ready := 0.0
		if s.Counters.Ready() {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready, s.Pipeline, s.Stage)
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, s.Pipeline, s.Stage, s.Kind, s.Connector, s.Delivery)
	}
}

func (r *Registry) stageList() []engine.StageInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.StageInfo(nil), r.stages...)
}

// Handler serves /metrics, /healthz (the process is up) and /readyz (every
// stage is ready; 503 with the stages that are not and why, otherwise).
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		stages := r.stageList()
		var waiting []string
		for _, s := range stages {
			if why := s.Counters.NotReady(); why != "" {
				waiting = append(waiting, fmt.Sprintf("%s/%s (%s)", s.Pipeline, s.Stage, why))
			}
		}
		sort.Strings(waiting)
		if len(stages) == 0 || len(waiting) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			if len(stages) == 0 {
				fmt.Fprintln(w, "not ready: no stage started yet")
				return
			}
			fmt.Fprintf(w, "not ready: %s\n", strings.Join(waiting, "; "))
			return
		}
		fmt.Fprintf(w, "ready: %s stages\n", strconv.Itoa(len(stages)))
	})
	return mux
}
