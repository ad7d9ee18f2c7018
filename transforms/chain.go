// Package transforms runs a stage's steps: list over each record.
//
// Compile turns the list into a Chain once, when the pipeline loads; every
// goroutine then takes its own Worker and calls Apply per record. Apply
// appends the records that come out: none when a filter drops the record
// (counted by Worker.Filtered) or an explode has an empty list, one
// normally, several after an explode.
//
// Steps run in order and each sees the previous ones' results:
//
//	filter: EXPR             false or null drops the record
//	assert: {expr, message}  false or null fails the record with message
//	set: {field: EXPR}       sets fields in order; later ones see earlier ones
//	map: EXPR                replaces the whole value
//	drop: [field]            removes fields; missing ones are ignored
//	keep: [field]            removes every other field
//	rename: {old: new}       renames fields; missing ones are ignored
//	key: EXPR                sets the key: text as is, numbers and bools
//	                         formatted, lists and objects as JSON, null a null key
//	headers: {name: EXPR}    sets headers, formatted as keys; null removes one
//	to: EXPR                 sends the record to another topic
//	explode: {expr, as}      one record per element of the list EXPR yields,
//	                         each a copy of the value with field as set to it
//
// set may not name a reserved metadata field (_key, _headers, ...): use the
// key, headers, to or map step instead. A map step's object result is copied
// when steps follow it, because it may be data the record does not own, such
// as a var.
//
// Tombstones (a nil value) have no fields and _value is null: filter, assert,
// map, key, headers and to run on them (a map may turn one into a value, and
// map: nil makes one); set, explode, drop, keep and rename, which need an
// object, pass them on unchanged, as Kafka Connect's transforms do. A failing
// record comes back as a *StepError naming the step, for the stage's
// on_error.
package transforms

