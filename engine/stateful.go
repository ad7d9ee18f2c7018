package engine

import (
	"errors"
	"fmt"
	"maps"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/aggregate"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// statefulPlan is a transform's steps when some keep state: runs of
// stateless steps compiled as chains, between the stateful ones.
type statefulPlan struct {
	parts     []part
	tables    []string            // topics read as tables for join steps
	joinTable *pipeline.JoinTable // set when the first step is join_table
	aggregate bool                // an aggregate step: the stage has a changelog
}

// part is one piece of a stateful plan: exactly one field is set.
type part struct {
	index int // the step index of the part's first step, for errors
	chain *transforms.Chain
	join  *joinStep
	agg   *aggregate.Spec
}

type joinStep struct {
	table, as string
	key       *expression.Program // nil: the record key
	typ       pipeline.JoinType
}

// compileStateful compiles a transform whose steps include stateful ones,
// reporting what cannot work: several aggregates, join_table not first.
func compileStateful(t *pipeline.Transform, opts expression.Options, errs *pipeline.Errors, options ...transforms.Option) *statefulPlan {
	pl := &statefulPlan{}
	var run []pipeline.Step
	runStart := 0
	flush := func() {
		if len(run) == 0 {
			return
		}
		ch, err := transforms.Compile(run, opts, options...)
		errs.Add(t.Pos, t.Path+".steps", err)
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
			pl.joinTable = s.JoinTable
		case s.Join != nil:
			js := &joinStep{table: s.Join.Table, as: s.Join.As, typ: s.Join.Type}
			if s.Join.Key != nil {
				p, err := expression.Compile(*s.Join.Key, opts, expression.Any)
				errs.Add(s.Join.Key.Pos, s.Join.Key.Path, err)
				js.key = p
			}
			pl.tables = append(pl.tables, s.Join.Table)
			pl.parts = append(pl.parts, part{index: i, join: js})
		case s.Aggregate != nil:
			if pl.aggregate {
				errs.Addf(s.Pos, s.Path, "one aggregate per stage: write the first one's output to a topic and aggregate it in another stage")
				continue
			}
			spec, err := aggregate.Compile(s.Aggregate, opts)
			errs.Add(s.Pos, s.Path, err)
			pl.aggregate = true
			pl.parts = append(pl.parts, part{index: i, agg: spec})
		}
	}
	flush()
	return pl
}

// topics is every topic the stage reads besides its from topics.
func (pl *statefulPlan) topics() []string {
	out := append([]string(nil), pl.tables...)
	if pl.joinTable != nil {
		out = append(out, pl.joinTable.With)
	}
	return out
}

// partState is the state of one input partition.
type partState struct {
	tables map[string]map[string]any // join tables: topic, key, row
	left   map[string]any            // join_table: the stage's own input table
	right  map[string]any            // join_table: the with table
	agg    *aggregate.State
}

// stageState runs a stateful plan for the partitions this process owns.
// One goroutine uses it.
type stageState struct {
	plan    *statefulPlan
	workers []*transforms.Worker // per part; nil for stateful parts
	machine *expression.Machine
	env     expression.Env
	parts   map[int32]*partState

	aggOuts []aggregate.Output
	changes []aggregate.Change
	// cur and next hold the records between parts, reused record after
	// record.
	cur, next []*record.Record
}

func newStageState(pl *statefulPlan, opts expression.Options) *stageState {
	s := &stageState{plan: pl, parts: map[int32]*partState{}, machine: opts.NewMachine()}
	for _, p := range pl.parts {
		var w *transforms.Worker
		if p.chain != nil {
			w = p.chain.NewWorker()
		}
		s.workers = append(s.workers, w)
	}
	return s
}

// partition returns p's state, empty when new.
func (s *stageState) partition(p int32) *partState {
	ps := s.parts[p]
	if ps == nil {
		ps = &partState{tables: map[string]map[string]any{}, left: map[string]any{}, right: map[string]any{}}
		for _, t := range s.plan.tables {
			ps.tables[t] = map[string]any{}
		}
		for _, pt := range s.plan.parts {
			if pt.agg != nil {
				ps.agg = pt.agg.NewState()
			}
		}
		s.parts[p] = ps
	}
	return ps
}

