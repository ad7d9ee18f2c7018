package graph

import (
	"slices"
	"sort"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// routes describes a stage's `to` steps.
func routes(steps []pipeline.Step) []Route {
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
// literals in result position (see pipeline.ResultLiterals). open is true
// when some result is computed instead (a field, a concatenation, a
// function call).
func routeTopics(src string) (topics []string, open bool) {
	lits, open := pipeline.ResultLiterals(pipeline.Expr{Src: src})
	for _, l := range lits {
		// An invalid name fails the record at run time: no topic.
		if validTopic(l.Value) && !slices.Contains(topics, l.Value) {
			topics = append(topics, l.Value)
		}
	}
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
