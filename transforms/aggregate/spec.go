package aggregate

import (
	"fmt"
	"sync"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/state"
	json "github.com/goccy/go-json"
)

// Names of the window bounds in a windowed row.
const (
	WindowStart = "window_start"
	WindowEnd   = "window_end"
)

// Spec is a compiled aggregate step. It is immutable apart from handing out
// states, and safe to share across goroutines.
type Spec struct {
	by    *expression.Program // nil: group by the record key
	aggs  []aggSpec
	win   windowSpec
	final bool // emit: final
	out   record.Type

	opts expression.Options
	mu   sync.Mutex // NewState draws machine seeds from opts.Rand
}

// aggSpec is one compiled aggregation.
type aggSpec struct {
	name  string
	fn    fn
	expr  *expression.Program // nil only for count without an expression
	where *expression.Program // nil: every record takes part
	// prefix is the aggregation's opening in a changelog value,
	// {"name":...,"fn":..., computed once because names need JSON quoting.
	prefix []byte
}

// Compile checks and compiles the step. Every problem is reported, as
// pipeline.Errors positioned in the pipeline file, so a user fixes them in one
// pass.
func Compile(a *pipeline.Aggregate, opts expression.Options) (*Spec, error) {
	return CompileFor(a, opts, record.Type{})
}

