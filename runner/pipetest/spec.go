// Package pipetest runs pipeline tests: YAML files named <name>.test.yaml
// that name a pipeline file and hold test cases. Each case runs every stage
// of the pipeline (except the disabled ones) on a fresh embedded broker,
// produces the case's input records, waits until the pipeline settles, stops
// it gracefully and compares the expected topics (and SQL rows) with what
// the pipeline wrote.
package pipetest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Defaults of a case.
const (
	DefaultTimeout = 30 * time.Second
	DefaultQuiet   = time.Second
)

// File is one test file.
type File struct {
	Path     string // as given
	Pipeline string // the pipeline file, resolved against the test file's folder
	// PipelinePos is where the file names it.
	PipelinePos pipeline.Pos
	Cases       []*Case
}

// Case is one test case of a file.
type Case struct {
	Name        string
	Pos         pipeline.Pos
	Description string
	Env         map[string]string
	Disable     []Named
	Timeout     time.Duration
	Quiet       time.Duration
	SQL         []SQLExec
	Input       []TopicInput
	Expect      []TopicExpect
	ExpectRows  []RowsExpect
}

// Named is a name and where the file gives it.
type Named struct {
	Name string
	Pos  pipeline.Pos
}

// SQLExec runs statements against a database before the pipeline starts.
type SQLExec struct {
	Driver string // default sqlite
	DSN    string // {{tmp}} is the case's temporary folder
	Exec   []string
	Pos    pipeline.Pos
}

// TopicInput is the records produced into one topic.
type TopicInput struct {
	Topic   string
	Pos     pipeline.Pos
	Records []Input
}

// Input is one record to produce.
type Input struct {
	Key       []byte // nil: a null key
	Value     []byte // nil: a tombstone
	Raw       bool   // Value holds the exact bytes (raw:), not JSON to encode
	Headers   []record.Header
	Timestamp time.Time // zero: now
}

// TopicExpect is the records expected in one topic: exactly these, in
// order per key.
type TopicExpect struct {
	Topic   string
	Pos     pipeline.Pos
	Records []Expect
}

// Expect is one expected record. Only what is set is compared.
type Expect struct {
	Pos     pipeline.Pos
	Path    string
	HasKey  bool
	Key     []byte // with KeyJSON nil: the exact key bytes (nil: a null key)
	KeyJSON any    // an object or list key: compared JSON-equal
	// HasValue: Value is the expected value, JSON-equal (nil: a tombstone).
	HasValue bool
	Value    any
	Raw      []byte // HasRaw: the exact value bytes
	HasRaw   bool
	// Headers lists header values to compare; a nil value means absent.
	Headers map[string]*string
	Where   *pipeline.Expr
}

// RowsExpect is a query whose rows must equal Rows, in order.
type RowsExpect struct {
	Driver string
	DSN    string
	Query  string
	Rows   [][]any
	Pos    pipeline.Pos
}

