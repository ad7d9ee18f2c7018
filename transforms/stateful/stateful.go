// Package stateful runs a stage's steps when some of them keep state
// (join, join_table, aggregate): runs of stateless steps as chains, between
// the stateful steps, over keyed state kept per input partition in
// state.Store. It does no I/O: the engine fills the tables and restores the
// aggregate from Kafka, and writes the outputs and changelog entries Run
// returns in the stage's transaction.
package stateful

import (
	"errors"
	"slices"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/aggregate"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/join"
	"github.com/conveyor-dev/conveyor/transforms/state"
)

// Plan is a transform's steps when some keep state: runs of stateless
// steps compiled as chains, between the stateful ones. It is immutable and
// shared by the Runners of the stage.
type Plan struct {
	parts     []part
	tables    []string     // topics read as tables for join steps
	joinTable *join.Tables // set when the first step is join_table
	aggregate bool         // an aggregate step: the stage has a changelog
	out       record.Type  // of the values the steps yield
}

// part is one piece of a plan: exactly one of chain, join and agg is set.
type part struct {
	index int // the step index of the part's first step, for errors
	chain *transforms.Chain
	join  *join.Step
	agg   *aggregate.Spec
}

// Compile compiles a transform whose steps include stateful ones,
// reporting what cannot work: several aggregates, join_table not first.
// The types that options give (transforms.InputType, TopicTypes) flow
// through the steps as through a chain: a join adds its table's type, an
// aggregate makes its rows'.
func Compile(t *pipeline.Transform, opts expression.Options, errs *pipeline.Errors, options ...transforms.Option) *Plan {
	pl := &Plan{}
	typ, topicType := transforms.OptionTypes(options...)
	var run []pipeline.Step
	runStart := 0
	flush := func() {
		if len(run) == 0 {
			return
		}
		ch, err := transforms.Compile(run, opts, append(slices.Clip(options), transforms.InputType(typ))...)
		errs.Add(t.Pos, t.Path+".steps", err)
		typ = record.Type{} // after errors, check nothing more than without a type
		if ch != nil {
			typ = ch.OutputType()
		}
		pl.parts = append(pl.parts, part{index: runStart, chain: ch})
		run = nil
	}
	for i, s := range t.Steps {
		if s.Kind == "" {
			continue // the loader reported it
		}
		if !s.Stateful() {
			if len(run) == 0 {
				runStart = i
			}
			run = append(run, s)
			continue
		}
		flush()
		switch {
		case s.JoinTable != nil:
			if i != 0 {
				errs.Addf(s.Pos, s.Path, "join_table must be the first step: it reads the stage's input tables themselves")
			}
			pl.joinTable = join.CompileTables(s.JoinTable)
			typ = pl.joinTable.OutputType(typ, topicType(s.JoinTable.With))
		case s.Join != nil:
			js, err := join.Compile(s.Join, i, opts, typ)
			if err != nil {
				errs.Add(s.Join.Key.Pos, s.Join.Key.Path, err)
			}
			typ = js.OutputType(typ, topicType(s.Join.Table))
			pl.tables = append(pl.tables, s.Join.Table)
			pl.parts = append(pl.parts, part{index: i, join: js})
		case s.Aggregate != nil:
			if pl.aggregate {
				errs.Addf(s.Pos, s.Path, "one aggregate per stage: write the first one's output to a topic and aggregate it in another stage")
				continue
			}
			spec, err := aggregate.CompileFor(s.Aggregate, opts, typ)
			errs.Add(s.Pos, s.Path, err)
			typ = record.Type{}
			if spec != nil {
				typ = spec.OutputType()
			}
			pl.aggregate = true
			pl.parts = append(pl.parts, part{index: i, agg: spec})
		}
	}
	flush()
	pl.out = typ
	return pl
}

// OutputType is the type of the values the steps yield, when the input's
// type is known (see Compile).
func (pl *Plan) OutputType() record.Type { return pl.out }

// Topics is every topic the stage reads besides its from topics: the
// tables of join steps, then join_table's with table.
func (pl *Plan) Topics() []string {
	out := append([]string(nil), pl.tables...)
	if pl.joinTable != nil {
		out = append(out, pl.joinTable.With())
	}
	return out
}

// IsTable reports whether topic is read as a join step's table.
func (pl *Plan) IsTable(topic string) bool {
	for _, t := range pl.tables {
		if t == topic {
			return true
		}
	}
	return false
}

// JoinsTables reports whether the first step is join_table, and the topic
// of its with table.
func (pl *Plan) JoinsTables() (with string, ok bool) {
	if pl.joinTable == nil {
		return "", false
	}
	return pl.joinTable.With(), true
}

// Aggregates reports whether the plan has an aggregate step, whose state
// the stage keeps in a changelog.
func (pl *Plan) Aggregates() bool { return pl.aggregate }

