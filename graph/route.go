package graph

import (
	"sort"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/conveyor-dev/conveyor/config"
)

// routes describes a stage's `to` steps.
func routes(steps []config.Step) []Route {
	var out []Route
	for _, s := range steps {
		if s.To == nil {
			continue
		}
		topics, open := routeTopics(s.To.Src)
		out = append(out, Route{Expr: oneLine(s.To.Src), Topics: topics, Open: open})
	}
	return out
}

// routeTopics finds the topic names a `to` expression can yield: string
// literals in result position (the branches of a conditional, either side of
// ??, the value of a let or a sequence). open is true when some result is
// computed instead (a field, a concatenation, a function call).
func routeTopics(src string) (topics []string, open bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, true
	}
	seen := map[string]bool{}
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch n := n.(type) {
		case *ast.StringNode:
			if validTopic(n.Value) && !seen[n.Value] {
				seen[n.Value] = true
				topics = append(topics, n.Value)
			}
			// An invalid name fails the record at run time: no topic.
		case *ast.NilNode:
			// null fails the record at run time: no topic.
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
	sort.Strings(topics)
	return topics, open
}

// validTopic is the rule `to` steps apply to the names they yield.
func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
