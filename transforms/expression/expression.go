package expression

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Options is what every expression of a pipeline shares.
type Options struct {
	// Vars are the pipeline's constants, visible by name in every expression
	// unless the record value has a field of the same name. Programs only read
	// them, so they may be shared across goroutines.
	Vars map[string]any
	// Rand seeds the random built-ins of each Machine made by NewMachine, so
	// a seeded pipeline is repeatable. Nil means a random seed.
	Rand *rand.Rand
}

// NewMachine returns a Machine for one goroutine. Its random built-ins draw
// from a private generator seeded with two draws from o.Rand, so machines
// never share a generator. It reads o.Rand: callers that share Options
// across goroutines must serialise calls.
func (o Options) NewMachine() *Machine {
	if o.Rand == nil {
		return &Machine{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	}
	return &Machine{rng: rand.New(rand.NewPCG(o.Rand.Uint64(), o.Rand.Uint64()))}
}

// Kind is the result type a program must have.
type Kind int

// The result kinds.
const (
	Any  Kind = iota // any value
	Bool             // a bool; null counts as false (filters, asserts)
)

func (k Kind) String() string {
	if k == Bool {
		return "bool"
	}
	return "any"
}

// Program is one compiled expression. It is immutable and safe to share
// across goroutines; run it with a Machine.
type Program struct {
	src  string
	kind Kind
	prog *vm.Program

	meta       []metaName // metadata names the source mentions
	vars       []binding  // vars the source mentions
	readsValue bool       // mentions _value: needs a scratch env, see Machine.Run
	random     bool       // calls a random built-in: needs the machine's generator
	typ        record.Type
}

type binding struct {
	name  string
	value any
}

// Source returns the expression text.
func (p *Program) Source() string { return p.src }

// Kind returns the result kind the program was compiled for.
func (p *Program) Kind() Kind { return p.kind }

// Type is what the checker knows of the program's result: Unknown when it
// was compiled without a type (Compile), or the checker cannot tell.
func (p *Program) Type() record.Type { return p.typ }

// randName is the hidden variable through which random built-ins receive the
// machine's generator; a Program itself holds no mutable state.
const randName = "$rand"

// Compile compiles e once, at load time, for values of no known type.
// Errors are *pipeline.Error values pointing at the offending character of
// the pipeline file.
func Compile(e pipeline.Expr, opts Options, kind Kind) (*Program, error) {
	return CompileTyped(e, opts, kind, record.Type{})
}

// CompileTyped compiles e for values of type in. When in is an Object the
// names e may use are its fields (with their types), the metadata names
// and the vars: a name that is none of these, a field a nested object
// lacks and an operation on the wrong type are errors now rather than a
// null or a failure per record. Fields beyond in's are allowed where in or
// a nested object is Open. Any other in compiles as Compile does.
func CompileTyped(e pipeline.Expr, opts Options, kind Kind, in record.Type) (*Program, error) {
	if strings.TrimSpace(e.Src) == "" {
		return nil, errorAt(e, 1, 0, "empty expression", nil)
	}
	if err := checkLimits(e); err != nil {
		return nil, err
	}
	typed := in.Kind == record.Object
	fns := functions()
	sc := &scanner{vars: opts.Vars, ours: make(map[string]bool, len(fns)), maxArgs: map[string]int{}}
	var options []expr.Option
	called := calledNames(e.Src)
	// A name of one of expr's built-ins (count, filter, len...) that the
	// expression uses but never calls is a field: expr would take the bare
	// name for the built-in function.
	for _, name := range bareNames(e.Src) {
		if _, isBuiltin := builtin.Index[name]; isBuiltin && !called[name] {
			options = append(options, expr.DisableBuiltin(name))
		}
	}
	if typed {
		options = append(options, expr.Env(typedEnv(in, opts.Vars, called)))
	} else {
		options = append(options,
			expr.Env(compileEnv()),
			expr.AllowUndefinedVariables(), // after Env, which would make unknown names an error
		)
	}
	options = append(options, expr.Patch(sc))
	for _, f := range fns {
		sc.ours[f.doc.Name] = f.random
		if f.maxArgs > 0 {
			sc.maxArgs[f.doc.Name] = f.maxArgs
		}
		options = append(options, expr.Function(f.doc.Name, f.fn, f.types...))
	}
	if kind == Bool {
		options = append(options, expr.AsBool())
	}
	prog, tree, cache, err := build(e.Src, options)
	// Checked first: AllowUndefinedVariables lets foo(1) compile and fail on
	// every record instead.
	if sc.unknown != nil {
		return nil, nodeError(e, sc.unknown, fmt.Sprintf("unknown function %q", sc.unknownName))
	}
	if sc.tooMany != nil {
		return nil, nodeError(e, sc.tooMany, sc.tooManyMsg)
	}
	// $env would hand out the variable map itself, which Machine.Run edits
	// and reuses.
	if sc.env != nil {
		return nil, nodeError(e, sc.env, `$env is not available: use _value["name"] for a field whose name is not an identifier`)
	}
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) && fe.Line > 0 {
			msg := fe.Message
			if typed {
				if m, ok := explainUnknown(fe, tree, cache, in, opts.Vars); ok {
					msg = m
				}
				msg = goTypeNames(msg)
			}
			return nil, errorAt(e, fe.Line, fe.Column, msg, err)
		}
		// Type errors about the whole result ("expected bool, but got int")
		// carry no position: point at the expression's start.
		msg := err.Error()
		if typed {
			msg = goTypeNames(msg)
		}
		return nil, errorAt(e, 1, 0, msg, err)
	}
	p := &Program{src: e.Src, kind: kind, prog: prog, random: sc.random}
	if typed {
		noTypedEquality(prog)
		p.typ = resultType(tree.Node, cache, in)
	}
	for n := range numMeta {
		if sc.meta&(1<<n) != 0 {
			p.meta = append(p.meta, n)
		}
	}
	p.readsValue = slices.Contains(p.meta, metaValue)
	for _, name := range sc.varNames {
		p.vars = append(p.vars, binding{name, opts.Vars[name]})
	}
	return p, nil
}

