package graph

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mermaid writes the graph as a Mermaid flowchart (paste it into a
// ```mermaid block of a pull request): a subgraph of stages per pipeline,
// topics as cylinders, dotted edges for tables, dead letters, changelogs,
// cursors and dynamic routes, and the warnings as "%% warning: ..."
// comments at the end.
func (g *Graph) Mermaid(w io.Writer) {
	var b strings.Builder
	ids := newIDs()
	b.WriteString("flowchart LR\n")
	type edge struct{ from, arrow, to string }
	var edges []edge
	topicID := func(name string) string { return ids.get("t\x00"+name, "t_"+name) }
	var routeIDs []string
	for _, p := range g.Pipelines {
		fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", ids.get("p\x00"+p.Name, "p_"+p.Name), label("pipeline "+p.Name))
		for _, st := range p.Stages {
			sid := ids.get("s\x00"+st.Ref(), "s_"+st.Pipeline+"__"+st.Name)
			lines := []string{string(st.Kind) + " " + st.Name}
			lines = append(lines, st.attrs()...)
			fmt.Fprintf(&b, "    %s[\"%s\"]\n", sid, labelLines(lines))
			for _, e := range st.Reads {
				arrow := "-->"
				if e.Kind == Table {
					arrow = "-.->|" + tableLabel(e) + "|"
				}
				edges = append(edges, edge{topicID(e.Topic), arrow, sid})
			}
			for _, e := range st.Writes {
				if e.Kind == To {
					edges = append(edges, edge{sid, "-->", topicID(e.Topic)})
				}
			}
			for i, r := range st.Routes {
				rid := ids.get("r\x00"+st.Ref()+"\x00"+strconv.Itoa(i), "r_"+st.Pipeline+"__"+st.Name+"_"+strconv.Itoa(i+1))
				routeIDs = append(routeIDs, rid)
				lines := []string{"dynamic: " + r.Expr}
				if r.Open {
					lines = append(lines, "(or a computed name)")
				}
				fmt.Fprintf(&b, "    %s{{\"%s\"}}\n", rid, labelLines(lines))
				edges = append(edges, edge{sid, "-.->|to|", rid})
				for _, t := range r.Topics {
					edges = append(edges, edge{rid, "-.->", topicID(t)})
				}
			}
			for _, e := range st.Writes {
				if e.Kind != To {
					edges = append(edges, edge{sid, "-.->|" + string(e.Kind) + "|", topicID(e.Topic)})
				}
			}
		}
		b.WriteString("  end\n")
	}
	classes := map[string][]string{}
	var classOrder = []string{"topic", "external", "internal", "deadletter", "route"}
	for _, t := range g.Topics {
		id := topicID(t.Name)
		fmt.Fprintf(&b, "  %s[(\"%s\")]\n", id, label(t.Name))
		switch {
		case t.Internal():
			classes["internal"] = append(classes["internal"], id)
		case t.DeadLetters():
			classes["deadletter"] = append(classes["deadletter"], id)
		case t.External():
			classes["external"] = append(classes["external"], id)
		default:
			classes["topic"] = append(classes["topic"], id)
		}
	}
	classes["route"] = routeIDs
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s %s %s\n", e.from, e.arrow, e.to)
	}
	styles := map[string]string{
		"topic":      "fill:#e8f0fe,stroke:#4a6fa5",
		"external":   "fill:#ffffff,stroke:#4a6fa5,stroke-dasharray:4 3",
		"internal":   "fill:#f2f2f2,stroke:#999999,stroke-dasharray:4 3",
		"deadletter": "fill:#fdecea,stroke:#c0392b",
		"route":      "fill:#fff8e1,stroke:#b8860b",
	}
	for _, c := range classOrder {
		if len(classes[c]) > 0 {
			fmt.Fprintf(&b, "  classDef %s %s\n", c, styles[c])
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(classes[c], ","), c)
		}
	}
	for _, s := range g.warnings {
		fmt.Fprintf(&b, "  %%%% warning: %s\n", oneLine(s))
	}
	_, _ = io.WriteString(w, b.String())
}

func tableLabel(e Edge) string {
	if e.Step != "" {
		return e.Step
	}
	return "table"
}

// labelLines joins label lines with Mermaid's line break.
func labelLines(lines []string) string {
	for i, l := range lines {
		lines[i] = label(l)
	}
	return strings.Join(lines, "<br/>")
}

// label escapes text for a quoted Mermaid label: entity codes for the
// characters that would end the label or read as markup.
var labelEscaper = strings.NewReplacer(
	"#", "#35;",
	`"`, "#quot;",
	"<", "#lt;",
	">", "#gt;",
	"&", "#amp;",
	"`", "#96;",
	"\n", " ",
)

func label(s string) string { return labelEscaper.Replace(s) }

// ids hands out Mermaid node ids: the name with every character other than
// an ASCII letter, digit or underscore replaced by "_", and a numeric suffix
// when two names would otherwise share an id. Ids are given out in the
// (deterministic) order of first use.
type ids struct {
	byKey map[string]string
	taken map[string]bool
}

func newIDs() *ids { return &ids{byKey: map[string]string{}, taken: map[string]bool{}} }

func (m *ids) get(key, name string) string {
	if id, ok := m.byKey[key]; ok {
		return id
	}
	base := sanitize(name)
	id := base
	for n := 2; m.taken[id]; n++ {
		id = base + "_" + strconv.Itoa(n)
	}
	m.taken[id] = true
	m.byKey[key] = id
	return id
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
