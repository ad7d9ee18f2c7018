package graph

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/connectors/stdout"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// conns are the runner's connectors, whose specs tell the graph what each does.
var conns = connectors.Registry{
	Sources: []connectors.SourceSpec{generate.Spec(), file.SourceSpec(), sqlsource.Spec()},
	Sinks:   []connectors.SinkSpec{stdout.Spec(), file.SinkSpec(), sqlsink.Spec()},
}

var kinds = conns.Kinds()

// build parses inline pipeline files (no environment) and builds their graph.
func build(t *testing.T, files ...string) *Graph {
	t.Helper()
	lookup := func(string) (string, bool) { return "", false }
	var pipes []*pipeline.Config
	for i, src := range files {
		p, err := pipeline.Parse("p"+string(rune('0'+i))+".yaml", []byte(src), pipeline.Options{Lookup: lookup, Kinds: kinds})
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	return Build(pipes, conns)
}

func wantWarnings(t *testing.T, g *Graph, want ...string) {
	t.Helper()
	if got := g.Warnings(); !slices.Equal(got, want) {
		t.Errorf("warnings:\n  got  %q\n  want %q", got, want)
	}
}

func TestGraphReadNotWritten(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
topics:
  orders: {partitions: 3}
  prices: {partitions: 3, config: {cleanup.policy: compact}}
transforms:
  price:
    from: orders
    steps: [{join: {table: prices, as: price}}]
    to: priced
    delivery: exactly_once
sinks:
  show: {from: priced, stdout: {}}
`)
	wantWarnings(t, g,
		"external: topic orders is read by p/price but no stage of these files writes it",
		"external: topic prices is read by p/price (table) but no stage of these files writes it",
	)
	if tp := g.Topic("orders"); !tp.External() || tp.Declared == nil || tp.Declared.Partitions != 3 {
		t.Errorf("orders: external %v, declared %+v", tp.External(), tp.Declared)
	}
	var text bytes.Buffer
	g.Text(&text)
	for _, s := range []string{
		"    reads  prices (table, join)\n",
		"  orders  external, declared: 3 partitions\n",
		"  prices  external, declared: 3 partitions, compact\n",
	} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
}

// A topic written in one file and read in another is neither external nor
// unread.
func TestGraphAcrossFiles(t *testing.T) {
	g := build(t, `pipeline: a
kafka: {brokers: embedded}
sources:
  gen: {generate: {value: '1'}, to: shared}
`, `pipeline: b
kafka: {brokers: embedded}
sinks:
  show: {from: shared, stdout: {}}
`)
	wantWarnings(t, g)
	tp := g.Topic("shared")
	if len(tp.Writers) != 1 || tp.Writers[0].Stage.Ref() != "a/gen" || len(tp.Readers) != 1 || tp.Readers[0].Stage.Ref() != "b/show" {
		t.Errorf("shared: writers %v readers %v", tp.Writers, tp.Readers)
	}
}

func TestGraphUnreadOutput(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  gen:
    generate: {value: '{"n": _offset}'}
    steps: [{assert: n >= 0}]
    to: numbers
    on_error: {dead_letter: numbers-dlq}
topics:
  numbers: {partitions: 2}
  spare: {}
`)
	wantWarnings(t, g,
		"info: topic numbers is written by p/gen, not read by these files",
		"info: dead-letter topic numbers-dlq is written by p/gen (dead letter), not read by these files",
		"info: topic spare is declared, not used by these files",
	)
}

func TestGraphCycle(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  gen: {generate: {value: '1'}, to: a}
transforms:
  ab: {from: a, to: b}
  bc: {from: b, to: c}
  ca: {from: c, to: a}
sinks:
  show: {from: c, stdout: {}}
`)
	wantWarnings(t, g, "cycle: a -> p/ab -> b -> p/bc -> c -> p/ca -> a")
}

// Dead letters and dynamic routes carry records too: a retry loop is a
// cycle, and so is a route back to the input.
func TestGraphCycleThroughDeadLetterAndRoute(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  gen: {generate: {value: '1'}, to: in}
transforms:
  work:
    from: in
    steps: [{assert: _value > 0}]
    to: out
    on_error: {dead_letter: retry}
  retry: {from: retry, to: in}
  route:
    from: out
    steps: [{to: '_value > 1 ? "out" : "done"'}]
    to: done
sinks:
  show: {from: done, stdout: {}}
`)
	wantWarnings(t, g,
		"cycle: in -> p/work (dead letter) -> retry -> p/retry -> in",
		"cycle: out -> p/route (dynamic) -> out",
	)
}