// Files expands paths: a folder stands for the *.test.yaml and *.test.yml
// files directly in it, in name order.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".test.yaml") || strings.HasSuffix(e.Name(), ".test.yml")) {
				found = append(found, filepath.Join(p, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no *.test.yaml files in %s", p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Load reads and checks one test file; errors name file:line:col and the
// YAML path, like pipeline errors.
// The pipeline file must be inside the test file's folder tree.
func Load(path string) (*File, error) {
	src, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	if err := checkPipelinePath(path, f.Pipeline); err != nil {
		return nil, &pipeline.Error{Pos: f.PipelinePos, Path: "pipeline", Err: err}
	}
	return f, nil
}

// Parse decodes a test file's text.
func Parse(path string, src []byte) (*File, error) {
	d := &specDecoder{file: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, &pipeline.Error{Pos: pipeline.Pos{File: path, Line: 1, Col: 1}, Err: fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	if len(doc.Content) == 0 {
		return nil, pipeline.Errorf(pipeline.Pos{File: path, Line: 1, Col: 1}, "", "the file is empty")
	}
	f := &File{Path: path}
	root := doc.Content[0]
	if !d.boundNodes(root) {
		return nil, d.errs.Err()
	}
	var pipeFile string
	d.mapping(root, "", map[string]func(*yaml.Node, string){
		"pipeline": func(n *yaml.Node, p string) { pipeFile, f.PipelinePos = d.str(n, p), d.pos(n) },
		"tests": func(n *yaml.Node, p string) {
			d.pairs(n, p, func(k, v *yaml.Node, p string) { f.Cases = append(f.Cases, d.testCase(k, v, p)) })
		},
	}, "pipeline", "tests")
	switch {
	case filepath.IsAbs(pipeFile):
		f.Pipeline = pipeFile // Load checks that it is in the test's folder
	case pipeFile != "":
		f.Pipeline = filepath.Join(filepath.Dir(path), pipeFile)
	}
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	if len(f.Cases) == 0 {
		return nil, pipeline.Errorf(d.pos(root), "tests", "no test cases")
	}
	return f, nil
}

type specDecoder struct {
	file string
	errs pipeline.Errors
	// expected counts the expected records of the case being decoded,
	// against MaxExpected.
	expected int
}

func (d *specDecoder) pos(n *yaml.Node) pipeline.Pos {
	return pipeline.Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *specDecoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.Addf(d.pos(n), path, format, args...)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs calls fn for each key of a mapping, in file order.
func (d *specDecoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node, path string)) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		d.errorf(n, path, "must be a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.errorf(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		fn(k, v, join(path, k.Value))
	}
}

// mapping decodes a mapping with known keys; required ones must be present.
func (d *specDecoder) mapping(n *yaml.Node, path string, keys map[string]func(*yaml.Node, string), required ...string) {
	got := map[string]bool{}
	d.pairs(n, path, func(k, v *yaml.Node, p string) {
		fn, ok := keys[k.Value]
		if !ok {
			d.errorf(k, p, "unknown key%s", suggest(k.Value, keys))
			return
		}
		got[k.Value] = true
		fn(v, p)
	})
	if resolve(n).Kind != yaml.MappingNode {
		return
	}
	for _, r := range required {
		if !got[r] {
			d.errorf(n, join(path, r), "missing")
		}
	}
}

func suggest(key string, keys map[string]func(*yaml.Node, string)) string {
	return pipeline.Suggest(key, slices.Collect(maps.Keys(keys)))
}

func (d *specDecoder) str(n *yaml.Node, path string) string {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, path, "must be a string")
		return ""
	}
	return n.Value
}

func (d *specDecoder) strs(n *yaml.Node, path string) []string {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a string or a list of strings")
		return nil
	}
	var out []string
	for i, e := range n.Content {
		out = append(out, d.str(e, fmt.Sprintf("%s[%d]", path, i)))
	}
	return out
}

func (d *specDecoder) seq(n *yaml.Node, path string, fn func(e *yaml.Node, path string)) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list")
		return
	}
	for i, e := range n.Content {
		fn(e, fmt.Sprintf("%s[%d]", path, i))
	}
}

func (d *specDecoder) duration(n *yaml.Node, path string) time.Duration {
	s := d.str(n, path)
	if s == "" {
		return 0
	}
	v, err := pipeline.ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return 0
	}
	if v <= 0 {
		d.errorf(n, path, "must be positive")
	}
	return time.Duration(v)
}

