package pipeline

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/parser/lexer"
)

// Bounds on an expression's source, checked before expr parses it (see
// package expression for why): far above what a step needs.
const (
	// MaxExprLength is the longest expression accepted, in bytes.
	MaxExprLength = 16 << 10
	// MaxExprDepth is the deepest nesting accepted: brackets ((), [], {})
	// and prefix operators (-, +, !, not) inside each other.
	MaxExprDepth = 64
)

// At is where a line and 0-based column of the expression are in the
// pipeline file.
func (e Expr) At(line, col int) Pos {
	pos := e.Pos
	start := e.Col0
	if start == 0 {
		start = e.Pos.Col
	}
	if line < 1 {
		line = 1
	}
	pos.Line += line - 1
	pos.Col = start + col
	return pos
}

// TooDeep scans the tokens of src, without parsing, for nesting beyond
// MaxExprDepth, and returns where it goes beyond. A prefix operator counts
// until its operand ends: at a binary operator, a separator or a closing
// bracket of the same level.
func TooDeep(src string) (file.Location, bool) {
	l := lexer.New()
	l.Reset(file.NewSource(src))
	var stack []bool // true: a bracket, false: a prefix operator
	prefix := true   // the next token starts an operand
	popPrefixes := func() {
		for len(stack) > 0 && !stack[len(stack)-1] {
			stack = stack[:len(stack)-1]
		}
	}
	for {
		t, err := l.Next()
		if err != nil {
			return file.Location{}, false // EOF, or a lexing error expr reports
		}
		switch {
		case t.Is(lexer.Bracket, "(", "[", "{"):
			stack = append(stack, true)
			prefix = true
		case t.Is(lexer.Bracket, ")", "]", "}"):
			popPrefixes()
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			prefix = false
			continue
		case t.Kind == lexer.Operator && prefix && slices.Contains([]string{"-", "+", "!", "not"}, t.Value):
			stack = append(stack, false)
		case t.Kind == lexer.Operator:
			if t.Value != "." && t.Value != "?." {
				popPrefixes()
			}
			prefix = true
			continue
		default:
			prefix = false
			continue
		}
		if len(stack) > MaxExprDepth {
			return t.Location, true
		}
	}
}

// Literal is a string literal an expression can yield as its result.
type Literal struct {
	Value string
	Pos   Pos // where it stands in the pipeline file
}

// ResultLiterals returns the string literals in result position of e: the
// branches of a conditional, either side of ??, the value of a let, the last
// expression of a sequence. open is true when some result is computed
// instead (a field, a concatenation, a call); null is neither. An expression
// that does not parse is open, with no literals. It is how `runner check`
// and `runner plan` know the topics a to step can name.
func ResultLiterals(e Expr) (lits []Literal, open bool) {
	if len(e.Src) > MaxExprLength {
		return nil, true
	}
	if _, deep := TooDeep(e.Src); deep {
		return nil, true
	}
	tree, err := parser.Parse(e.Src)
	if err != nil {
		return nil, true
	}
	src := file.NewSource(e.Src)
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch n := n.(type) {
		case *ast.StringNode:
			fe := (&file.Error{Location: n.Location()}).Bind(src)
			lits = append(lits, Literal{Value: n.Value, Pos: e.At(fe.Line, fe.Column)})
		case *ast.NilNode:
		case *ast.ConditionalNode:
			walk(n.Exp1)
			walk(n.Exp2)
		case *ast.BinaryNode:
			if n.Operator != "??" {
				open = true
				return
			}
			walk(n.Left)
			walk(n.Right)
		case *ast.VariableDeclaratorNode:
			walk(n.Expr)
		case *ast.SequenceNode:
			if len(n.Nodes) > 0 {
				walk(n.Nodes[len(n.Nodes)-1])
			}
		default:
			open = true
		}
	}
	walk(tree.Node)
	return lits, open
}