func TestGraphNoWarnings(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  gen: {generate: {value: '1'}, to: a}
transforms:
  t: {from: a, to: b}
sinks:
  show: {from: b, stdout: {}}
`)
	wantWarnings(t, g)
	var text bytes.Buffer
	g.Text(&text)
	if strings.Contains(text.String(), "warnings:") {
		t.Errorf("a warnings heading without warnings:\n%s", text.String())
	}
}

func TestGraphRouteTopics(t *testing.T) {
	for _, c := range []struct {
		expr   string
		topics []string
		open   bool
	}{
		{`"a"`, []string{"a"}, false},
		{`qty > 12 ? "bulk" : "retail"`, []string{"bulk", "retail"}, false},
		{`x ? "a" : y ? "b" : "a"`, []string{"a", "b"}, false},
		{`if x { "b" } else { "a" }`, []string{"a", "b"}, false},
		{`topic ?? "fallback"`, []string{"fallback"}, true},
		{`"orders-" + store`, nil, true},
		{`x ? nil : "not a topic!"`, nil, false},
		{`let t = "a"; t`, nil, true},
		{`(`, nil, true},
	} {
		topics, open := routeTopics(c.expr)
		if !slices.Equal(topics, c.topics) || open != c.open {
			t.Errorf("%s: got %q open %v, want %q open %v", c.expr, topics, open, c.topics, c.open)
		}
	}
}

// An open route may write topics it does not name: external warnings say so.
func TestGraphOpenRoute(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  gen:
    generate: {value: '{"kind": "x"}'}
    steps: [{to: '"kind-" + kind'}]
    to: kind-other
sinks:
  x: {from: kind-x, stdout: {}}
  other: {from: kind-other, stdout: {}}
`)
	wantWarnings(t, g, "external: topic kind-x is read by p/x but no stage of these files writes it (unless the dynamic route of p/gen names it)")
	var text bytes.Buffer
	g.Text(&text)
	if s := `    writes dynamic: "kind-" + kind -> a computed name`; !strings.Contains(text.String(), s) {
		t.Errorf("text lacks %q:\n%s", s, text.String())
	}
}