import (
	"fmt"
	"strings"
	"sync"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Chain is a compiled steps list. It is immutable apart from handing out
// workers, and safe to share.
type Chain struct {
	steps    []step
	opts     expression.Options
	internal map[string]string
	mu       sync.Mutex // NewWorker draws seeds from opts.Rand
}

// Option tunes Compile.
type Option func(*Chain)

// InternalTopics names topics that to steps may not route records into,
// each with what it is: the pipeline's own cursor, changelog and
// dead-letter topics. Names starting with "_" are refused whatever this
// says: they are Kafka's and its platform's (__consumer_offsets,
// __transaction_state, _schemas).
func InternalTopics(topics map[string]string) Option {
	return func(c *Chain) { c.internal = topics }
}

type stepKind uint8

const (
	kindFilter stepKind = iota
	kindAssert
	kindSet
	kindMap
	kindDrop
	kindKeep
	kindRename
	kindKey
	kindHeaders
	kindTo
	kindExplode
)

// step is one compiled step; which fields are set depends on kind.
type step struct {
	kind     stepKind
	name     string // the step's YAML name, for errors
	index    int
	prog     *expression.Program // filter, assert, map, key, to, explode
	fields   []field             // set, headers
	names    []string            // drop, keep
	renames  []pipeline.Rename
	message  string            // assert
	as       string            // explode
	clone    bool              // map: steps follow, so copy an object result
	internal map[string]string // to: topics it may not write
}

// field is one named expression of set or headers.
type field struct {
	name string
	path string // "set.total", for errors
	prog *expression.Program
}

// Compile compiles every step and reports every problem found, as
// pipeline.Errors, so a user fixes them in one pass.
func Compile(steps []pipeline.Step, opts expression.Options, options ...Option) (*Chain, error) {
	c := &Chain{opts: opts}
	for _, o := range options {
		o(c)
	}
	var errs pipeline.Errors
	for i, s := range steps {
		st := step{name: s.Kind, index: i, internal: c.internal}
		ok := compileStep(&st, s, opts, &errs)
		if ok {
			c.steps = append(c.steps, st)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	// A map step may return an object the record does not own (a var, the
	// _headers object): later steps edit the value and expressions run
	// against it, so they get a copy. The last step's result is only encoded.
	for i := range c.steps {
		c.steps[i].clone = c.steps[i].kind == kindMap && i < len(c.steps)-1
	}
	return c, nil
}

// Len returns the number of steps.
func (c *Chain) Len() int { return len(c.steps) }

func compileStep(st *step, s pipeline.Step, opts expression.Options, errs *pipeline.Errors) bool {
	before := len(*errs)
	compile := func(e *pipeline.Expr, sub string, kind expression.Kind) *expression.Program {
		if e == nil {
			errs.Addf(s.Pos, s.Path, "%s needs an expression", s.Kind)
			return nil
		}
		ex := *e
		if ex.Path == "" {
			ex.Path = s.Path + "." + sub
		}
		p, err := expression.Compile(ex, opts, kind)
		errs.Add(ex.Pos, ex.Path, err)
		return p
	}
	named := func(fs []pipeline.Field, kind string) []field {
		if len(fs) == 0 {
			errs.Addf(s.Pos, s.Path, "%s needs at least one field", kind)
		}
		out := make([]field, 0, len(fs))
		for _, f := range fs {
			sub := kind + "." + f.Name
			switch {
			case f.Name == "":
				errs.Addf(f.Expr.Pos, s.Path+"."+kind, "%s has an empty name", kind)
			case kind == "set" && expression.IsReserved(f.Name):
				errs.Addf(f.Expr.Pos, pathOr(f.Expr.Path, s.Path+"."+sub), "%s is reserved for record metadata%s", f.Name, reservedHint(f.Name))
			}
			out = append(out, field{name: f.Name, path: sub, prog: compile(&f.Expr, sub, expression.Any)})
		}
		return out
	}
	fieldList := func(names []string) []string {
		if len(names) == 0 {
			errs.Addf(s.Pos, s.Path, "%s needs at least one field", s.Kind)
		}
		for _, n := range names {
			if n == "" {
				errs.Addf(s.Pos, s.Path, "%s has an empty field name", s.Kind)
			}
		}
		return names
	}

	switch s.Kind {
	case "filter":
		st.kind, st.prog = kindFilter, compile(s.Filter, "filter", expression.Bool)
	case "assert":
		st.kind = kindAssert
		if s.Assert == nil {
			errs.Addf(s.Pos, s.Path, "assert needs an expression")
			break
		}
		st.prog = compile(&s.Assert.Expr, "assert.expr", expression.Bool)
		st.message = s.Assert.Message
		if st.message == "" {
			st.message = "assertion failed: " + s.Assert.Expr.Src
		}
	case "set":
		st.kind, st.fields = kindSet, named(s.Set, "set")
	case "map":
		st.kind, st.prog = kindMap, compile(s.Map, "map", expression.Any)
	case "drop":
		st.kind, st.names = kindDrop, fieldList(s.Drop)
	case "keep":
		st.kind, st.names = kindKeep, fieldList(s.Keep)
	case "rename":
		st.kind, st.renames = kindRename, s.Rename
		if len(s.Rename) == 0 {
			errs.Addf(s.Pos, s.Path, "rename needs at least one field")
		}
		for _, r := range s.Rename {
			if r.From == "" || r.To == "" {
				errs.Addf(r.Pos, s.Path+".rename", "rename needs a field name on both sides, got %q: %q", r.From, r.To)
			}
		}
	case "key":
		st.kind, st.prog = kindKey, compile(s.Key, "key", expression.Any)
	case "headers":
		st.kind, st.fields = kindHeaders, named(s.Headers, "headers")
	case "to":
		st.kind, st.prog = kindTo, compile(s.To, "to", expression.Any)
		if s.To != nil {
			// The names it can yield that are written out: refused now,
			// not record by record.
			lits, _ := pipeline.ResultLiterals(*s.To)
			for _, l := range lits {
				if err := InternalTopic(l.Value, st.internal); err != nil {
					errs.Add(l.Pos, pathOr(s.To.Path, s.Path+".to"), err)
				}
			}
		}
	case "explode":
		st.kind = kindExplode
		if s.Explode == nil {
			errs.Addf(s.Pos, s.Path, "explode needs an expression")
			break
		}
		st.prog = compile(&s.Explode.Expr, "explode.expr", expression.Any)
		st.as = s.Explode.As
		switch {
		case st.as == "":
			errs.Addf(s.Pos, s.Path+".explode", "explode needs as: the field that receives each element")
		case expression.IsReserved(st.as):
			errs.Addf(s.Pos, s.Path+".explode.as", "%s is reserved for record metadata", st.as)
		}
	default:
		if s.Stateful() {
			errs.Addf(s.Pos, s.Path, "%s keeps state: it is a step of transforms only", s.Kind)
			break
		}
		errs.Addf(s.Pos, s.Path, "unknown step %q, want one of %s", s.Kind, strings.Join(pipeline.StepKinds, ", "))
	}
	return len(*errs) == before
}

func pathOr(path, fallback string) string {
	if path != "" {
		return path
	}
	return fallback
}

func reservedHint(name string) string {
	switch name {
	case "_key":
		return ": use a key step to set the record key"
	case "_headers":
		return ": use a headers step to set headers"
	case "_topic":
		return ": use a to step to choose the destination topic"
	case "_value":
		return ": use a map step to replace the value"
	}
	return ""
}

// StepError is a record that a step rejected, with what the engine puts in
// dead-letter headers.
type StepError struct {
	Index int    // position in the steps list, from 0
	Kind  string // filter, set, ...
	Path  string // within the step: "set.total", "headers.trace", "filter"
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("steps[%d] %s: %v", e.Index, e.Path, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
