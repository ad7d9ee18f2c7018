package expression

import (
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// Literal is a string literal an expression can yield as its result.
type Literal struct {
	Value string
	Pos   pipeline.Pos // where it stands in the pipeline file
}

// ResultLiterals returns the string literals in result position of e: the
// branches of a conditional, either side of ??, the value of a let, the last
// expression of a sequence. open is true when some result is computed
// instead (a field, a concatenation, a call); null is neither. An expression
// that does not parse is open, with no literals. It is how `runner check`
// and `runner plan` know the topics a to step can name.
func ResultLiterals(e pipeline.Expr) (lits []Literal, open bool) {
	if len(e.Src) > MaxLength {
		return nil, true
	}
	if _, deep := tooDeep(e.Src); deep {
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
			lits = append(lits, Literal{Value: n.Value, Pos: position(e, fe.Line, fe.Column)})
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
