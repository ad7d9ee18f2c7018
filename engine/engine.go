// Package engine turns loaded pipelines into running stages: sources as
// producer loops (source.go), transforms and sinks as the one consumer loop
// (consumer.go), each consuming stage in its own consumer group. The loop's
// delivery decides how read positions become durable: offsets stored as
// the tracker confirms records (offsets.go), a Kafka transaction
// (transaction.go) or the sink's own store (ownstore.go). A record's
// offset is stored only after its effect is durable downstream.
package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/kafka/topic"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/state"
	"github.com/conveyor-dev/conveyor/transforms/stateful"
)

// envForStage is env for the connector of one stage: its logger names the
// pipeline and stage, and the stage's Health comes with it.
func envForStage(env connectors.Env, pipeline, stage string) connectors.Env {
	env.Health = &connectors.Health{}
	if env.Log != nil {
		env.Log = env.Log.With("pipeline", pipeline, "stage", stage)
	}
	return env
}

// lockedWriter makes one Write call atomic with respect to the others.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Plan is a set of pipelines, checked and compiled, ready to run. It keeps
// what it was built from, so a run can build a stage of it anew (Restart).
type Plan struct {
	pipelines []*pipelinePlan
	configs   []*pipeline.Config
	reg       connectors.Registry
	env       connectors.Env
}

// Configs are the pipelines the plan was built from, in load order.
func (pl *Plan) Configs() []*pipeline.Config { return slices.Clone(pl.configs) }

type pipelinePlan struct {
	cfg       *pipeline.Config
	registry  *serde.Registry // set by Run when the pipeline names one
	sources   []*sourcePlan
	transform []*transformPlan
	sinks     []*sinkPlan
}

type sourcePlan struct {
	cfg    *pipeline.Source
	src    connectors.Source
	chain  *transforms.Chain
	health *connectors.Health
}

type transformPlan struct {
	cfg      *pipeline.Transform
	chain    *transforms.Chain
	stateful *stateful.Plan // set when steps keep state; chain is nil then
}

type sinkPlan struct {
	cfg    *pipeline.Sink
	sink   connectors.Sink
	chain  *transforms.Chain
	health *connectors.Health
}