// isTable reports whether topic is read as a join step's table.
func (s *stageState) isTable(topic string) bool {
	for _, t := range s.plan.tables {
		if t == topic {
			return true
		}
	}
	return false
}

// applyTable records a table row: the latest value per key, a null value
// deleting it.
func applyTable(rows map[string]any, key []byte, value any) {
	if value == nil {
		delete(rows, string(key))
		return
	}
	rows[string(key)] = value
}

// joinTables updates the side of a join_table that rec belongs to and
// returns the key's joined row as it now is: the stage's own row with the
// other table's row in field as, or a tombstone when the key no longer has
// a joined row (inner: both sides needed; left: the own side; outer:
// either).
func (s *stageState) joinTables(ps *partState, rec *record.Record, fromWith bool) *record.Record {
	jt := s.plan.joinTable
	if fromWith {
		applyTable(ps.right, rec.Key, rec.Value)
	} else {
		applyTable(ps.left, rec.Key, rec.Value)
	}
	left, hasLeft := ps.left[string(rec.Key)]
	right, hasRight := ps.right[string(rec.Key)]
	exists := hasLeft && hasRight
	switch jt.Type {
	case pipeline.Left:
		exists = hasLeft
	case pipeline.Outer:
		exists = hasLeft || hasRight
	}
	out := *rec
	out.Raw, out.Headers, out.Value = nil, nil, nil
	if !exists {
		return &out
	}
	value := map[string]any{}
	if obj, ok := left.(map[string]any); ok {
		maps.Copy(value, obj)
	}
	value[jt.As] = right // nil when missing (left and outer joins)
	out.Value = value
	return &out
}

// run applies the parts from the first to recs and returns what comes out,
// with the changelog entries of the aggregate. The error names the step;
// the changelog entries come back with it too, because a step after the
// aggregate can fail after the aggregate changed its state.
func (s *stageState) run(ps *partState, rec *record.Record) ([]*record.Record, []aggregate.Change, error) {
	s.changes = s.changes[:0]
	s.cur = append(s.cur[:0], rec)
	for i, pt := range s.plan.parts {
		next := s.next[:0]
		for _, r := range s.cur {
			var err error
			switch {
			case pt.chain != nil:
				next, err = s.workers[i].Apply(r, next)
				var se *transforms.StepError
				if errors.As(err, &se) {
					se.Index += pt.index // the chain counts from its own first step
				}
			case pt.join != nil:
				next, err = s.join(ps, pt.join, pt.index, r, next)
			case pt.agg != nil:
				s.aggOuts, s.changes, err = ps.agg.Add(r, s.aggOuts[:0], s.changes)
				if err != nil {
					err = &transforms.StepError{Index: pt.index, Kind: "aggregate", Path: "aggregate", Err: err}
				}
				for _, o := range s.aggOuts {
					next = append(next, &record.Record{Key: o.Key, Value: o.Value, Timestamp: o.Timestamp, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
				}
			}
			if err != nil {
				// The changes so far stand: the aggregate took the record in.
				s.next = next
				return nil, s.changes, err
			}
		}
		s.cur, s.next = next, s.cur
	}
	return s.cur, s.changes, nil
}

// join enriches r with its table row; an inner join drops r without one.
// A tombstone has no field to put the row in: it passes unchanged, so a
// deletion reaches the stage's output.
func (s *stageState) join(ps *partState, j *joinStep, index int, r *record.Record, out []*record.Record) ([]*record.Record, error) {
	if r.Value == nil {
		return append(out, r), nil
	}
	key := string(r.Key)
	if j.key != nil {
		s.env.Reset(r)
		v, err := s.machine.Run(j.key, &s.env)
		s.env.Reset(nil)
		if err == nil {
			key, err = expression.Text(v)
		}
		if err != nil {
			return out, &transforms.StepError{Index: index, Kind: "join", Path: "join.key", Err: err}
		}
	}
	row, ok := ps.tables[j.table][key]
	if !ok && j.typ == pipeline.Inner {
		return out, nil
	}
	obj, isObj := r.Value.(map[string]any)
	if !isObj {
		return out, &transforms.StepError{Index: index, Kind: "join", Path: "join", Err: fmt.Errorf("join needs an object value, got %s", expression.TypeName(r.Value))}
	}
	obj[j.as] = row
	return append(out, r), nil
}