// compileEnv declares the metadata names whose type is fixed, so the checker
// catches mistakes like _topic + 1. Everything else is unknown until run time.
func compileEnv() map[string]any {
	return map[string]any{
		metaHeaders.String():   map[string]any{},
		metaTopic.String():     "",
		metaPartition.String(): 0,
		metaOffset.String():    0,
		metaTimestamp.String(): time.Time{},
	}
}

func nodeError(e pipeline.Expr, n ast.Node, msg string) *pipeline.Error {
	fe := (&file.Error{Location: n.Location(), Message: msg}).Bind(file.NewSource(e.Src))
	return errorAt(e, fe.Line, fe.Column, msg, nil)
}

// errorAt maps a line and 0-based column inside the expression to the file.
// Lines after the first are a best effort: they assume a block scalar whose
// lines share the first line's indentation.
func errorAt(e pipeline.Expr, line, col int, msg string, cause error) *pipeline.Error {
	return &pipeline.Error{Pos: e.At(line, col), Path: e.Path, Err: &exprError{msg: firstLine(msg), err: cause}}
}

// exprError carries expr's message without its source snippet, keeping the
// original error for errors.As.
type exprError struct {
	msg string
	err error
}

func (e *exprError) Error() string { return e.msg }
func (e *exprError) Unwrap() error { return e.err }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// scanner walks the AST before type checking: it records which metadata
// names and vars a program needs, hands random built-ins the machine's
// generator, and finds calls to functions that do not exist.
type scanner struct {
	vars map[string]any
	ours map[string]bool // our built-ins; true for random ones

	// maxArgs bounds the arguments of our built-ins whose signature is
	// variadic only to keep the checker to one signature (see function).
	maxArgs map[string]int

	meta        uint8
	varNames    []string
	env         ast.Node // first use of $env
	random      bool
	unknown     ast.Node
	unknownName string
	tooMany     ast.Node // first call with more arguments than maxArgs
	tooManyMsg  string
}

func (s *scanner) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if m, ok := metaByName(n.Value); ok {
			s.meta |= 1 << m
		} else if n.Value == "$env" {
			if s.env == nil || n.Location().From < s.env.Location().From {
				s.env = n
			}
		} else if _, ok := s.vars[n.Value]; ok && !slices.Contains(s.varNames, n.Value) {
			s.varNames = append(s.varNames, n.Value)
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		random, ours := s.ours[id.Value]
		if most, ok := s.maxArgs[id.Value]; ok && len(n.Arguments) > most && (s.tooMany == nil || n.Location().From < s.tooMany.Location().From) {
			s.tooMany = n
			s.tooManyMsg = fmt.Sprintf("too many arguments to call %s: want at most %d, got %d", id.Value, most, len(n.Arguments))
		}
		switch {
		case random:
			s.random = true
			if k := len(n.Arguments); k == 0 || !isRandArg(n.Arguments[k-1]) {
				// A new node: the checker's first pass typed the old one and
				// would not check the new argument count.
				args := append(slices.Clip(n.Arguments), &ast.IdentifierNode{Value: randName})
				ast.Patch(node, &ast.CallNode{Callee: n.Callee, Arguments: args})
			}
		case ours || slices.Contains(builtin.Names, id.Value):
		default:
			if s.unknown == nil || n.Location().From < s.unknown.Location().From {
				s.unknown, s.unknownName = n, id.Value
			}
		}
	}
}

func isRandArg(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == randName
}