// Build compiles every stage of the pipelines and builds their connectors,
// returning every error found. It does not touch the network.
func Build(pipes []*pipeline.Config, reg connectors.Registry, env connectors.Env) (*Plan, error) {
	var errs pipeline.Errors
	if _, locked := env.Stdout.(*lockedWriter); env.Stdout != nil && !locked {
		env.Stdout = &lockedWriter{w: env.Stdout}
	}
	plan := &Plan{configs: slices.Clone(pipes), reg: reg, env: env}
	for _, p := range pipes {
		pp := &pipelinePlan{cfg: p}
		checkKafka(p, &errs)
		opts := expression.Options{Vars: p.Vars}
		cenv := env
		cenv.Vars = p.Vars
		cenv.Drain = time.Duration(p.ShutdownTimeout)
		internal := internalTopics(p)
		guard := transforms.InternalTopics(internal)
		// in is the type of the stage's input values: what the schemas of
		// the topics it reads promise (when they agree), for offline checks.
		compile := func(st *pipeline.Stage, in record.Type, extra ...pipeline.Step) *transforms.Chain {
			var steps []pipeline.Step
			for _, s := range append(append([]pipeline.Step(nil), st.Steps...), extra...) {
				if s.Kind != "" { // the loader already reported a step it could not read
					steps = append(steps, s)
				}
			}
			ch, err := transforms.Compile(steps, opts, guard, transforms.InputType(in))
			errs.Add(st.Pos, st.Path+".steps", err)
			return ch
		}
		checkTo := func(st *pipeline.Stage, to string) {
			errs.Add(st.Pos, st.Path+".to", transforms.InternalTopic(to, internal))
		}
		for i := range p.Sources {
			s := &p.Sources[i]
			var extra []pipeline.Step
			if s.Key != nil {
				extra = append(extra, pipeline.Step{Kind: "key", Path: s.Key.Path, Pos: s.Key.Pos, Key: s.Key})
			}
			senv := envForStage(cenv, p.Name, s.Name)
			// A source's values are whatever its connector makes of the
			// outside world, which no topic schema describes: its steps
			// compile untyped unless check --connect asked the source's
			// database (pipeline.SourceType); the schema of the topic it
			// writes is checked when a stage reads it.
			sp := &sourcePlan{cfg: s, chain: compile(&s.Stage, p.SourceType(s.Name), extra...), health: senv.Health}
			if spec, ok := reg.Source(s.Connector.Kind); ok {
				src, err := spec.New(s.Connector, senv)
				errs.Add(s.Connector.Pos, s.Connector.Path, err)
				sp.src = src
			}
			checkExactlyOnce(p, &s.Stage, &errs)
			// The built source decides, not the spec: a file path from ${VAR}
			// may turn out to be standard input.
			if spec, _ := reg.Source(s.Connector.Kind); s.Delivery == pipeline.ExactlyOnce && sp.src != nil && spec.Caps.NoExactlyOnce != "" {
				errs.Addf(s.Pos, s.Path+".delivery", "exactly_once is not possible with a %s source: %s; use at_least_once", s.Connector.Kind, spec.Caps.NoExactlyOnce)
			} else if _, ok := sp.src.(connectors.Resumer); s.Delivery == pipeline.ExactlyOnce && sp.src != nil && !ok {
				errs.Addf(s.Pos, s.Path+".delivery", "exactly_once needs a source that keeps a cursor (%s): this %s source cannot tell on restart which records it already wrote", cursorSources(reg), s.Connector.Kind)
			}
			if s.OnError.Action == pipeline.DeadLetter && s.OnError.DeadLetter == s.To {
				errs.Addf(s.OnError.Pos, s.Path+".on_error.dead_letter", "the dead-letter topic must differ from the output topic %q", s.To)
			} else {
				checkTo(&s.Stage, s.To)
			}
			pp.sources = append(pp.sources, sp)
		}
		for i := range p.Transforms {
			t := &p.Transforms[i]
			tp := &transformPlan{cfg: t}
			if hasStateful(t.Steps) {
				tp.stateful = stateful.Compile(t, opts, &errs, guard,
					transforms.InputType(transforms.TopicsType(t.From, p.ValueType)), transforms.TopicTypes(p.ValueType))
				checkCoPartitioned(p, t, tp.stateful, &errs)
			} else {
				tp.chain = compile(&t.Stage, transforms.TopicsType(t.From, p.ValueType))
			}
			pp.transform = append(pp.transform, tp)
			checkExactlyOnce(p, &t.Stage, &errs)
			for _, from := range t.From {
				if from == t.To {
					errs.Addf(t.Pos, t.Path+".to", "a transform cannot write the topic %q it reads", from)
				}
			}
			checkTo(&t.Stage, t.To)
		}
		for i := range p.Sinks {
			s := &p.Sinks[i]
			senv := envForStage(cenv, p.Name, s.Name)
			sp := &sinkPlan{cfg: s, chain: compile(&s.Stage, transforms.TopicsType(s.From, p.ValueType)), health: senv.Health}
			if spec, ok := reg.Sink(s.Connector.Kind); ok {
				sink, err := spec.New(s.Connector, senv)
				errs.Add(s.Connector.Pos, s.Connector.Path, err)
				sp.sink = sink
			}
			checkExactlyOnce(p, &s.Stage, &errs)
			if s.Delivery == pipeline.ExactlyOnce {
				if spec, _ := reg.Sink(s.Connector.Kind); sp.sink != nil && spec.Caps.NoExactlyOnce != "" {
					errs.Addf(s.Pos, s.Path+".delivery", "exactly_once is not possible with a %s sink: %s; use at_least_once", s.Connector.Kind, spec.Caps.NoExactlyOnce)
				} else if sp.sink != nil && !spec.Caps.OwnOffsets {
					errs.Addf(s.Pos, s.Path+".delivery", "exactly_once needs a sink that stores offsets in the same transaction as its writes (%s): %s cannot, so a crash between a write and a commit would repeat records", ownOffsetSinks(reg), s.Connector.Kind)
				}
				if s.OnError.Action == pipeline.DeadLetter {
					errs.Addf(s.OnError.Pos, s.Path+".on_error", "an exactly_once sink cannot dead-letter: the dead-letter topic and the sink's database do not commit together; use fail or drop")
				}
			}
			pp.sinks = append(pp.sinks, sp)
		}
		plan.pipelines = append(plan.pipelines, pp)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return plan, nil
}

// RunOptions tune a run.
type RunOptions struct {
	Log              *slog.Logger
	ProgressInterval time.Duration // 0 turns progress lines off
	// EmbeddedAddr is where an embedded broker listens; default 127.0.0.1:0.
	EmbeddedAddr string
	// Instance tells this process from other runners of the same
	// pipelines; exactly-once stages put it in their transactional ids.
	// Default: the host name.
	Instance string
	// Monitor, when set, is told of every stage and gets librdkafka's
	// statistics.
	Monitor Monitor
	// Terminal, when set, gets the progress as one line per stage redrawn
	// in place instead of log lines.
	Terminal Terminal
	// Registries, when set, are the schema registry clients the stages
	// use; default: a new set.
	Registries *Registries
}

// Run starts every stage of every pipeline and returns when all stages have
// ended: ctx cancelled (a graceful stop: each stage drains for its
// pipeline's shutdown_timeout) or a stage failed (the others then stop too).
// It is Start then Wait.
func (pl *Plan) Run(ctx context.Context, opts RunOptions) error {
	r, err := pl.Start(ctx, opts)
	if err != nil {
		return err
	}
	return r.Wait()
}

// internalTopics are the topics of p that records may not be routed into
// (by a to step or a stage's to), each with what it is: the cursor topic,
// every stage's dead-letter topic and every transform's changelog.
func internalTopics(p *pipeline.Config) map[string]string {
	m := map[string]string{cursorTopicOf(p): "the cursor topic"}
	deadLetter := func(st *pipeline.Stage) {
		if st.OnError.Action == pipeline.DeadLetter {
			m[st.OnError.DeadLetter] = "the dead-letter topic of stage " + st.Name
		}
	}
	for i := range p.Sources {
		deadLetter(&p.Sources[i].Stage)
	}
	for i := range p.Transforms {
		t := &p.Transforms[i]
		deadLetter(&t.Stage)
		m[changelogTopic(p.Name, t.Name)] = "the changelog topic of stage " + t.Name
	}
	for i := range p.Sinks {
		deadLetter(&p.Sinks[i].Stage)
	}
	return m
}

// cursorTopic is the pipeline's cursor topic, or "" when no source of it
// keeps a cursor.
func (pp *pipelinePlan) cursorTopic() string {
	for _, s := range pp.sources {
		if _, ok := s.src.(connectors.Resumer); ok {
			return cursorTopicOf(pp.cfg)
		}
	}
	return ""
}

// cursorKey is the key of a source's cursor in the cursor topic.
func cursorKey(pipeline, source string) string { return pipeline + "/" + source }

// cursorConsumer is the config of the consumer that reads a source's
// cursor back.
func cursorConsumer(brokers string, p *pipeline.Config, src *pipeline.Source) kafka.ConfigMap {
	return rdkafka.Build(rdkafka.Consumer, brokers, p.Kafka.Config, src.Kafka.Config, map[string]string{
		"group.id": p.Name + "." + src.Name + ".cursor", "enable.auto.commit": "false",
	})
}

// cursorTopicOf is the topic where p's sources keep their cursors.
func cursorTopicOf(p *pipeline.Config) string {
	if p.CursorTopic != "" {
		return p.CursorTopic
	}
	return pipeline.DefaultCursorTopic
}

func ensureTopics(ctx context.Context, pp *pipelinePlan, brokers string, log *slog.Logger) error {
	p := pp.cfg
	topics := maps.Clone(p.Topics)
	if t := pp.cursorTopic(); t != "" {
		if topics == nil {
			topics = map[string]pipeline.Topic{}
		}
		if _, declared := topics[t]; !declared {
			topics[t] = pipeline.Topic{Partitions: 1, ReplicationFactor: -1, Config: map[string]string{"cleanup.policy": "compact"}}
		}
	}
	if len(topics) == 0 {
		return nil
	}
	cm := rdkafka.Build(rdkafka.Admin, brokers, p.Kafka.Config, nil, nil)
	admin, err := kafka.NewAdminClient(&cm)
	if err != nil {
		return fmt.Errorf("pipeline %s: admin client: %s", p.Name, rdkafka.Scrub(cm, err.Error()))
	}
	defer admin.Close()
	var specs []topic.Spec
	for name, t := range topics {
		specs = append(specs, topic.Spec{Name: name, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Config: t.Config})
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	mismatches, err := topic.Ensure(ctx, admin, specs)
	for _, m := range mismatches {
		log.Warn(m.String(), "pipeline", p.Name)
	}
	if err != nil {
		return fmt.Errorf("pipeline %s: %s", p.Name, rdkafka.Scrub(cm, err.Error()))
	}
	return nil
}

// runnable is a stage ready to start.
type runnable interface {
	run(ctx context.Context) error
	base() *stage
}

func (s *stage) base() *stage { return s }

func (pp *pipelinePlan) newStage(st *pipeline.Stage, kind, connector string, chain *transforms.Chain, health *connectors.Health, mon Monitor, log *slog.Logger, topics ...string) (*stage, error) {
	cs, err := newCodecs(pp.cfg, st, pp.registry, topics...)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, st.Name, err)
	}
	raw := record.Format(st.Format)
	if st.Format.Registered() {
		raw = record.JSON
	}
	s := &stage{
		pipeline:  pp.cfg.Name,
		file:      pp.cfg.File,
		name:      st.Name,
		kind:      kind,
		connector: connector,
		delivery:  st.Delivery,
		onError:   st.OnError,
		codecs:    cs,
		rawFormat: raw,
		chain:     chain,
		log:       log.With("stage", st.Name),
		counters:  newCounters(health),
		drain:     time.Duration(pp.cfg.ShutdownTimeout),
	}
	s.stats = &statsHandler{mon: mon, pipeline: s.pipeline, stage: s.name}
	if pp.registry != nil {
		s.counters.registry = pp.registry
	}
	return s, nil
}

