// Package join is the join steps: join enriches each record with its row in
// a table read from a topic; join_table joins the stage's own input table
// with another table by key. Both keep their tables in state.Store, one per
// input partition, which the engine fills from the table topics.
package join

import (
	"fmt"
	"maps"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/state"
)

// ApplyRow records a table row in rows: the latest value per key, a null
// value deleting it.
func ApplyRow(rows state.Store, key []byte, value any) {
	if value == nil {
		rows.Delete(key)
		return
	}
	rows.Put(key, value)
}

// Step is a compiled join step. It is immutable: a Worker runs it.
type Step struct {
	table, as string
	key       *expression.Program // nil: the record key
	typ       pipeline.JoinType
	index     int // in the stage's steps, for errors
}

// Compile compiles the join step at index of a stage's steps, for input
// values of type in (see expression.CompileTyped). The error is the key
// expression's, at j.Key's position; the step comes back with it, for the
// rest of the plan to compile.
func Compile(j *pipeline.Join, index int, opts expression.Options, in record.Type) (*Step, error) {
	s := &Step{table: j.Table, as: j.As, typ: j.Type, index: index}
	if j.Key == nil {
		return s, nil
	}
	p, err := expression.CompileTyped(*j.Key, opts, expression.Any, in)
	s.key = p
	return s, err
}

// OutputType is the type of the values the step passes on, for input
// values of type in and table rows of type row: in with the row in field
// as, null when a left join finds none.
func (s *Step) OutputType(in, row record.Type) record.Type {
	return transforms.WithField(in, s.as, joined(row, s.typ))
}

// joined is a table's row type in a joined value: nullable unless the join
// is inner, which only emits a value when there is a row.
func joined(row record.Type, typ pipeline.JoinType) record.Type {
	if typ == pipeline.Left || typ == pipeline.Outer {
		row.Nullable = true
	}
	return row
}

// Table is the topic read as the step's table.
func (s *Step) Table() string { return s.table }

// Worker runs a join step on one goroutine.
type Worker struct {
	step    *Step
	machine *expression.Machine
	env     expression.Env
	key     []byte // the lookup key of a key expression, reused
}

// NewWorker returns a worker evaluating the key expression on machine,
// which the caller may share between the steps it runs on one goroutine.
func (s *Step) NewWorker(machine *expression.Machine) *Worker {
	return &Worker{step: s, machine: machine}
}

// Apply enriches r with its row in rows and appends it to out; an inner
// join drops r without one. A tombstone has no field to put the row in: it
// passes unchanged, so a deletion reaches the stage's output.
func (w *Worker) Apply(rows state.Store, r *record.Record, out []*record.Record) ([]*record.Record, error) {
	if r.Value == nil {
		return append(out, r), nil
	}
	j := w.step
	key := r.Key
	if j.key != nil {
		w.env.Reset(r)
		v, err := w.machine.Run(j.key, &w.env)
		w.env.Reset(nil)
		var text string
		if err == nil {
			text, err = expression.Text(v)
		}
		if err != nil {
			return out, &transforms.StepError{Index: j.index, Kind: "join", Path: "join.key", Err: err}
		}
		w.key = append(w.key[:0], text...)
		key = w.key
	}
	row, ok := rows.Get(key)
	if !ok && j.typ == pipeline.Inner {
		return out, nil
	}
	obj, isObj := r.Value.(map[string]any)
	if !isObj {
		return out, &transforms.StepError{Index: j.index, Kind: "join", Path: "join", Err: fmt.Errorf("join needs an object value, got %s", expression.TypeName(r.Value))}
	}
	obj[j.as] = row
	return append(out, r), nil
}

// Tables is a compiled join_table step: the stage's own input table joined
// with the with table.
type Tables struct {
	with, as string
	typ      pipeline.JoinType
}

// CompileTables compiles a join_table step.
func CompileTables(jt *pipeline.JoinTable) *Tables {
	return &Tables{with: jt.With, as: jt.As, typ: jt.Type}
}

// With is the other table's topic.
func (t *Tables) With() string { return t.with }

// OutputType is the type of the joined rows, for own rows of type own and
// with rows of type with: own with the with row in field as.
func (t *Tables) OutputType(own, with record.Type) record.Type {
	return transforms.WithField(own, t.as, joined(with, t.typ))
}

// Apply updates the side of the join that rec belongs to (own: the stage's
// input table; with: the other) and returns the key's joined row as it now
// is: the own row with the other table's row in field as, or a tombstone
// when the key no longer has a joined row (inner: both sides needed; left:
// the own side; outer: either).
func (t *Tables) Apply(own, with state.Store, rec *record.Record, fromWith bool) *record.Record {
	if fromWith {
		ApplyRow(with, rec.Key, rec.Value)
	} else {
		ApplyRow(own, rec.Key, rec.Value)
	}
	left, hasLeft := own.Get(rec.Key)
	right, hasRight := with.Get(rec.Key)
	exists := hasLeft && hasRight
	switch t.typ {
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
	value[t.as] = right // nil when missing (left and outer joins)
	out.Value = value
	return &out
}
