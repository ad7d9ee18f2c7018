package expression

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// typedEnv declares every name an expression may use on a value of type
// in (an Object): its fields with the Go types decoders yield for them,
// the metadata names and the vars, with the precedence Machine.Run gives
// them (metadata over fields over vars). Without AllowUndefinedVariables
// any other name is an error.
//
// A field or var named like a function the expression calls (a field date
// beside date("2026-01-01")) is left out: expr would parse and check the
// call as a call of the field. The function then hides it, as it does
// without a type.
func typedEnv(in record.Type, vars map[string]any, called map[string]bool) types.Map {
	env := types.Map{}
	for name, v := range vars {
		switch {
		case called[name]:
		case v == nil:
			env[name] = types.Any
		default:
			env[name] = types.TypeOf(v)
		}
	}
	for _, f := range in.Fields {
		if !called[f.Name] {
			env[f.Name] = exprType(f.Type)
		}
	}
	if in.Open {
		// Fields beyond the schema's may exist: a name the schema does not
		// list is any, not an error. Vars and metadata keep their types.
		env[types.Extra] = types.Any
	}
	// The metadata as compileEnv declares it, and the two names it leaves
	// unknown: _key (a string, or null as exprType says of Nullable) and
	// _value, the object itself.
	for name, v := range compileEnv() {
		env[name] = types.TypeOf(v)
	}
	env[metaKey.String()] = types.String
	env[metaValue.String()] = exprType(in)
	env[randName] = types.Any // see scanner: the random built-ins' generator
	return env
}

// calledNames are the names src calls as functions: name(...).
func calledNames(src string) map[string]bool {
	called := map[string]bool{}
	tree, err := parser.Parse(src)
	if err != nil {
		return called // build reports the syntax error
	}
	ast.Find(tree.Node, func(n ast.Node) bool {
		// expr parses a call of its built-ins as a BuiltinNode, unless the
		// environment has the name (which is what typedEnv prevents).
		if name := callName(n); name != "" {
			called[name] = true
		}
		return false
	})
	return called
}

// bareNames are the identifiers src names, called or not.
func bareNames(src string) []string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	var names []string
	ast.Find(tree.Node, func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			names = append(names, id.Value)
		}
		return false
	})
	return names
}

// exprType is the expr type of values of t as decoders yield them.
//
// A nullable type keeps its base type: expr accepts x == nil, x != nil and
// x ?? default on any type, so only misuse of the value itself is caught.
// The price is paid at run time by a null in a typed comparison, which
// noTypedEquality keeps from failing.
func exprType(t record.Type) types.Type {
	switch t.Kind {
	case record.Bool:
		return types.Bool
	case record.Int:
		// int64, never int: expr specialises int operands (x in [1, 2]
		// becomes a lookup in a map[int]) and would fail on an int64.
		return types.Int64
	case record.Float:
		return types.Float64
	case record.Text:
		return types.String
	case record.Binary:
		return types.TypeOf([]byte(nil))
	case record.Time:
		return types.TypeOf(time.Time{})
	case record.List:
		return types.Array(exprElem(t.Elem))
	case record.Map:
		return types.Map{types.Extra: exprElem(t.Elem)}
	case record.Object:
		m := make(types.Map, len(t.Fields)+1)
		for _, f := range t.Fields {
			m[f.Name] = exprType(f.Type)
		}
		if t.Open {
			m[types.Extra] = types.Any
		}
		return m
	}
	// Unknown, and Null: a value that is always null is left unchecked
	// rather than made an error to use.
	return types.Any
}

func exprElem(t *record.Type) types.Type {
	if t == nil {
		return types.Any
	}
	return exprType(*t)
}