// Tables, changelogs and cursors are edges; changelogs and cursors are
// internal topics, never warned about.
func TestGraphStatefulAndInternal(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
cursor_topic: my-cursors
sources:
  users: {sql: {driver: sqlite, dsn: 'file:x.db', table: users}, to: users}
  tx: {sql: {driver: sqlite, dsn: 'file:x.db', query: SELECT 1}, to: tx}
transforms:
  balance:
    from: tx
    steps:
      - join: {table: users, as: user}
      - aggregate: {values: {n: count}}
    to: balance
  both:
    from: balance
    steps: [{join_table: {with: users, as: user}}]
    to: both
sinks:
  db: {from: both, sql: {driver: sqlite, dsn: 'file:x.db', table: out}}
`)
	wantWarnings(t, g)
	bal := g.Pipelines[0].Stages[2]
	if bal.Delivery != pipeline.ExactlyOnce || bal.Group != "p.balance" {
		t.Errorf("balance: delivery %s group %s", bal.Delivery, bal.Group)
	}
	wantReads := []Edge{{Topic: "tx", Kind: From}, {Topic: "users", Kind: Table, Step: "join"}}
	if !slices.Equal(bal.Reads, wantReads) {
		t.Errorf("balance reads %v, want %v", bal.Reads, wantReads)
	}
	both := g.Pipelines[0].Stages[3]
	wantReads = []Edge{{Topic: "balance", Kind: Table}, {Topic: "users", Kind: Table, Step: "join_table"}}
	if !slices.Equal(both.Reads, wantReads) {
		t.Errorf("both reads %v, want %v", both.Reads, wantReads)
	}
	for name, kind := range map[string]EdgeKind{"p-balance-changelog": Changelog, "my-cursors": Cursor} {
		tp := g.Topic(name)
		if tp == nil || !tp.Internal() || tp.Writers[0].Kind != kind {
			t.Errorf("%s: %+v, want an internal %s topic", name, tp, kind)
		}
	}
	if s := g.Pipelines[0].Stages[1]; s.Connector != "sql" || s.Detail != "query" {
		t.Errorf("tx source: connector %q detail %q", s.Connector, s.Detail)
	}
	if s := g.Pipelines[0].Stages[4]; s.Connector != "sql" || s.Detail != "table out" {
		t.Errorf("db sink: connector %q detail %q", s.Connector, s.Detail)
	}
}

var mermaidID = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Names that sanitise alike still get distinct ids, and labels are escaped.
func TestGraphMermaidIDs(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  a-b: {generate: {value: '1'}, to: x.y}
  a_b: {generate: {value: '1'}, to: x-y}
  a.b: {generate: {value: '1'}, to: x_y, steps: [{to: 'true ? "x_y" : "end"'}]}
sinks:
  end: {from: [x.y, x-y, x_y, end], stdout: {}}
`)
	var out bytes.Buffer
	g.Mermaid(&out)
	text := out.String()
	ids := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		i := strings.IndexAny(line, `[{(`)
		if i <= 0 || strings.Contains(line[:i], " ") || strings.HasPrefix(line, "subgraph") {
			continue
		}
		id := line[:i]
		if !mermaidID.MatchString(id) {
			t.Errorf("id %q is not sanitised", id)
		}
		if prev, dup := ids[id]; dup {
			t.Errorf("id %q used for %q and %q", id, prev, line)
		}
		ids[id] = line
	}
	for _, s := range []string{
		`t_x_y[("x.y")]`, `t_x_y_2[("x-y")]`, `t_x_y_3[("x_y")]`, `t_end[("end")]`,
		`s_p__a_b["source a-b`, `s_p__a_b_2["source a_b`, `s_p__a_b_3["source a.b`,
		`r_p__a_b_1{{"dynamic: true ? #quot;x_y#quot; : #quot;end#quot;"}}`,
		"  r_p__a_b_1 -.-> t_end\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("mermaid lacks %q:\n%s", s, text)
		}
	}
}

// Output does not depend on map order.
func TestGraphDeterministic(t *testing.T) {
	src := `pipeline: p
kafka: {brokers: embedded}
topics: {a: {}, b: {}, c: {}, d: {}, e: {}, f: {}}
sources:
  s1: {generate: {value: '1'}, to: a}
  s2: {generate: {value: '1'}, to: b}
transforms:
  t1: {from: [a, b, c], to: d}
  t2: {from: d, to: c}
sinks:
  k1: {from: [d, e], stdout: {}}
`
	var first string
	for i := range 20 {
		g := build(t, src)
		var b bytes.Buffer
		g.Text(&b)
		g.Mermaid(&b)
		if i == 0 {
			first = b.String()
		} else if b.String() != first {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, b.String(), first)
		}
	}
}

// A file source keeps a cursor, unless it reads standard input.
func TestGraphFileSourceCursor(t *testing.T) {
	g := build(t, `pipeline: p
kafka: {brokers: embedded}
sources:
  lines: {file: {path: in.jsonl}, to: lines}
  typed: {file: {path: '-'}, to: typed}
`)
	lines, typed := g.Pipelines[0].Stages[0], g.Pipelines[0].Stages[1]
	if want := []Edge{{Topic: "lines", Kind: To}, {Topic: pipeline.DefaultCursorTopic, Kind: Cursor}}; !slices.Equal(lines.Writes, want) {
		t.Errorf("file source writes %v, want %v", lines.Writes, want)
	}
	if want := []Edge{{Topic: "typed", Kind: To}}; !slices.Equal(typed.Writes, want) {
		t.Errorf("stdin source writes %v, want %v", typed.Writes, want)
	}
}