func (d *specDecoder) testCase(k, v *yaml.Node, path string) *Case {
	c := &Case{Name: k.Value, Pos: d.pos(k), Timeout: DefaultTimeout, Quiet: DefaultQuiet}
	d.expected = 0
	d.mapping(v, path, map[string]func(*yaml.Node, string){
		"description": func(n *yaml.Node, p string) { c.Description = d.str(n, p) },
		"env": func(n *yaml.Node, p string) {
			c.Env = map[string]string{}
			d.pairs(n, p, func(k, v *yaml.Node, p string) { c.Env[k.Value] = d.str(v, p) })
		},
		"disable": func(n *yaml.Node, p string) {
			d.seq(n, p, func(e *yaml.Node, p string) { c.Disable = append(c.Disable, Named{d.str(e, p), d.pos(e)}) })
		},
		"timeout": func(n *yaml.Node, p string) {
			if t := d.duration(n, p); t > 0 {
				c.Timeout = t
			}
		},
		"quiet": func(n *yaml.Node, p string) {
			if t := d.duration(n, p); t > 0 {
				c.Quiet = t
			}
		},
		"sql": func(n *yaml.Node, p string) {
			d.seq(n, p, func(e *yaml.Node, p string) {
				s := SQLExec{Driver: "sqlite", Pos: d.pos(e)}
				d.mapping(e, p, map[string]func(*yaml.Node, string){
					"driver": func(n *yaml.Node, p string) { s.Driver = d.str(n, p) },
					"dsn":    func(n *yaml.Node, p string) { s.DSN = d.str(n, p) },
					"exec":   func(n *yaml.Node, p string) { s.Exec = d.strs(n, p) },
				}, "dsn", "exec")
				c.SQL = append(c.SQL, s)
			})
		},
		"input": func(n *yaml.Node, p string) {
			d.pairs(n, p, func(k, v *yaml.Node, p string) {
				ti := TopicInput{Topic: k.Value, Pos: d.pos(k)}
				d.seq(v, p, func(e *yaml.Node, p string) { ti.Records = append(ti.Records, d.input(e, p)) })
				c.Input = append(c.Input, ti)
			})
		},
		"expect": func(n *yaml.Node, p string) {
			d.pairs(n, p, func(k, v *yaml.Node, p string) {
				te := TopicExpect{Topic: k.Value, Pos: d.pos(k)}
				d.seq(v, p, func(e *yaml.Node, p string) { te.Records = append(te.Records, d.expect(e, p)...) })
				c.Expect = append(c.Expect, te)
			})
		},
		"expect_rows": func(n *yaml.Node, p string) {
			d.seq(n, p, func(e *yaml.Node, p string) {
				r := RowsExpect{Driver: "sqlite", Pos: d.pos(e)}
				d.mapping(e, p, map[string]func(*yaml.Node, string){
					"driver": func(n *yaml.Node, p string) { r.Driver = d.str(n, p) },
					"dsn":    func(n *yaml.Node, p string) { r.DSN = d.str(n, p) },
					"query":  func(n *yaml.Node, p string) { r.Query = d.str(n, p) },
					"rows": func(n *yaml.Node, p string) {
						r.Rows = [][]any{}
						d.seq(n, p, func(e *yaml.Node, p string) {
							e = resolve(e)
							if e.Kind != yaml.SequenceNode {
								d.errorf(e, p, "a row must be a list of cells")
								return
							}
							row := []any{}
							for _, cell := range e.Content {
								row = append(row, value(cell))
							}
							r.Rows = append(r.Rows, row)
						})
					},
				}, "dsn", "query", "rows")
				c.ExpectRows = append(c.ExpectRows, r)
			})
		},
	})
	return c
}

func (d *specDecoder) headers(n *yaml.Node, path string, fn func(name string, v *yaml.Node)) {
	d.pairs(n, path, func(k, v *yaml.Node, p string) {
		v = resolve(v)
		if v.Kind != yaml.ScalarNode {
			d.errorf(v, p, "a header value must be a scalar")
			return
		}
		fn(k.Value, v)
	})
}

