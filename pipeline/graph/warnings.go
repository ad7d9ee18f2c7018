package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Warnings lists what looks wrong in the graph, cycles first, then topics
// read but not written, then (informational) topics written but not read,
// each group sorted by topic name:
//
//   - "cycle: A -> p/s -> B -> p/t -> A": records can flow from a topic back
//     into it, through reads (from, tables) and writes (to, dynamic routes,
//     dead letters). Changelogs and cursors do not count.
//   - "external: topic T is read by ... but no stage of these files writes
//     it": its records must come from outside (another runner's files, a
//     producer of your own), or a stage is missing. Declaring the topic under
//     topics: does not count as writing it.
//   - "info: topic T is written by ..., not read by these files": normal for
//     the output of a pipeline without sinks, and for dead-letter topics.
//   - "info: topic T is declared, not used by these files": declared under
//     topics: (so the runner creates it) but no stage reads or writes it.
//
// A topic that a dynamic route (a `to` step) names as a string literal counts
// as written by it. When a dynamic route can also compute other names, the
// external warnings mention it.
func (g *Graph) Warnings() []string { return slices.Clone(g.warnings) }

func (g *Graph) findWarnings() []string {
	var out []string
	out = append(out, g.cycles()...)
	var open []string
	for _, p := range g.Pipelines {
		for _, st := range p.Stages {
			for _, r := range st.Routes {
				if r.Open {
					open = append(open, st.Ref())
					break
				}
			}
		}
	}
	for _, t := range g.Topics {
		if !t.External() {
			continue
		}
		w := fmt.Sprintf("external: topic %s is read by %s but no stage of these files writes it", t.Name, uses(t.Readers))
		if len(open) > 0 {
			w += fmt.Sprintf(" (unless the dynamic route of %s names it)", strings.Join(open, ", "))
		}
		out = append(out, w)
	}
	for _, t := range g.Topics {
		switch {
		case len(t.Readers) > 0 || t.Internal():
		case len(t.Writers) == 0:
			out = append(out, fmt.Sprintf("info: topic %s is declared, not used by these files", t.Name))
		case t.DeadLetters():
			out = append(out, fmt.Sprintf("info: dead-letter topic %s is written by %s, not read by these files", t.Name, uses(t.Writers)))
		default:
			out = append(out, fmt.Sprintf("info: topic %s is written by %s, not read by these files", t.Name, uses(t.Writers)))
		}
	}
	return out
}

// uses lists stage refs with how they use the topic when that is not plain
// from/to: "p/a, p/b (table)". A stage that uses the topic several ways is
// listed once.
func uses(us []Use) string {
	var parts []string
	for i := 0; i < len(us); {
		ref := us[i].Stage.Ref()
		plain := false
		var notes []string
		for ; i < len(us) && us[i].Stage.Ref() == ref; i++ {
			switch k := us[i].Kind; k {
			case From, To:
				plain = true
			default:
				if !slices.Contains(notes, string(k)) {
					notes = append(notes, string(k))
				}
			}
		}
		if !plain && len(notes) > 0 {
			ref += " (" + strings.Join(notes, ", ") + ")"
		}
		parts = append(parts, ref)
	}
	return strings.Join(parts, ", ")
}

// hop is one step of the topic graph: a stage reads from and writes to.
type hop struct {
	stage *Stage
	kind  EdgeKind // how the stage writes to
	to    string
}

// topicGraph links each topic to the topics records read from it can be
// written to, through one stage.
func (g *Graph) topicGraph() map[string][]hop {
	next := map[string][]hop{}
	for _, p := range g.Pipelines {
		for _, st := range p.Stages {
			var outs []hop
			for _, e := range st.Writes {
				if e.Kind == To || e.Kind == DeadLetter {
					outs = append(outs, hop{stage: st, kind: e.Kind, to: e.Topic})
				}
			}
			for _, r := range st.Routes {
				for _, t := range r.Topics {
					outs = append(outs, hop{stage: st, kind: Dynamic, to: t})
				}
			}
			seen := map[string]bool{}
			for _, e := range st.Reads {
				if seen[e.Topic] {
					continue
				}
				seen[e.Topic] = true
				next[e.Topic] = append(next[e.Topic], outs...)
			}
		}
	}
	for from, hs := range next {
		sort.SliceStable(hs, func(i, j int) bool {
			if hs[i].to != hs[j].to {
				return hs[i].to < hs[j].to
			}
			return hs[i].stage.Ref() < hs[j].stage.Ref()
		})
		next[from] = hs
	}
	return next
}

// cycles reports one cycle per strongly connected group of topics: the
// shortest one through the group's first topic by name.
func (g *Graph) cycles() []string {
	next := g.topicGraph()
	names := sortedKeys(next)
	// Tarjan's strongly connected components.
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var groups [][]string
	var visit func(v string)
	visit = func(v string) {
		index[v] = len(index)
		low[v] = index[v]
		stack = append(stack, v)
		onStack[v] = true
		for _, h := range next[v] {
			if _, seen := index[h.to]; !seen {
				visit(h.to)
				low[v] = min(low[v], low[h.to])
			} else if onStack[h.to] {
				low[v] = min(low[v], index[h.to])
			}
		}
		if low[v] == index[v] {
			var group []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				group = append(group, w)
				if w == v {
					break
				}
			}
			groups = append(groups, group)
		}
	}
	for _, v := range names {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	var out []string
	for _, group := range groups {
		sort.Strings(group)
		in := map[string]bool{}
		for _, t := range group {
			in[t] = true
		}
		if path := shortestCycle(next, group[0], in); path != "" {
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

// shortestCycle finds the shortest way from start back to start within in,
// breadth first, and renders it; "" when there is none.
func shortestCycle(next map[string][]hop, start string, in map[string]bool) string {
	type step struct {
		from string
		hop  hop
	}
	prev := map[string]step{}
	queue := []string{start}
	visited := map[string]bool{}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, h := range next[v] {
			if !in[h.to] {
				continue
			}
			if h.to == start {
				hops := []hop{h}
				for at := v; at != start; at = prev[at].from {
					hops = append(hops, prev[at].hop)
				}
				var b strings.Builder
				b.WriteString("cycle: " + start)
				for i := len(hops) - 1; i >= 0; i-- {
					ref := hops[i].stage.Ref()
					if hops[i].kind != To {
						ref += " (" + string(hops[i].kind) + ")"
					}
					b.WriteString(" -> " + ref + " -> " + hops[i].to)
				}
				return b.String()
			}
			if !visited[h.to] {
				visited[h.to] = true
				prev[h.to] = step{from: v, hop: h}
				queue = append(queue, h.to)
			}
		}
	}
	return ""
}