// build compiles src as expr.Compile does, keeping the checked tree and
// its type cache: the tree names what an unknown field belongs to, and
// its root's type is the program's result type.
func build(src string, options []expr.Option) (*vm.Program, *parser.Tree, *nature.Cache, error) {
	config := conf.CreateNew()
	for _, o := range options {
		o(config)
	}
	for name := range config.Disabled {
		delete(config.Builtins, name)
	}
	config.Check()
	tree, err := checker.ParseCheck(src, config)
	if err != nil {
		return nil, tree, &config.NtCache, err
	}
	if config.Optimize {
		if err := optimizer.Optimize(&tree.Node, config); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, tree, &config.NtCache, fe.Bind(tree.Source)
			}
			return nil, tree, &config.NtCache, err
		}
	}
	prog, err := compiler.Compile(tree, config)
	return prog, tree, &config.NtCache, err
}

// noTypedEquality turns the equality opcodes expr specialises for operands
// typed int or string back into its general one. A schema types a
// nullable field by its base type, but the value is nil in a record that
// lacks it, and the specialised opcodes assert the operand's Go type:
// name == "x" would fail on such a record where the untyped program says
// false.
func noTypedEquality(p *vm.Program) {
	for i, op := range p.Bytecode {
		if op == vm.OpEqualInt || op == vm.OpEqualString {
			p.Bytecode[i] = vm.OpEqual
		}
	}
}

// resultType is the static type of a checked expression's result: a
// field's type as in declares it (field order, nullability and all), an
// object literal's fields when the checker typed them, else what the
// checker says of the whole.
func resultType(n ast.Node, c *nature.Cache, in record.Type) record.Type {
	if t, ok := fieldType(n, in); ok {
		return t
	}
	if m, ok := n.(*ast.MapNode); ok {
		t := record.Type{Kind: record.Object}
		for _, p := range m.Pairs {
			pair, ok := p.(*ast.PairNode)
			if !ok {
				return record.Type{Kind: record.Map}
			}
			key, ok := pair.Key.(*ast.StringNode)
			if !ok {
				return record.Type{Kind: record.Map} // computed keys
			}
			ft := resultType(pair.Value, c, in)
			if i := slices.IndexFunc(t.Fields, func(f record.Field) bool { return f.Name == key.Value }); i >= 0 {
				t.Fields[i].Type = ft // the last duplicate wins, as at run time
				continue
			}
			t.Fields = append(t.Fields, record.Field{Name: key.Value, Type: ft})
		}
		return t
	}
	if nt := n.Nature(); nt != nil {
		return natureType(*nt, c)
	}
	return record.Type{}
}

// fieldType is the type in gives the field n names (customer.address),
// if n is a field access that the names of metadata do not hide.
func fieldType(n ast.Node, in record.Type) (record.Type, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == metaValue.String() {
			return in, true
		}
		if IsReserved(n.Value) {
			return record.Type{}, false
		}
		return in.Field(n.Value)
	case *ast.ChainNode:
		t, ok := fieldType(n.Node, in)
		if t.Kind != record.Unknown {
			t.Nullable = true // a?.b is null when a is
		}
		return t, ok
	case *ast.MemberNode:
		prop, isName := n.Property.(*ast.StringNode)
		if !isName {
			return record.Type{}, false
		}
		base, ok := fieldType(n.Node, in)
		if !ok || base.Kind != record.Object {
			return record.Type{}, false
		}
		return base.Field(prop.Value)
	}
	return record.Type{}, false
}

