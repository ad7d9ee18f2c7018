// Package graph builds the stage graph of pipeline files: which stage reads
// and writes which topic, with delivery modes, consumer groups, dead-letter,
// changelog and cursor topics, and dynamic routes. It renders the graph as
// text or as a Mermaid flowchart and finds what looks wrong in it: topics
// read but never written, topics written but never read, and cycles.
//
// Topics are matched by name across all the files given, as if every
// pipeline talked to one cluster. The graph is built from the loaded
// configuration only: nothing connects to Kafka or to a database.
package graph

import (
	"slices"
	"sort"
	"strings"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// Kind is a stage's kind.
type Kind string

// Stage kinds.
const (
	Source    Kind = "source"
	Transform Kind = "transform"
	Sink      Kind = "sink"
)

// EdgeKind says how a stage uses a topic.
type EdgeKind string

// Edge kinds. From and Table are reads; the others are writes.
const (
	From       EdgeKind = "from"        // the stage's from topics
	Table      EdgeKind = "table"       // read whole as a table: join.table, join_table.with, a join_table stage's input
	To         EdgeKind = "to"          // the stage's to topic
	Dynamic    EdgeKind = "dynamic"     // a topic a `to` step's expression can name
	DeadLetter EdgeKind = "dead letter" // on_error: {dead_letter: TOPIC}
	Changelog  EdgeKind = "changelog"   // an aggregate's state, <pipeline>-<stage>-changelog (internal)
	Cursor     EdgeKind = "cursor"      // a SQL source's cursor, cursor_topic (internal)
)

// internal reports whether topics written this way belong to the runner
// rather than to the data flow.
func (k EdgeKind) internal() bool { return k == Changelog || k == Cursor }

// Connectors tells the graph what a connector does, from the connectors'
// specs (the runner's registry): the graph knows no connector by name.
type Connectors interface {
	// KeepsCursor reports whether source connector c keeps a cursor.
	KeepsCursor(c pipeline.Connector) bool
	// Describe says what connector c of a stage of kind (source or sink)
	// points at, from its options as written.
	Describe(kind string, c pipeline.Connector) string
}

// Edge is one use of a topic by a stage.
type Edge struct {
	Topic string
	Kind  EdgeKind
	// Step names the step a Table edge comes from: "join" or "join_table"
	// ("" for the input of a join_table stage).
	Step string
}

// Route is a `to` step: an expression that picks each record's topic.
type Route struct {
	Expr string // the expression, whitespace collapsed
	// Topics are the topic names the expression can yield as written in it:
	// string literals in result position, sorted.
	Topics []string
	// Open is true when the expression can also yield names computed at run
	// time (a field, a concatenation, ...).
	Open bool
}

// Stage is one source, transform or sink.
type Stage struct {
	Pipeline string
	Kind     Kind
	Name     string
	// Connector is a source's or sink's connector kind (generate, file, sql,
	// stdout, ...), and Detail what it points at as written in the file,
	// before ${VAR} expansion: a SQL table ("table NAME" or "query"), a file
	// path. DSNs are never shown.
	Connector string
	Detail    string
	Delivery  pipeline.Delivery
	Format    pipeline.Format // the stage's format for topics that declare none
	Group     string          // consuming stages only
	Reads     []Edge          // From and Table edges, in file order
	Writes    []Edge          // To, DeadLetter, Changelog and Cursor edges (Dynamic ones are in Routes)
	Routes    []Route
}

// Ref names the stage across files: "pipeline/stage".
func (s *Stage) Ref() string { return s.Pipeline + "/" + s.Name }

// Use is a stage's read or write of a topic, seen from the topic.
type Use struct {
	Stage *Stage
	Kind  EdgeKind
	Step  string
}

// Topic is a topic some file declares or some stage uses.
type Topic struct {
	Name string
	// Declared is the first declaration under topics:, in the order of the
	// files; nil when no file declares the topic.
	Declared *pipeline.Topic
	Writers  []Use // sorted by stage ref, then kind
	Readers  []Use // sorted by stage ref, then kind
}

// Internal reports whether only the runner itself writes the topic
// (changelogs and cursors).
func (t *Topic) Internal() bool {
	return len(t.Writers) > 0 && !slices.ContainsFunc(t.Writers, func(u Use) bool { return !u.Kind.internal() })
}

// External reports whether the topic is read but no stage of the files
// writes it: its records come from outside.
func (t *Topic) External() bool { return len(t.Writers) == 0 && len(t.Readers) > 0 }

// DeadLetters reports whether some stage sends dead letters to the topic.
func (t *Topic) DeadLetters() bool {
	return slices.ContainsFunc(t.Writers, func(u Use) bool { return u.Kind == DeadLetter })
}

// Pipeline is one file's stages: sources, transforms and sinks, each in file
// order.
type Pipeline struct {
	Name   string
	File   string
	Stages []*Stage
}

// Graph is the stage graph of a set of pipelines.
type Graph struct {
	Pipelines []*Pipeline
	Topics    []*Topic // sorted by name
	topics    map[string]*Topic
	warnings  []string
}

// Build makes the graph of pipelines as loaded by pipeline.Load (defaults
// applied: delivery, group). Pipelines keep their order; topics are sorted.
func Build(pipes []*pipeline.Config, conns Connectors) *Graph {
	g := &Graph{topics: map[string]*Topic{}}
	for _, p := range pipes {
		if p == nil {
			continue
		}
		gp := &Pipeline{Name: p.Name, File: p.File}
		g.Pipelines = append(g.Pipelines, gp)
		for _, name := range sortedKeys(p.Topics) {
			t := g.topic(name)
			if t.Declared == nil {
				decl := p.Topics[name]
				t.Declared = &decl
			}
		}
		for i := range p.Sources {
			s := &p.Sources[i]
			st := g.stage(gp, p, Source, &s.Stage)
			st.Connector, st.Detail = s.Connector.Kind, conns.Describe("source", s.Connector)
			st.Writes = append(st.Writes, Edge{Topic: s.To, Kind: To})
			st.Routes = routes(s.Steps)
			g.deadLetter(st, &s.Stage)
			if conns.KeepsCursor(s.Connector) {
				cursor := p.CursorTopic
				if cursor == "" {
					cursor = pipeline.DefaultCursorTopic
				}
				st.Writes = append(st.Writes, Edge{Topic: cursor, Kind: Cursor})
			}
		}
		for i := range p.Transforms {
			t := &p.Transforms[i]
			st := g.stage(gp, p, Transform, &t.Stage)
			st.Group = t.Group
			g.reads(st, &t.Stage, &t.Consumer)
			st.Writes = append(st.Writes, Edge{Topic: t.To, Kind: To})
			st.Routes = routes(t.Steps)
			g.deadLetter(st, &t.Stage)
			if slices.ContainsFunc(t.Steps, func(s pipeline.Step) bool { return s.Aggregate != nil }) {
				st.Writes = append(st.Writes, Edge{Topic: p.Name + "-" + t.Name + "-changelog", Kind: Changelog})
			}
		}
		for i := range p.Sinks {
			s := &p.Sinks[i]
			st := g.stage(gp, p, Sink, &s.Stage)
			st.Connector, st.Detail = s.Connector.Kind, conns.Describe("sink", s.Connector)
			st.Group = s.Group
			g.reads(st, &s.Stage, &s.Consumer)
			g.deadLetter(st, &s.Stage)
		}
	}
	for _, gp := range g.Pipelines {
		for _, st := range gp.Stages {
			g.link(st)
		}
	}
	for _, t := range g.topics {
		sortUses(t.Writers)
		sortUses(t.Readers)
		g.Topics = append(g.Topics, t)
	}
	sort.Slice(g.Topics, func(i, j int) bool { return g.Topics[i].Name < g.Topics[j].Name })
	g.warnings = g.findWarnings()
	return g
}

// Topic returns the named topic, or nil.
func (g *Graph) Topic(name string) *Topic { return g.topics[name] }

func (g *Graph) topic(name string) *Topic {
	t := g.topics[name]
	if t == nil {
		t = &Topic{Name: name}
		g.topics[name] = t
	}
	return t
}

func (g *Graph) stage(gp *Pipeline, p *pipeline.Config, kind Kind, s *pipeline.Stage) *Stage {
	delivery := s.Delivery
	if delivery == "" {
		delivery = p.Delivery
	}
	st := &Stage{Pipeline: p.Name, Kind: kind, Name: s.Name, Delivery: delivery, Format: s.Format}
	gp.Stages = append(gp.Stages, st)
	return st
}

// reads adds a consuming stage's input topics and the tables its steps join.
func (g *Graph) reads(st *Stage, s *pipeline.Stage, c *pipeline.Consumer) {
	inputKind := From
	if len(s.Steps) > 0 && s.Steps[0].JoinTable != nil {
		inputKind = Table // join_table: the stage's input is a table too
	}
	for _, t := range c.From {
		st.Reads = appendEdge(st.Reads, Edge{Topic: t, Kind: inputKind})
	}
	for _, step := range s.Steps {
		switch {
		case step.Join != nil:
			st.Reads = appendEdge(st.Reads, Edge{Topic: step.Join.Table, Kind: Table, Step: "join"})
		case step.JoinTable != nil:
			st.Reads = appendEdge(st.Reads, Edge{Topic: step.JoinTable.With, Kind: Table, Step: "join_table"})
		}
	}
}

func (g *Graph) deadLetter(st *Stage, s *pipeline.Stage) {
	if s.OnError.Action == pipeline.DeadLetter && s.OnError.DeadLetter != "" {
		st.Writes = appendEdge(st.Writes, Edge{Topic: s.OnError.DeadLetter, Kind: DeadLetter})
	}
}

// link records the stage's edges on its topics.
func (g *Graph) link(st *Stage) {
	for _, e := range st.Reads {
		if e.Topic != "" {
			t := g.topic(e.Topic)
			t.Readers = appendUse(t.Readers, Use{Stage: st, Kind: e.Kind, Step: e.Step})
		}
	}
	for _, e := range st.Writes {
		if e.Topic != "" {
			t := g.topic(e.Topic)
			t.Writers = appendUse(t.Writers, Use{Stage: st, Kind: e.Kind})
		}
	}
	for _, r := range st.Routes {
		for _, name := range r.Topics {
			t := g.topic(name)
			t.Writers = appendUse(t.Writers, Use{Stage: st, Kind: Dynamic})
		}
	}
}

func appendEdge(es []Edge, e Edge) []Edge {
	if e.Topic == "" || slices.Contains(es, e) {
		return es
	}
	return append(es, e)
}

func appendUse(us []Use, u Use) []Use {
	if slices.Contains(us, u) {
		return us
	}
	return append(us, u)
}

func sortUses(us []Use) {
	sort.SliceStable(us, func(i, j int) bool {
		a, b := us[i], us[j]
		if a.Stage.Ref() != b.Stage.Ref() {
			return a.Stage.Ref() < b.Stage.Ref()
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Step < b.Step
	})
}

// oneLine collapses runs of white space, newlines included, to one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
