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
	"slices"
	"strings"
	"sync"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Chain is a compiled steps list. It is immutable apart from handing out
// workers, and safe to share.
type Chain struct {
	steps    []step
	opts     expression.Options
	internal map[string]string
	in, out  record.Type                    // of the values going in and coming out
	topics   func(topic string) record.Type // nil: no topic has a known type
	mu       sync.Mutex                     // NewWorker draws seeds from opts.Rand
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

// InputType says what the chain's input values are, for checks at compile
// time: with an Object, each step's expressions are compiled against the
// type the steps before it leave (see expression.CompileTyped). The zero
// Type checks nothing. A later InputType wins over an earlier one.
func InputType(t record.Type) Option {
	return func(c *Chain) { c.in = t }
}

// TopicTypes gives the value type of a topic, for the steps that read
// another topic (join, join_table: see package stateful).
func TopicTypes(typeOf func(topic string) record.Type) Option {
	return func(c *Chain) { c.topics = typeOf }
}

// OptionTypes reads the types options give: the input type, and a topic's
// type (Unknown for every topic when no TopicTypes option is given).
func OptionTypes(options ...Option) (in record.Type, topic func(string) record.Type) {
	var c Chain
	for _, o := range options {
		o(&c)
	}
	if c.topics == nil {
		return c.in, func(string) record.Type { return record.Type{} }
	}
	return c.in, c.topics
}

// TopicsType is the type of values read from topics: the type they share
// (field docs aside), or Unknown when they differ (or there are none).
func TopicsType(topics []string, typeOf func(topic string) record.Type) record.Type {
	if len(topics) == 0 {
		return record.Type{}
	}
	t := typeOf(topics[0])
	for _, topic := range topics[1:] {
		if !sameType(typeOf(topic), t) {
			return record.Type{}
		}
	}
	return t
}

// OutputType is what the steps make of values of the input type: Unknown
// when the input type is, or a step's result cannot be told.
func (c *Chain) OutputType() record.Type { return c.out }

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
	typ := c.in
	for i, s := range steps {
		st := step{name: s.Kind, index: i, internal: c.internal}
		var ok bool
		typ, ok = compileStep(&st, s, opts, typ, &errs)
		if ok {
			c.steps = append(c.steps, st)
		}
	}
	c.out = typ
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

// compileStep compiles s for values of type in and returns the type of the
// values it yields. Once that is not an Object, later steps check nothing
// but what the untyped compile does.
func compileStep(st *step, s pipeline.Step, opts expression.Options, in record.Type, errs *pipeline.Errors) (record.Type, bool) {
	before := len(*errs)
	out := in
	compile := func(e *pipeline.Expr, sub string, kind expression.Kind) *expression.Program {
		if e == nil {
			errs.Addf(s.Pos, s.Path, "%s needs an expression", s.Kind)
			return nil
		}
		ex := *e
		if ex.Path == "" {
			ex.Path = s.Path + "." + sub
		}
		p, err := expression.CompileTyped(ex, opts, kind, out)
		errs.Add(ex.Pos, ex.Path, err)
		return p
	}
	named := func(fs []pipeline.Field, kind string) []field {
		if len(fs) == 0 {
			errs.Addf(s.Pos, s.Path, "%s needs at least one field", kind)
		}
		fields := make([]field, 0, len(fs))
		for _, f := range fs {
			sub := kind + "." + f.Name
			switch {
			case f.Name == "":
				errs.Addf(f.Expr.Pos, s.Path+"."+kind, "%s has an empty name", kind)
			case kind == "set" && expression.IsReserved(f.Name):
				errs.Addf(f.Expr.Pos, pathOr(f.Expr.Path, s.Path+"."+sub), "%s is reserved for record metadata%s", f.Name, reservedHint(f.Name))
			}
			p := compile(&f.Expr, sub, expression.Any)
			fields = append(fields, field{name: f.Name, path: sub, prog: p})
			if kind == "set" && f.Name != "" {
				// Later fields see earlier ones.
				out = WithField(out, f.Name, resultType(p))
			}
		}
		return fields
	}
	fieldList := func(names []string) []string {
		if len(names) == 0 {
			errs.Addf(s.Pos, s.Path, "%s needs at least one field", s.Kind)
		}
		for _, n := range names {
			if n == "" {
				errs.Addf(s.Pos, s.Path, "%s has an empty field name", s.Kind)
			} else if _, ok := out.Field(n); !ok && out.Kind == record.Object && !out.Open {
				errs.Addf(s.Pos, s.Path+"."+s.Kind, "%s", expression.UnknownField(n, out.Names()))
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
		out = resultType(st.prog)
	case "drop":
		st.kind, st.names = kindDrop, fieldList(s.Drop)
		out = withoutFields(out, func(name string) bool { return slices.Contains(st.names, name) })
	case "keep":
		st.kind, st.names = kindKeep, fieldList(s.Keep)
		out = kept(out, st.names)
	case "rename":
		st.kind, st.renames = kindRename, s.Rename
		if len(s.Rename) == 0 {
			errs.Addf(s.Pos, s.Path, "rename needs at least one field")
		}
		for _, r := range s.Rename {
			if r.From == "" || r.To == "" {
				errs.Addf(r.Pos, s.Path+".rename", "rename needs a field name on both sides, got %q: %q", r.From, r.To)
				continue
			}
			var err error
			if out, err = renamed(out, r.From, r.To); err != nil {
				errs.Add(r.Pos, s.Path+".rename."+r.From, err)
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
		default:
			var elem record.Type
			if list := resultType(st.prog); list.Kind == record.List && list.Elem != nil {
				elem = *list.Elem
			}
			out = WithField(out, st.as, elem)
		}
	default:
		if s.Stateful() {
			errs.Addf(s.Pos, s.Path, "%s keeps state: it is a step of transforms only", s.Kind)
			break
		}
		errs.Addf(s.Pos, s.Path, "unknown step %q, want one of %s", s.Kind, strings.Join(pipeline.StepKinds, ", "))
	}
	return out, len(*errs) == before
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