// natureType maps a checker type back to a record type; what has no
// record kind (durations, functions, unknowns) is Unknown.
func natureType(n nature.Nature, c *nature.Cache) record.Type {
	switch {
	case n.Nil:
		return record.Type{Kind: record.Null, Nullable: true}
	case n.IsUnknown(c):
		return record.Type{}
	case n.IsInteger:
		return record.Type{Kind: record.Int}
	case n.IsFloat:
		return record.Type{Kind: record.Float}
	case n.IsBool():
		return record.Type{Kind: record.Bool}
	case n.IsString():
		return record.Type{Kind: record.Text}
	case n.IsByteSlice():
		return record.Type{Kind: record.Binary}
	case n.IsTime():
		return record.Type{Kind: record.Time}
	case n.IsArray():
		elem := natureType(n.Elem(c), c)
		return record.Type{Kind: record.List, Elem: &elem}
	case n.IsMap() && n.Type != nil && n.Type.Key().Kind() == reflect.String:
		if n.TypeData != nil && (n.Strict || len(n.Fields) > 0) {
			t := record.Type{Kind: record.Object, Open: !n.Strict}
			for _, name := range slices.Sorted(maps.Keys(n.Fields)) {
				t.Fields = append(t.Fields, record.Field{Name: name, Type: natureType(n.Fields[name], c)})
			}
			return t
		}
		elem := natureType(n.Elem(c), c)
		return record.Type{Kind: record.Map, Elem: &elem}
	}
	return record.Type{}
}

// explainUnknown rewrites the checker's "unknown name x" and "unknown
// field x" into the words of a pipeline file, with the closest known name.
// ok is false for other errors.
func explainUnknown(fe *file.Error, tree *parser.Tree, c *nature.Cache, in record.Type, vars map[string]any) (string, bool) {
	if tree == nil {
		return "", false
	}
	if name, ok := strings.CutPrefix(fe.Message, "unknown name "); ok {
		known := in.Names()
		candidates := append(slices.Clone(known), slices.Sorted(maps.Keys(vars))...)
		for m := range numMeta {
			candidates = append(candidates, m.String())
		}
		return fmt.Sprintf("unknown field %q%s", name, hint(name, candidates, known)), true
	}
	name, ok := strings.CutPrefix(fe.Message, "unknown field ")
	if !ok {
		return "", false
	}
	member, _ := ast.Find(tree.Node, func(n ast.Node) bool {
		m, ok := n.(*ast.MemberNode)
		return ok && m.Property.Location() == fe.Location
	}).(*ast.MemberNode)
	if member == nil || member.Node.Nature() == nil {
		return fmt.Sprintf("unknown field %q", name), true
	}
	known := slices.Sorted(maps.Keys(member.Node.Nature().Fields))
	of := ""
	if path, ok := pathOf(member.Node); ok {
		of = " in " + path
	}
	return fmt.Sprintf("unknown field %q%s%s", name, of, hint(name, known, known)), true
}

// pathOf renders a chain of field accesses (customer.address), the only
// bases worth naming in a message.
func pathOf(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value, true
	case *ast.ChainNode:
		return pathOf(n.Node)
	case *ast.MemberNode:
		base, ok := pathOf(n.Node)
		prop, isName := n.Property.(*ast.StringNode)
		if !ok || !isName {
			return "", false
		}
		return base + "." + prop.Value, true
	}
	return "", false
}

// UnknownField is the message for a field name that is not among fields
// (sorted), with the closest of them: unknown field "pionts" (did you mean
// "points"?).
func UnknownField(name string, fields []string) string {
	return fmt.Sprintf("unknown field %q%s", name, hint(name, fields, fields))
}

// maxListed bounds the field names a message lists when none is close.
const maxListed = 12

// hint suggests the candidate closest to name, else lists the fields when
// they are few.
func hint(name string, candidates, fields []string) string {
	if h := pipeline.DidYouMean(name, candidates); h != "" {
		return h
	}
	if len(fields) == 0 || len(fields) > maxListed {
		return ""
	}
	return " (fields: " + strings.Join(fields, ", ") + ")"
}

// goTypeNames renders the Go types of typed fields in expr's messages in
// the words of the docs.
func goTypeNames(msg string) string {
	return strings.NewReplacer(
		"map[string]interface {}", "object",
		"[]interface {}", "list",
		"interface {}", "any",
		"[]uint8", "bytes",
		"time.Time", "timestamp",
		"int64", "int",
		"float64", "float",
	).Replace(msg)
}