// Partition is the state of one input partition.
type Partition struct {
	tables map[string]state.Store // join steps' tables by topic
	own    state.Store            // join_table: the stage's own input table
	with   state.Store            // join_table: the with table
	agg    *aggregate.State
}

// Runner runs a plan for the partitions one process owns. One goroutine
// uses it.
type Runner struct {
	plan    *Plan
	open    state.Open
	workers []*transforms.Worker // per part; nil for stateful parts
	joins   []*join.Worker       // per part; nil for other parts
	parts   map[int32]*Partition

	aggOuts []aggregate.Output
	changes []aggregate.Change
	// cur and next hold the records between parts, reused record after
	// record.
	cur, next []*record.Record
}

// NewRunner returns a runner keeping each partition's state in stores
// that open opens.
func (pl *Plan) NewRunner(opts expression.Options, open state.Open) *Runner {
	r := &Runner{plan: pl, open: open, parts: map[int32]*Partition{}}
	machine := opts.NewMachine() // shared by the join steps: one goroutine
	for _, p := range pl.parts {
		var w *transforms.Worker
		var jw *join.Worker
		switch {
		case p.chain != nil:
			w = p.chain.NewWorker()
		case p.join != nil:
			jw = p.join.NewWorker(machine)
		}
		r.workers = append(r.workers, w)
		r.joins = append(r.joins, jw)
	}
	return r
}

// Partition returns p's state, empty when new.
func (r *Runner) Partition(p int32) *Partition {
	ps := r.parts[p]
	if ps != nil {
		return ps
	}
	ps = &Partition{tables: map[string]state.Store{}}
	for _, t := range r.plan.tables {
		ps.tables[t] = r.open("join "+t, p)
	}
	if jt := r.plan.joinTable; jt != nil {
		ps.own, ps.with = r.open("join_table own", p), r.open("join_table "+jt.With(), p)
	}
	for _, pt := range r.plan.parts {
		if pt.agg != nil {
			ps.agg = pt.agg.NewStateIn(r.open("aggregate", p))
		}
	}
	r.parts[p] = ps
	return ps
}

// Release forgets p's state: the partition went to another process, or is
// about to be restored.
func (r *Runner) Release(p int32) { delete(r.parts, p) }

// ApplyTableRow records a row of the join step table topic.
func (ps *Partition) ApplyTableRow(topic string, key []byte, value any) {
	join.ApplyRow(ps.tables[topic], key, value)
}

// Changelogged reports whether the partition has aggregate state, kept in
// the stage's changelog.
func (ps *Partition) Changelogged() bool { return ps.agg != nil }

// Restore applies one changelog entry read back at start.
func (ps *Partition) Restore(key, value []byte) error { return ps.agg.Restore(key, value) }

// JoinTables updates the side of the join_table step that rec belongs to
// and returns the key's joined row as it now is, or a tombstone when the
// key has no joined row (any more).
func (r *Runner) JoinTables(ps *Partition, rec *record.Record, fromWith bool) *record.Record {
	return r.plan.joinTable.Apply(ps.own, ps.with, rec, fromWith)
}

// Run applies the parts from the first to rec and returns what comes out,
// with the changelog entries of the aggregate. The error names the step;
// the changelog entries come back with it too, because a step after the
// aggregate can fail after the aggregate changed its state. Both slices
// are reused by the next Run.
func (r *Runner) Run(ps *Partition, rec *record.Record) ([]*record.Record, []aggregate.Change, error) {
	r.changes = r.changes[:0]
	r.cur = append(r.cur[:0], rec)
	for i, pt := range r.plan.parts {
		next := r.next[:0]
		for _, in := range r.cur {
			var err error
			switch {
			case pt.chain != nil:
				next, err = r.workers[i].Apply(in, next)
				var se *transforms.StepError
				if errors.As(err, &se) {
					se.Index += pt.index // the chain counts from its own first step
				}
			case pt.join != nil:
				next, err = r.joins[i].Apply(ps.tables[pt.join.Table()], in, next)
			case pt.agg != nil:
				r.aggOuts, r.changes, err = ps.agg.Add(in, r.aggOuts[:0], r.changes)
				if err != nil {
					err = &transforms.StepError{Index: pt.index, Kind: "aggregate", Path: "aggregate", Err: err}
				}
				for _, o := range r.aggOuts {
					next = append(next, &record.Record{Key: o.Key, Value: o.Value, Timestamp: o.Timestamp, Topic: in.Topic, Partition: in.Partition, Offset: in.Offset})
				}
			}
			if err != nil {
				// The changes so far stand: the aggregate took the record in.
				r.next = next
				return nil, r.changes, err
			}
		}
		r.cur, r.next = next, r.cur
	}
	return r.cur, r.changes, nil
}