func (d *specDecoder) input(n *yaml.Node, path string) Input {
	var in Input
	hasValue, hasRaw := false, false
	d.mapping(n, path, map[string]func(*yaml.Node, string){
		"key": func(n *yaml.Node, p string) { in.Key, _ = keyOf(n) },
		"value": func(n *yaml.Node, p string) {
			hasValue = true
			if v := value(n); v != nil {
				b, err := record.JSON.Encode(v)
				if err != nil {
					d.errorf(n, p, "%v", err)
				}
				in.Value = b
			}
		},
		"raw": func(n *yaml.Node, p string) { hasRaw, in.Raw = true, true; in.Value = []byte(d.str(n, p)) },
		"headers": func(n *yaml.Node, p string) {
			d.headers(n, p, func(name string, v *yaml.Node) {
				in.Headers = append(in.Headers, record.Header{Key: name, Value: []byte(v.Value)})
			})
		},
		"timestamp": func(n *yaml.Node, p string) {
			s := d.str(n, p)
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				d.errorf(n, p, "want an RFC 3339 time such as 2026-12-01T10:00:00Z: %v", err)
			}
			in.Timestamp = t
		},
	})
	if hasValue && hasRaw {
		d.errorf(n, path, "value and raw exclude each other")
	}
	return in
}

// expect decodes one expected record; count repeats it.
func (d *specDecoder) expect(n *yaml.Node, path string) []Expect {
	e := Expect{Pos: d.pos(n), Path: path}
	count := 1
	d.mapping(n, path, map[string]func(*yaml.Node, string){
		"key": func(n *yaml.Node, p string) {
			e.HasKey = true
			var isJSON bool
			e.Key, isJSON = keyOf(n)
			if isJSON {
				e.KeyJSON = canonical(value(n))
			}
		},
		"value": func(n *yaml.Node, p string) { e.HasValue = true; e.Value = canonical(value(n)) },
		"raw":   func(n *yaml.Node, p string) { e.HasRaw = true; e.Raw = []byte(d.str(n, p)) },
		"headers": func(n *yaml.Node, p string) {
			e.Headers = map[string]*string{}
			d.headers(n, p, func(name string, v *yaml.Node) {
				if v.Tag == "!!null" {
					e.Headers[name] = nil
					return
				}
				s := v.Value
				e.Headers[name] = &s
			})
		},
		"where": func(n *yaml.Node, p string) {
			src := d.str(n, p)
			x := pipeline.Expr{Src: src, Path: p, Pos: d.pos(n), Col0: n.Column}
			switch n.Style {
			case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
				x.Col0++
			case yaml.LiteralStyle, yaml.FoldedStyle:
				x.Pos.Line++
			}
			e.Where = &x
		},
		"count": func(n *yaml.Node, p string) {
			v, err := strconv.Atoi(d.str(n, p))
			if err != nil || v < 1 || v > MaxExpected {
				d.errorf(n, p, "must be a whole number from 1 to %d", MaxExpected)
				return
			}
			count = v
		},
	})
	if d.expected += count; d.expected > MaxExpected {
		if d.expected-count <= MaxExpected { // once per case
			d.errorf(n, path, "the case expects more than %d records: write smaller cases", MaxExpected)
		}
		return nil
	}
	if e.HasValue && e.HasRaw {
		d.errorf(n, path, "value and raw exclude each other")
	}
	if !e.HasKey && !e.HasValue && !e.HasRaw && e.Headers == nil && e.Where == nil {
		d.errorf(n, path, "an expected record needs at least one of key, value, raw, headers or where")
	}
	out := make([]Expect, count)
	for i := range out {
		out[i] = e
	}
	return out
}

// keyOf returns a key's bytes: a scalar's text, nil for null, the JSON text
// of a mapping or list (isJSON).
func keyOf(n *yaml.Node) (key []byte, isJSON bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil, false
		}
		return []byte(n.Value), false
	}
	b, _ := record.JSON.Encode(value(n))
	return b, true
}

// value converts a YAML node to a JSON-like value: map[string]any, []any,
// string, int64, float64, bool or nil. Timestamps and other tags stay text.
func value(n *yaml.Node) any {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = value(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			l = append(l, value(e))
		}
		return l
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
			var f float64
			if n.Decode(&f) == nil {
				return f
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return f
			}
		}
		return n.Value
	}
	return nil
}
