package graph

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// Text writes the graph for people: each pipeline's stages with what they
// read and write, then every topic with its writers and readers, then the
// warnings (if any) under a "warnings:" heading.
func (g *Graph) Text(w io.Writer) {
	var b strings.Builder
	for i, p := range g.Pipelines {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "pipeline %s (%s)\n", p.Name, p.File)
		for _, st := range p.Stages {
			fmt.Fprintf(&b, "  %s %s: %s\n", st.Kind, st.Name, strings.Join(st.attrs(), ", "))
			for _, e := range st.Reads {
				fmt.Fprintf(&b, "    reads  %s%s\n", e.Topic, readNote(e))
			}
			for _, e := range st.Writes {
				if e.Kind == To {
					fmt.Fprintf(&b, "    writes %s\n", e.Topic)
				}
			}
			for _, r := range st.Routes {
				fmt.Fprintf(&b, "    writes dynamic: %s -> %s\n", r.Expr, r.targets())
			}
			for _, e := range st.Writes {
				if e.Kind != To {
					fmt.Fprintf(&b, "    writes %s (%s)\n", e.Topic, e.Kind)
				}
			}
		}
	}
	if len(g.Topics) > 0 {
		b.WriteString("\ntopics\n")
		width := 0
		for _, t := range g.Topics {
			width = max(width, len(t.Name))
		}
		for _, t := range g.Topics {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, t.Name, strings.Join(t.attrs(), ", "))
			if len(t.Writers) > 0 {
				fmt.Fprintf(&b, "    written by %s\n", uses(t.Writers))
			}
			if len(t.Readers) > 0 {
				fmt.Fprintf(&b, "    read by    %s\n", uses(t.Readers))
			}
		}
	}
	if len(g.warnings) > 0 {
		b.WriteString("\nwarnings:\n")
		for _, s := range g.warnings {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// attrs describes a stage on its heading line: connector, delivery, group.
func (s *Stage) attrs() []string {
	var out []string
	if s.Connector != "" {
		c := s.Connector
		if s.Detail != "" {
			c += " " + s.Detail
		}
		out = append(out, c)
	}
	out = append(out, string(s.Delivery))
	if s.Group != "" {
		out = append(out, "group "+s.Group)
	}
	return out
}

func readNote(e Edge) string {
	switch {
	case e.Kind == Table && e.Step != "":
		return " (table, " + e.Step + ")"
	case e.Kind == Table:
		return " (table)"
	}
	return ""
}

// targets says which topics a route can write.
func (r Route) targets() string {
	switch {
	case len(r.Topics) == 0:
		return "a computed name"
	case r.Open:
		return strings.Join(r.Topics, ", ") + " or a computed name"
	}
	return strings.Join(r.Topics, ", ")
}

// attrs describes a topic: its role and how it is declared.
func (t *Topic) attrs() []string {
	var out []string
	switch {
	case t.Internal():
		out = append(out, "internal ("+string(t.Writers[0].Kind)+")")
	case t.External():
		out = append(out, "external")
	}
	if t.DeadLetters() {
		out = append(out, "dead letters")
	}
	switch {
	case t.Declared != nil:
		d := fmt.Sprintf("declared: %d partition", t.Declared.Partitions)
		if t.Declared.Partitions != 1 {
			d += "s"
		}
		if cp := t.Declared.Config["cleanup.policy"]; cp != "" {
			d += ", " + cp
		}
		out = append(out, d)
	case t.Internal():
		out = append(out, "created by the runner")
	default:
		out = append(out, "not declared")
	}
	return append(out, t.formats()...)
}

// formats describes how the topic's records are encoded, when not plain
// JSON: the declared format and schema files, else the formats of the
// stages that read and write it.
func (t *Topic) formats() []string {
	var out []string
	if d := t.Declared; d != nil && (d.Format != "" || d.KeyFormat != "") {
		if d.Format != "" && d.Format != pipeline.FormatJSON || d.ValueSchema != "" {
			f := "format " + string(d.Format)
			if d.ValueSchema != "" {
				f += " (" + d.ValueSchema + ")"
			}
			out = append(out, f)
		}
		if d.KeyFormat != "" {
			f := "keys " + string(d.KeyFormat)
			if d.KeySchema != "" {
				f += " (" + d.KeySchema + ")"
			}
			out = append(out, f)
		}
		if d.Format != "" {
			return out
		}
	}
	seen := map[pipeline.Format]bool{}
	var fs []string
	for _, u := range append(slices.Clone(t.Writers), t.Readers...) {
		if u.Kind != From && u.Kind != To && u.Kind != Table || u.Stage.Format == "" || u.Stage.Format == pipeline.FormatJSON || seen[u.Stage.Format] {
			continue
		}
		seen[u.Stage.Format] = true
		fs = append(fs, string(u.Stage.Format))
	}
	if len(fs) > 0 {
		sort.Strings(fs)
		out = append(out, "format "+strings.Join(fs, " or "))
	}
	return out
}