// CompileFor is Compile for input values of type in: with an Object, the
// expressions are checked against it (see expression.CompileTyped) and
// OutputType describes the rows.
func CompileFor(a *pipeline.Aggregate, opts expression.Options, in record.Type) (*Spec, error) {
	if a == nil {
		return nil, fmt.Errorf("aggregate: no step to compile")
	}
	s := &Spec{opts: opts}
	var errs pipeline.Errors
	compile := func(e *pipeline.Expr, path string, kind expression.Kind) *expression.Program {
		ex := *e
		if ex.Path == "" {
			ex.Path = path
		}
		p, err := expression.CompileTyped(ex, opts, kind, in)
		errs.Add(ex.Pos, ex.Path, err)
		return p
	}

	if a.By != nil {
		s.by = compile(a.By, join(a.Path, "by"), expression.Any)
	}
	s.win = compileWindow(a.Window, a.Pos, join(a.Path, "window"), &errs)

	if len(a.Values) == 0 {
		errs.Addf(a.Pos, join(a.Path, "values"), "want at least one aggregation, such as total: {sum: amount}")
	}
	seen := make(map[string]bool, len(a.Values))
	for _, ag := range a.Values {
		path := ag.Path
		if path == "" {
			path = join(a.Path, "values."+ag.Name)
		}
		pos := ag.Pos
		if pos == (pipeline.Pos{}) {
			pos = a.Pos
		}
		f, ok := parseFn(ag.Func)
		switch {
		case ag.Name == "":
			errs.Addf(pos, path, "an aggregation needs a name")
		case seen[ag.Name]:
			errs.Addf(pos, path, "duplicate aggregation name %q", ag.Name)
		case s.win.kind != unwindowed && (ag.Name == WindowStart || ag.Name == WindowEnd):
			errs.Addf(pos, path, "%s is the name of a window bound in a windowed row: pick another name", ag.Name)
		}
		seen[ag.Name] = true
		if !ok {
			errs.Addf(pos, path, "unknown aggregation function %q", ag.Func)
			continue
		}
		as := aggSpec{name: ag.Name, fn: f, prefix: changelogPrefix(ag.Name, f)}
		if ag.Expr != nil {
			as.expr = compile(ag.Expr, join(path, ag.Func), expression.Any)
		} else if f != fnCount {
			errs.Addf(pos, path, "%s needs an expression, such as %s: {%s: amount}", ag.Func, ag.Name, ag.Func)
		}
		if ag.Where != nil {
			as.where = compile(ag.Where, join(path, "where"), expression.Bool)
		}
		s.aggs = append(s.aggs, as)
	}

	switch a.Emit {
	case "", pipeline.EmitChanges:
	case pipeline.EmitFinal:
		s.final = true
		if a.Window == nil {
			errs.Addf(a.Pos, join(a.Path, "emit"), "emit: final needs a window: without one an aggregate never closes")
		}
	default:
		errs.Addf(a.Pos, join(a.Path, "emit"), "unknown emit mode %q: want changes or final", a.Emit)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if in.Kind == record.Object {
		s.out = s.rowType()
	}
	return s, nil
}

// OutputType is the type of the rows the step emits: Unknown when the
// input's type was, so that a pipeline without schemas checks what it
// always did.
func (s *Spec) OutputType() record.Type { return s.out }

// rowType is the type of a row: each aggregation's result, and the window
// bounds. The group is the row's key, not one of its fields.
func (s *Spec) rowType() record.Type {
	t := record.Type{Kind: record.Object}
	for _, a := range s.aggs {
		var in record.Type
		if a.expr != nil {
			in = a.expr.Type()
		}
		t.Fields = append(t.Fields, record.Field{Name: a.name, Type: resultType(a.fn, in)})
	}
	if s.win.kind != unwindowed {
		t.Fields = append(t.Fields,
			record.Field{Name: WindowStart, Type: record.Type{Kind: record.Text}},
			record.Field{Name: WindowEnd, Type: record.Type{Kind: record.Text}})
	}
	return t
}

// compileWindow converts the window to milliseconds, the resolution of
// Kafka timestamps and of the changelog.
func compileWindow(w *pipeline.Window, pos pipeline.Pos, path string, errs *pipeline.Errors) windowSpec {
	if w == nil {
		return windowSpec{}
	}
	if w.Pos != (pipeline.Pos{}) {
		pos = w.Pos
	}
	if w.Path != "" {
		path = w.Path
	}
	ms := func(d pipeline.Duration, name string) int64 {
		v := time.Duration(d)
		if v%time.Millisecond != 0 {
			errs.Addf(pos, join(path, name), "%s must be a whole number of milliseconds, the resolution of record timestamps", v)
		}
		return v.Milliseconds()
	}
	ws := windowSpec{grace: ms(w.Grace, "grace")}
	if ws.grace < 0 {
		errs.Addf(pos, join(path, "grace"), "must not be negative")
	}
	kinds := 0
	if w.Tumbling > 0 {
		kinds++
		ws.kind, ws.size = tumbling, ms(w.Tumbling, "tumbling")
	}
	if w.Hopping > 0 {
		kinds++
		ws.kind, ws.size, ws.advance = hopping, ms(w.Hopping, "hopping"), ms(w.Advance, "advance")
		if ws.advance <= 0 || ws.advance > ws.size {
			errs.Addf(pos, join(path, "advance"), "a hopping window needs advance, more than 0 and at most its size")
		}
	}
	if w.Session > 0 {
		kinds++
		ws.kind, ws.size = session, ms(w.Session, "session")
	}
	if kinds != 1 {
		errs.Addf(pos, path, "a window is one of tumbling, hopping or session, with its size")
	} else if ws.size <= 0 {
		errs.Addf(pos, path, "a window needs a size of at least 1ms")
	}
	return ws
}

// NewState returns the empty state of one input partition, kept in memory.
// The state owns an expression machine, so it is for one goroutine.
func (s *Spec) NewState() *State { return s.NewStateIn(state.NewMemory()) }

// NewStateIn returns the state of one input partition with its groups in
// groups, an empty store. The open windows' close order is an index kept
// in memory beside it.
func (s *Spec) NewStateIn(groups state.Store) *State {
	s.mu.Lock()
	m := s.opts.NewMachine()
	s.mu.Unlock()
	st := &State{spec: s, machine: m, groups: groups, inputs: make([]input, len(s.aggs))}
	st.heap.grace = s.win.grace
	return st
}

// Windowed reports whether rows carry window bounds.
func (s *Spec) Windowed() bool { return s.win.kind != unwindowed }

// Final reports whether the step emits each window once, when it closes.
func (s *Spec) Final() bool { return s.final }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// changelogPrefix is `{"name":NAME,"fn":FN` with NAME quoted as JSON.
func changelogPrefix(name string, f fn) []byte {
	q, err := json.Marshal(name)
	if err != nil {
		panic(err) // a string always marshals
	}
	b := append([]byte(`{"name":`), q...)
	b = append(b, `,"fn":"`...)
	b = append(b, f.String()...)
	return append(b, '"')
}
