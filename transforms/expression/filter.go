package expression

import (
	"errors"
	"fmt"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Filter is a boolean expression given outside pipeline files (a command's
// --where, the console's filter) that picks records: value fields by name,
// _key, _headers["name"], _topic, _partition, _offset, _timestamp, as in a
// stage's steps. runner dlq replay and the topic browser share it, so a
// filter means the same in both. A Filter is for one goroutine.
type Filter struct {
	prog    *Program
	machine *Machine
	env     Env
}

// CompileFilter compiles src; name says where it came from in errors
// (`--where "qty >": column 6: ...`).
func CompileFilter(name, src string) (*Filter, error) {
	prog, err := Compile(pipeline.Expr{Src: src, Path: name, Pos: pipeline.Pos{Line: 1}, Col0: 1}, Options{}, Bool)
	if err != nil {
		var ce *pipeline.Error
		if errors.As(err, &ce) {
			err = fmt.Errorf("%s %q: column %d: %w", name, src, ce.Pos.Col, ce.Err)
		}
		return nil, err
	}
	return &Filter{prog: prog, machine: Options{}.NewMachine()}, nil
}

// Source is the expression as given.
func (f *Filter) Source() string { return f.prog.Source() }

// Match reports whether r passes the filter. An error is the expression
// failing on r (a field of the wrong type, say).
func (f *Filter) Match(r *record.Record) (bool, error) {
	f.env.Reset(r)
	ok, err := f.machine.RunBool(f.prog, &f.env)
	f.env.Reset(nil)
	return ok, err
}
