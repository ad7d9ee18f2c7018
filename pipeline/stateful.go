package pipeline

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// JoinType says what a join does with a record that has no match.
type JoinType string

// Join types.
const (
	Inner JoinType = "inner" // no match: the record is dropped (counted as filtered)
	Left  JoinType = "left"  // no match: the record goes on with a null
	Outer JoinType = "outer" // table-table joins: a change on either side emits
)

// Join (step join) enriches each record with the current row of a table:
// a topic read whole, latest value per key, and kept up to date.
type Join struct {
	Table string   `yaml:"table" conf:"required"` // the table's topic
	Key   *Expr    `yaml:"key"`                   // the lookup key; default the record key
	As    string   `yaml:"as" conf:"required"`    // the field that gets the row
	Type  JoinType `yaml:"type"`                  // inner (default) or left
}

// JoinTable (step join_table) joins the stage's input table with another
// table by key: a change on either side emits the joined row.
type JoinTable struct {
	With string   `yaml:"with" conf:"required"` // the other table's topic
	As   string   `yaml:"as" conf:"required"`   // the field that gets its row
	Type JoinType `yaml:"type"`                 // inner (default), left or outer
}

// Aggregate (step aggregate) folds the records of each key (and window)
// into one row of named aggregations.
type Aggregate struct {
	// By groups records; default the record key. Records of one group must
	// arrive on one partition: group by the key, or re-key in an earlier
	// stage.
	By     *Expr
	Values []Aggregation
	Window *Window
	Emit   Emit
	Pos    Pos
	Path   string
}

// Aggregation is one named aggregation of an aggregate step.
type Aggregation struct {
	Name  string
	Func  string // one of AggregationFuncs
	Expr  *Expr  // nil for count without an expression
	Where *Expr  // only records where this is true count
	Path  string
	Pos   Pos
}

// AggregationFuncs are the aggregation functions.
var AggregationFuncs = []string{"count", "sum", "min", "max", "avg", "first", "last", "collect"}

// Window splits each group's records by their timestamps.
type Window struct {
	Tumbling Duration `yaml:"tumbling"` // fixed windows of this size
	Hopping  Duration `yaml:"hopping"`  // windows of this size...
	Advance  Duration `yaml:"advance"`  // ...starting every advance
	Session  Duration `yaml:"session"`  // a window per run of records less than this apart
	Grace    Duration `yaml:"grace"`    // how late a record may be and still count
	Pos      Pos
	Path     string
}

// Emit says when an aggregate writes a row.
type Emit string

// Emit modes.
const (
	EmitChanges Emit = "changes" // every update
	EmitFinal   Emit = "final"   // once, when the window closes (windowed only)
)

func (d *decoder) aggregate(n *yaml.Node, path string) *Aggregate {
	a := &Aggregate{Pos: d.pos(n), Path: path, Emit: EmitChanges}
	kv, ok := d.pairs(n, path)
	if !ok {
		return a
	}
	for _, p := range kv {
		key, body, kp := p[0].Value, resolveAlias(p[1]), join(path, p[0].Value)
		switch key {
		case "by":
			a.By = d.exprNode(body, kp)
		case "values":
			vs, _ := d.pairs(body, kp)
			for _, v := range vs {
				if ag, ok := d.aggregation(v[0].Value, resolveAlias(v[1]), join(kp, v[0].Value)); ok {
					a.Values = append(a.Values, ag)
				}
			}
			if len(vs) == 0 {
				d.errorf(body, kp, "want at least one aggregation")
			}
		case "window":
			w := &Window{Pos: d.pos(body), Path: kp}
			d.decode(body, kp, reflectValue(w))
			a.Window = w
			d.checkWindow(body, w)
		case "emit":
			decodeEnum(d, body, kp, &a.Emit, EmitChanges, EmitFinal)
		default:
			d.errorf(p[0], kp, "unknown key%s", suggest(key, []string{"by", "values", "window", "emit"}))
		}
	}
	if a.Values == nil && !d.failed(join(path, "values")) {
		d.errorf(n, join(path, "values"), "missing: name at least one aggregation, such as total: {sum: amount}")
	}
	if a.Emit == EmitFinal && a.Window == nil {
		d.errorf(n, join(path, "emit"), "emit: final needs a window: without one an aggregate never closes")
	}
	return a
}

// aggregation decodes `name: count`, `name: {FUNC: EXPR}` or
// `name: {FUNC: EXPR, where: EXPR}`.
func (d *decoder) aggregation(name string, n *yaml.Node, path string) (Aggregation, bool) {
	ag := Aggregation{Name: name, Path: path, Pos: d.pos(n)}
	if !identRE.MatchString(name) {
		d.errorf(n, path, "invalid field name %q", name)
		return ag, false
	}
	if n.Kind == yaml.ScalarNode && n.Value == "count" {
		ag.Func = "count"
		return ag, true
	}
	kv, ok := d.pairs(n, path)
	if !ok {
		return ag, false
	}
	for _, p := range kv {
		key, body, kp := p[0].Value, resolveAlias(p[1]), join(path, p[0].Value)
		switch {
		case key == "where":
			ag.Where = d.exprNode(body, kp)
		case slices.Contains(AggregationFuncs, key):
			if ag.Func != "" {
				d.errorf(p[0], kp, "one function per aggregation: %s is already %s", name, ag.Func)
				continue
			}
			ag.Func = key
			ag.Expr = d.exprNode(body, kp)
		default:
			d.errorf(p[0], kp, "unknown aggregation function %q: want one of %s, and optionally where", key, strings.Join(AggregationFuncs, ", "))
		}
	}
	if ag.Func == "" {
		d.errorf(n, path, "missing function: one of %s", strings.Join(AggregationFuncs, ", "))
		return ag, false
	}
	return ag, true
}

func (d *decoder) checkWindow(n *yaml.Node, w *Window) {
	kinds := 0
	for _, v := range []Duration{w.Tumbling, w.Hopping, w.Session} {
		if v > 0 {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		d.errorf(n, w.Path, "a window is one of tumbling, hopping or session, with its size")
	case w.Hopping > 0 && (w.Advance <= 0 || w.Advance > w.Hopping):
		d.errorf(n, join(w.Path, "advance"), "a hopping window needs advance, more than 0 and at most its size")
	case w.Hopping == 0 && w.Advance > 0:
		d.errorf(n, join(w.Path, "advance"), "advance is for hopping windows")
	}
}
