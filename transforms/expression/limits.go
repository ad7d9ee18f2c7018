package expression

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// Limits on an expression, checked before expr compiles it. expr's parser,
// checker and compiler recurse once per nesting level, so 700,000 minus
// signs overflowed the Go stack (a crash no recover catches) and 300,000
// parentheses took 891 MB. Its checker tries each signature of an
// overloaded built-in (replace, split, trim, join, sort...) on all of the
// call's arguments, so nesting such calls doubles (or, for sort's eight
// signatures, multiplies by eight) the checking time per level: 900 bytes
// of nested replace took hours. All three bounds are far above what a
// step needs.
// The length and depth bounds are pipeline.MaxExprLength and
// pipeline.MaxExprDepth.
const (
	// maxCheckWork bounds the type checker's work: the syntax tree's nodes,
	// each counted once per signature tried of every overloaded call
	// around it. replace nested 14 deep stays within (some 80 ms here).
	maxCheckWork = 100_000
)

// checkLimits reports an expression that is too long, too deeply nested or
// too costly to type-check, at the place where it goes over.
func checkLimits(e pipeline.Expr) error {
	if n := len(e.Src); n > pipeline.MaxExprLength {
		return errorAt(e, 1, 0, fmt.Sprintf("expression is %d bytes long, more than the %d allowed", n, pipeline.MaxExprLength), nil)
	}
	if loc, ok := pipeline.TooDeep(e.Src); ok {
		return locError(e, loc, fmt.Sprintf("expression nests more than %d levels deep here (brackets and prefix operators)", pipeline.MaxExprDepth))
	}
	// Nesting is bounded now, so parsing is safe. A syntax error is left
	// to expr.Compile, which reports it.
	tree, err := parser.Parse(e.Src)
	if err != nil {
		return nil
	}
	w := checkWork{overloads: overloaded()}
	w.walk(tree.Node, 1)
	if w.over != nil {
		return locError(e, w.over.Location(), fmt.Sprintf(
			"calls of %s nest too deeply to type-check (each tries every signature of the function on its arguments): compute the inner ones in an earlier set field",
			strings.Join(w.names, ", ")))
	}
	return nil
}

func locError(e pipeline.Expr, loc file.Location, msg string) *pipeline.Error {
	fe := (&file.Error{Location: loc, Message: msg}).Bind(file.NewSource(e.Src))
	return errorAt(e, fe.Line, fe.Column, msg, nil)
}

// overloaded names expr's built-ins with several signatures, and how many.
func overloaded() map[string]int {
	m := map[string]int{}
	for _, f := range builtin.Builtins {
		if len(f.Types) > 1 {
			m[f.Name] = len(f.Types)
		}
	}
	return m
}

// checkWork adds up what expr's checker visits: each node once per
// signature tried of every overloaded call around it.
type checkWork struct {
	overloads map[string]int
	total     int
	calls     []ast.Node // the overloaded calls around the current node
	over      ast.Node   // the outermost of them when the total went over
	names     []string
}

func (w *checkWork) walk(n ast.Node, mult int) {
	if n == nil || w.over != nil {
		return
	}
	w.total += mult
	// Without overloaded calls the total is the node count, which expr
	// bounds itself (10,000).
	if w.total > maxCheckWork && len(w.calls) > 0 {
		w.over = w.calls[0]
		for _, c := range w.calls {
			if name := callName(c); !slices.Contains(w.names, name) {
				w.names = append(w.names, name)
			}
		}
		return
	}
	if k := w.overloads[callName(n)]; k > 1 {
		w.calls = append(w.calls, n)
		defer func() { w.calls = w.calls[:len(w.calls)-1] }()
		mult *= k
	}
	for _, c := range children(n) {
		w.walk(c, mult)
	}
}

// callName is the function a call node calls, or "".
func callName(n ast.Node) string {
	switch c := n.(type) {
	case *ast.CallNode:
		if id, ok := c.Callee.(*ast.IdentifierNode); ok {
			return id.Value
		}
	case *ast.BuiltinNode:
		return c.Name
	}
	return ""
}

// children lists a node's direct children, as ast.Walk visits them.
func children(n ast.Node) []ast.Node {
	switch n := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.BuiltinNode:
		return n.Arguments
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}