// info describes the stage to a Monitor.
func (s *stage) info() StageInfo {
	return StageInfo{Pipeline: s.pipeline, Stage: s.name, Kind: s.kind, Connector: s.connector, Delivery: string(s.delivery), Counters: s.counters}
}

func instance(name string) string {
	if name != "" {
		return name
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "runner"
}

// stages builds the runnable stages of the pipeline that want accepts (by
// name; nil: all).
func (pp *pipelinePlan) stages(brokers, instance string, mon Monitor, log *slog.Logger, want func(name string) bool) ([]runnable, error) {
	p := pp.cfg
	var out []runnable
	if want == nil {
		want = func(string) bool { return true }
	}
	producerFor := func(st *pipeline.Stage, l *slog.Logger, stats *statsHandler) (*producer, error) {
		cm := rdkafka.Build(rdkafka.Producer, brokers, p.Kafka.Config, st.Kafka.Config, nil)
		return newProducer(cm, l, stats)
	}
	// consumerConfig is the config of a stage's group consumer, with more
	// settings for its delivery mode.
	consumerConfig := func(st *pipeline.Stage, c *pipeline.Consumer, more map[string]string) kafka.ConfigMap {
		m := map[string]string{"group.id": c.Group, "auto.offset.reset": string(c.Start)}
		maps.Copy(m, more)
		maps.Copy(m, staticMember(p, st, instance))
		cm := rdkafka.Build(rdkafka.Consumer, brokers, p.Kafka.Config, st.Kafka.Config, m)
		if cm["group.instance.id"] == "" {
			delete(cm, "group.instance.id") // a dynamic member
		}
		return cm
	}
	for _, sp := range pp.sources {
		if !want(sp.cfg.Name) {
			continue
		}
		base, err := pp.newStage(&sp.cfg.Stage, "source", sp.cfg.Connector.Kind, sp.chain, sp.health, mon, log, sp.cfg.To)
		if err != nil {
			return nil, err
		}
		if to := sp.cfg.To; p.TopicFormat(to, &sp.cfg.Stage) == pipeline.FormatAvro && p.Topics[to].Value == nil {
			// No schema file: derive one from the records, as Connect's
			// JDBC source does from a table.
			base.codecs.fixed[to].value = newDerivedAvro(to, pp.registry, sp.src)
		}
		var leaseCM kafka.ConfigMap
		shared := false
		if sh, ok := sp.src.(connectors.Shared); ok && sh.Shared() && pp.cursorTopic() != "" {
			shared = true
			m := map[string]string{
				"group.id":                      p.Name + "." + sp.cfg.Name + ".lease",
				"partition.assignment.strategy": "cooperative-sticky",
				"enable.auto.commit":            "false",
			}
			if _, set := stageKafkaConfig(p, &sp.cfg.Stage)["session.timeout.ms"]; !set {
				m["session.timeout.ms"] = leaseSession
				m["heartbeat.interval.ms"] = "1000"
			}
			leaseCM = consumerConfig(&sp.cfg.Stage, &pipeline.Consumer{Group: m["group.id"], Start: pipeline.Latest}, m)
		}
		var txnCM kafka.ConfigMap
		if sp.cfg.Delivery == pipeline.ExactlyOnce {
			// A shared source's transactional id is the stage's, not the
			// process's: whoever takes the lease registers it, which
			// aborts what the previous holder left open and fences it, so
			// a holder that lost the lease unawares cannot commit.
			id := instance
			if shared {
				id = ""
			}
			txnCM = rdkafka.Build(rdkafka.Producer, brokers, p.Kafka.Config, sp.cfg.Kafka.Config, exactlyOnceProducer(p, &sp.cfg.Stage, id))
		}
		out = append(out, &sourceRun{
			txnCM:       txnCM,
			leaseCM:     leaseCM,
			sourceStage: sourceStage{stage: base, src: sp.src, to: sp.cfg.To},
			newProducer: func() (*producer, error) { return producerFor(&sp.cfg.Stage, base.log, base.stats) },
			cursorTopic: pp.cursorTopic(),
			cursorCM:    cursorConsumer(brokers, p, sp.cfg),
		})
	}
	for _, tp := range pp.transform {
		if !want(tp.cfg.Name) {
			continue
		}
		base, err := pp.newStage(&tp.cfg.Stage, "transform", "", tp.chain, nil, mon, log, append(slices.Clone(tp.cfg.From), tp.cfg.To)...)
		if err != nil {
			return nil, err
		}
		if tp.cfg.Delivery == pipeline.ExactlyOnce {
			st := &tp.cfg.Stage
			var kept *txnState
			var w *transforms.Worker
			if tp.stateful != nil {
				kept = &txnState{
					plan:    tp.stateful,
					run:     tp.stateful.NewRunner(expression.Options{Vars: p.Vars}, state.Memory),
					readCM:  rdkafka.Build(rdkafka.Consumer, brokers, p.Kafka.Config, st.Kafka.Config, map[string]string{"group.id": tp.cfg.Group + ".restore", "enable.auto.commit": "false", "isolation.level": "read_committed"}),
					adminCM: rdkafka.Build(rdkafka.Admin, brokers, p.Kafka.Config, st.Kafka.Config, nil),
					from:    tp.cfg.From,
				}
				if tp.stateful.Aggregates() {
					kept.changelog = changelogTopic(p.Name, st.Name)
				}
			} else {
				w = tp.chain.NewWorker()
			}
			limit, _ := rateCap(tp.cfg.Rate, defaultMaxBatch)
			out = append(out, exactlyOnce(&txnTransform{
				state:      kept,
				stage:      base,
				producerCM: rdkafka.Build(rdkafka.Producer, brokers, p.Kafka.Config, st.Kafka.Config, exactlyOnceProducer(p, st, instance)),
				to:         tp.cfg.To,
				interval:   time.Duration(st.CommitInterval),
				maxRecords: st.CommitRecords,
				limit:      limit,
				w:          w,
			}, consumerConfig(st, &tp.cfg.Consumer, exactlyOnceConsumer), tp.cfg.From))
			continue
		}
		out = append(out, &transformRun{stage: base, cfg: tp.cfg, consumerCM: consumerConfig(&tp.cfg.Stage, &tp.cfg.Consumer, nil), newProducer: func() (*producer, error) { return producerFor(&tp.cfg.Stage, base.log, base.stats) }})
	}
	for _, sp := range pp.sinks {
		if !want(sp.cfg.Name) {
			continue
		}
		base, err := pp.newStage(&sp.cfg.Stage, "sink", sp.cfg.Connector.Kind, sp.chain, sp.health, mon, log, sp.cfg.From...)
		if err != nil {
			return nil, err
		}
		if osink, ok := sp.sink.(connectors.OffsetSink); ok && sp.cfg.Delivery == pipeline.ExactlyOnce {
			out = append(out, &sinkRun{stage: base, cfg: sp.cfg, sink: sp.sink,
				consumerCM: consumerConfig(&sp.cfg.Stage, &sp.cfg.Consumer, map[string]string{"isolation.level": "read_committed"}),
				own:        &ownStore{stage: base, group: sp.cfg.Group, sink: osink, w: sp.chain.NewWorker()},
			})
			continue
		}
		r := &sinkRun{stage: base, cfg: sp.cfg, sink: sp.sink, consumerCM: consumerConfig(&sp.cfg.Stage, &sp.cfg.Consumer, nil)}
		if sp.cfg.OnError.Action == pipeline.DeadLetter {
			r.newProducer = func() (*producer, error) { return producerFor(&sp.cfg.Stage, base.log, base.stats) }
		}
		out = append(out, r)
	}
	return out, nil
}

func hasStateful(steps []pipeline.Step) bool {
	for i := range steps {
		if steps[i].Stateful() {
			return true
		}
	}
	return false
}

// checkCoPartitioned reports, offline, declared topics a stateful stage
// reads whose partition counts differ: partition N of each must hold the
// same keys.
func checkCoPartitioned(p *pipeline.Config, t *pipeline.Transform, pl *stateful.Plan, errs *pipeline.Errors) {
	all := append(append([]string(nil), t.From...), pl.Topics()...)
	first, firstN := "", 0
	for _, name := range all {
		decl, ok := p.Topics[name]
		if !ok {
			continue
		}
		if first == "" {
			first, firstN = name, decl.Partitions
			continue
		}
		if decl.Partitions != firstN {
			errs.Addf(decl.Pos, "topics."+name+".partitions", "%s has %d partitions and %s has %d, but transform %s joins them: they must be co-partitioned (same count, same keys)", name, decl.Partitions, first, firstN, t.Name)
		}
	}
}

// cursorSources names the sources whose spec keeps a cursor, those that
// always do first: "sql; file, except on standard input".
func cursorSources(reg connectors.Registry) string {
	var always, sometimes []string
	for _, s := range reg.Sources {
		switch {
		case !s.Caps.Cursor:
		case s.Caps.NoCursorDoc == "":
			always = append(always, s.Name)
		default:
			sometimes = append(sometimes, s.Name+", "+s.Caps.NoCursorDoc)
		}
	}
	return strings.Join(append(always, sometimes...), "; ")
}

// ownOffsetSinks names the sinks whose spec keeps offsets with the writes.
func ownOffsetSinks(reg connectors.Registry) string {
	var names []string
	for _, s := range reg.Sinks {
		if s.Caps.OwnOffsets {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, ", ")
}
