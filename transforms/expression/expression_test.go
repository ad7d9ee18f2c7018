package expression

import (
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// at builds an expression as the config loader does for `total: SRC` at
// line 12, column 16 of configs/x.yaml.
func at(src string) pipeline.Expr {
	return pipeline.Expr{
		Src:  src,
		Path: "transforms.price.steps[1].set.total",
		Pos:  pipeline.Pos{File: "configs/x.yaml", Line: 12, Col: 16},
		Col0: 16,
	}
}

func TestCompileErrors(t *testing.T) {
	quoted := at(`qty + `)
	quoted.Col0 = 17 // "qty + " starts after the opening quote

	tests := []struct {
		name string
		e    pipeline.Expr
		kind Kind
		want string
	}{
		{"unknown function", at("qty * qtty(unit_price)"), Any,
			`configs/x.yaml:12:22: transforms.price.steps[1].set.total: unknown function "qtty"`},
		{"unknown function, first in source", at("foo(bar(1))"), Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: unknown function "foo"`},
		{"field called as function", at("1 + qty(2)"), Any,
			`configs/x.yaml:12:20: transforms.price.steps[1].set.total: unknown function "qty"`},
		{"unknown function inside predicate", at("filter(items, nope(#))"), Any,
			`configs/x.yaml:12:30: transforms.price.steps[1].set.total: unknown function "nope"`},
		{"syntax error", at("qty +"), Any,
			`configs/x.yaml:12:20: transforms.price.steps[1].set.total: unexpected token EOF`},
		{"syntax error in quoted scalar", quoted, Any,
			`configs/x.yaml:12:22: transforms.price.steps[1].set.total: unexpected token EOF`},
		{"syntax error on a later line", at("qty *\n  (price"), Any,
			`configs/x.yaml:13:23: transforms.price.steps[1].set.total: unexpected token EOF`},
		{"unterminated string", at(`"abc`), Any,
			`configs/x.yaml:12:20: transforms.price.steps[1].set.total: literal not terminated`},
		{"filter returning int", at("1 + 2"), Bool,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: expected bool, but got int`},
		{"filter returning string", at("upper(donut)"), Bool,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: expected bool, but got string`},
		{"filter returning our string", at("uuid()"), Bool,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: expected bool, but got string`},
		{"too few arguments", at("sha256()"), Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: not enough arguments to call sha256`},
		{"too many arguments", at("uuid(1)"), Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: too many arguments to call uuid`},
		{"too few arguments to random", at("int_between(1)"), Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: not enough arguments to call int_between`},
		{"literal of wrong type", at("parse_time(ts, 5)"), Any,
			`configs/x.yaml:12:31: transforms.price.steps[1].set.total: cannot use int as argument (type string) to call parse_time`},
		{"typed metadata", at("_topic + 1"), Any,
			`configs/x.yaml:12:23: transforms.price.steps[1].set.total: invalid operation: + (mismatched types string and int)`},
		{"method on time", at("_timestamp.Foo()"), Any,
			`configs/x.yaml:12:27: transforms.price.steps[1].set.total: type time.Time has no method Foo`},
		{"$env", at("1 + $env.qty"), Any,
			`configs/x.yaml:12:20: transforms.price.steps[1].set.total: $env is not available: use _value["name"] for a field whose name is not an identifier`},
		{"empty", at("  "), Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: empty expression`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.e, Options{}, tt.kind)
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			var ce *pipeline.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *pipeline.Error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, src := range []string{
		"qty > 0",
		"qty",             // unknown type: checked per record
		"is_vip ?? false", // unknown type
		"len(items) > 0 && all(items, .qty > 0)",
		"_partition == 1 || _topic == 'orders'",
		"_timestamp.Year() > 2000",
		"let x = qty * 2; x > 10",
	} {
		if _, err := Compile(at(src), Options{}, Bool); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// run compiles src and evaluates it against r with a seeded machine.
func run(t *testing.T, src string, opts Options, r *record.Record) (any, error) {
	t.Helper()
	p, err := Compile(at(src), opts, Any)
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(1, 2))
	}
	var env Env
	env.Reset(r)
	return opts.NewMachine().Run(p, &env)
}

func order() *record.Record {
	return &record.Record{
		Key:       []byte("k1"),
		Value:     map[string]any{"donut": "glazed", "qty": int64(3), "price": 1.5, "_key": "field", "nested": map[string]any{"a": int64(1)}},
		Headers:   []record.Header{{Key: "h", Value: []byte("one")}, {Key: "h", Value: []byte("two")}, {Key: "trace", Value: []byte("t1")}},
		Topic:     "orders",
		Partition: 4,
		Offset:    1234,
		Timestamp: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	}
}

func TestEnv(t *testing.T) {
	vars := map[string]any{"prices": map[string]any{"glazed": 1.25}, "qty": 99, "limit": 10}
	tests := []struct {
		name  string
		src   string
		value any // replaces the value of order() when set
		want  any
	}{
		{"field", "qty * price", nil, 4.5},
		{"missing field is null", "missing", nil, nil},
		{"missing field with default", "missing ?? 7", nil, 7},
		{"optional chaining", "missing?.deep?.er", nil, nil},
		{"nested field", "nested.a", nil, int64(1)},
		{"var", "prices[donut]", nil, 1.25},
		{"field shadows var", "qty", nil, int64(3)},
		{"var without field", "limit", nil, 10},
		{"metadata shadows field", "_key", nil, "k1"},
		{"null key", "_key == nil", "tombstone-key", true},
		{"value of object", "_value.donut", nil, "glazed"},
		{"value and field together", "_value.qty + qty", nil, 6},
		{"headers, last duplicate wins", "_headers.h", nil, "two"},
		{"missing header is null", "_headers.nope ?? 'none'", nil, "none"},
		{"topic", "_topic", nil, "orders"},
		{"partition", "_partition", nil, 4},
		{"offset", "_offset", nil, 1234},
		{"timestamp", "_timestamp.Year()", nil, 2026},
		{"string value has no fields", "[_value, qty]", "plain", []any{"plain", 99}},
		{"tombstone", "_value == nil && donut == nil", "tombstone", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := order()
			switch tt.value {
			case nil:
			case "tombstone":
				r.Value = nil
			case "tombstone-key":
				r.Key = nil
			default:
				r.Value = tt.value
			}
			got, err := run(t, tt.src, Options{Vars: vars}, r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRunLeavesValueUnchanged(t *testing.T) {
	vars := map[string]any{"prices": map[string]any{"glazed": 1.25}}
	for _, src := range []string{
		"prices[donut] + _partition + len(_key) + len(_headers) + _offset",
		"_value.qty + uuid()[0:0] == '' ? 1 : 2",
		"nope.bad", // runtime error
	} {
		r := order()
		want := order().Value
		_, _ = run(t, src, Options{Vars: vars}, r)
		if !reflect.DeepEqual(r.Value, want) {
			t.Errorf("%s: value changed to %v", src, r.Value)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"missing + 1", "invalid operation: <nil> + int"},
		{"nested.x.y", "cannot fetch y from <nil>"},
		{"donut.x", "invalid operation: int(string)"},
		{"qty[5]", "cannot fetch 5 from int64"},
		{"sha256(missing)", "sha256: argument is null"},
		{"duration('1x')", `time: unknown unit "x" in duration "1x"`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := run(t, tt.src, Options{}, order())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestRunBool(t *testing.T) {
	tests := []struct {
		src     string
		want    bool
		wantErr string
	}{
		{"qty > 2", true, ""},
		{"qty > 5", false, ""},
		{"missing", false, ""}, // null counts as false
		{"donut", false, "invalid operation: bool(string)"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Compile(at(tt.src), Options{}, Bool)
			if err != nil {
				t.Fatal(err)
			}
			var env Env
			env.Reset(order())
			got, err := Options{}.NewMachine().RunBool(p, &env)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestRunWithoutReset(t *testing.T) {
	p, err := Compile(at("1"), Options{}, Any)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Options{}).NewMachine().Run(p, &Env{}); !errors.Is(err, errNoRecord) {
		t.Fatalf("error %v, want errNoRecord", err)
	}
}

// Metadata is cached per record: Reset must forget it.
func TestEnvResetForgetsMetadata(t *testing.T) {
	p, err := Compile(at("_key + _headers.trace"), Options{}, Any)
	if err != nil {
		t.Fatal(err)
	}
	m := Options{}.NewMachine()
	var env Env
	r := order()
	env.Reset(r)
	if got, _ := m.Run(p, &env); got != "k1t1" {
		t.Fatalf("got %v", got)
	}
	r.Key = []byte("k2")
	r.SetHeader("trace", []byte("t2"))
	env.Reset(r)
	if got, _ := m.Run(p, &env); got != "k2t2" {
		t.Fatalf("after Reset got %v", got)
	}
}

func TestIsReserved(t *testing.T) {
	for name, want := range map[string]bool{"_key": true, "_timestamp": true, "_id": false, "key": false, "_": false} {
		if IsReserved(name) != want {
			t.Errorf("IsReserved(%q) = %v", name, !want)
		}
	}
}

// One Program, many goroutines, each with its own Machine and Env.
func TestConcurrentRuns(t *testing.T) {
	vars := map[string]any{"prices": map[string]any{"glazed": 1.25}}
	p, err := Compile(at("prices[donut] * qty + int_between(0, 0) + len(_topic)"), Options{Vars: vars}, Any)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Rand: rand.New(rand.NewPCG(1, 2))}
	machines := []*Machine{opts.NewMachine(), opts.NewMachine(), opts.NewMachine(), opts.NewMachine()}
	var wg sync.WaitGroup
	for _, m := range machines {
		wg.Go(func() {
			var env Env
			for range 200 {
				env.Reset(order())
				got, err := m.Run(p, &env)
				if err != nil || got != 9.75 {
					t.Errorf("got %v, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The doc comment's table and Functions come from one list; keep them equal.
func TestFunctionsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range Functions() {
		if f.Name == "" || f.Signature == "" || f.Example == "" || f.Result == "" || f.Doc == "" {
			t.Errorf("%s: incomplete doc %+v", f.Name, f)
		}
		if seen[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		seen[f.Name] = true
		if !strings.HasPrefix(f.Signature, f.Name+"(") {
			t.Errorf("%s: signature %q does not start with the name", f.Name, f.Signature)
		}
		row := regexp.MustCompile(`(?m)^//\t` + regexp.QuoteMeta(f.Signature) + ` +` + f.Result + ` +` + regexp.QuoteMeta(f.Example) + `$`)
		if !row.Match(doc) {
			t.Errorf("%s: doc.go table lacks the row %s  %s  %s", f.Name, f.Signature, f.Result, f.Example)
		}
		// Every example compiles.
		if _, err := Compile(at(f.Example), Options{}, Any); err != nil {
			t.Errorf("%s: example %q: %v", f.Name, f.Example, err)
		}
	}
}

// TestCompileLimits: expressions that would crash, stall or swamp `check`
// fail at once with an error pointing where the limit is crossed.
func TestCompileLimits(t *testing.T) {
	nest := func(open, inner, close string, n int) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	const where = "configs/x.yaml:12:%d: transforms.price.steps[1].set.total: "
	pos := func(col int, msg string) string { return strings.Replace(where, "%d", strconv.Itoa(col), 1) + msg }
	deep := "expression nests more than 64 levels deep here (brackets and prefix operators)"
	tests := []struct {
		name, src, want string
	}{
		{"700,000 unary minus signs", strings.Repeat("-", 700_000) + "x",
			pos(16, "expression is 700001 bytes long, more than the 16384 allowed")},
		{"300,000 nested parentheses", nest("(", "x", ")", 300_000),
			pos(16, "expression is 600001 bytes long, more than the 16384 allowed")},
		{"unary minus signs within the length", "1 + " + strings.Repeat("-", 100) + "x", pos(16+4+64, deep)},
		{"nested parentheses within the length", nest("(", "x", ")", 65), pos(16+64, deep)},
		// Five levels per "[-{'a': !(": the 65th is the ( of the 13th.
		{"brackets and prefix operators", nest("[-{'a': !(", "x", ")}]", 20), pos(16+12*10+9, deep)},
		{"nested calls", nest("upper(", "x", ")", 65), pos(16+6*64+5, deep)},
		{"replace nested 24 deep", nest("replace(", "x", `, "a", "b")`, 24),
			pos(16, "calls of replace nest too deeply to type-check (each tries every signature of the function on its arguments): compute the inner ones in an earlier set field")},
		{"sort nested through pipes", "x" + strings.Repeat(" | sort()", 10),
			pos(16+1+9*9+3, "calls of sort nest too deeply to type-check (each tries every signature of the function on its arguments): compute the inner ones in an earlier set field")},
		{"too many arguments to an optional one", "parse_time(ts, 'DateOnly', 'x')",
			pos(16, "too many arguments to call parse_time: want at most 2, got 3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(at(tt.src), Options{}, Any)
			var ce *pipeline.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *pipeline.Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

// TestCompileWithinLimits: what real steps write stays well inside.
func TestCompileWithinLimits(t *testing.T) {
	nest := func(open, inner, close string, n int) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	for _, src := range []string{
		nest("(", "x", ")", 64),
		"- - - - x",
		"not not !x",
		nest("replace(", "phone", `, " ", "")`, 8),
		nest("trim(", "name", `, " ")`, 8),
		"x | sort() | sort() | sort() | first()",
		// One signature each: nesting costs nothing extra.
		nest("format_time(parse_time(", "ts", `, "DateOnly"), "DateTime")`, 24),
		"a" + strings.Repeat(" + a", 2000),
		`{"a": [1, {"b": [2, {"c": -x}]}], "d": not (y > 1)}`,
	} {
		if _, err := Compile(at(src), Options{}, Any); err != nil {
			t.Errorf("%.60s...: %v", src, err)
		}
	}
}

// A field named like a built-in of expr's (count, filter) is the field
// where the expression does not call it, with or without a schema.
func TestFieldNamedLikeBuiltin(t *testing.T) {
	p, err := Compile(pipeline.Expr{Src: `count + 1`, Path: "x", Pos: pipeline.Pos{Line: 1, Col: 1}}, Options{}, Any)
	if err != nil {
		t.Fatal(err)
	}
	var env Env
	env.Reset(&record.Record{Value: map[string]any{"count": int64(41)}})
	got, err := Options{}.NewMachine().Run(p, &env)
	if err != nil || got != 42 {
		t.Fatalf("count + 1 on {count: 41}: %v, %v; want 42", got, err)
	}
	if _, err := Compile(pipeline.Expr{Src: `count([1, 2], # > 1)`, Path: "x", Pos: pipeline.Pos{Line: 1, Col: 1}}, Options{}, Any); err != nil {
		t.Fatalf("count called: %v", err)
	}
}
