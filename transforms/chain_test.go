package transforms

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Step builders, shaped as the config loader fills pipeline.Step.
func ex(src string) *pipeline.Expr { return &pipeline.Expr{Src: src} }

func filter(src string) pipeline.Step { return pipeline.Step{Kind: "filter", Filter: ex(src)} }
func mapTo(src string) pipeline.Step  { return pipeline.Step{Kind: "map", Map: ex(src)} }
func key(src string) pipeline.Step    { return pipeline.Step{Kind: "key", Key: ex(src)} }
func to(src string) pipeline.Step     { return pipeline.Step{Kind: "to", To: ex(src)} }

func assert(src, msg string) pipeline.Step {
	return pipeline.Step{Kind: "assert", Assert: &pipeline.Assert{Expr: *ex(src), Message: msg}}
}

// fields turns "name", "src", ... pairs into ordered fields.
func fields(pairs ...string) []pipeline.Field {
	var fs []pipeline.Field
	for i := 0; i < len(pairs); i += 2 {
		fs = append(fs, pipeline.Field{Name: pairs[i], Expr: *ex(pairs[i+1])})
	}
	return fs
}

func set(pairs ...string) pipeline.Step { return pipeline.Step{Kind: "set", Set: fields(pairs...)} }
func headers(pairs ...string) pipeline.Step {
	return pipeline.Step{Kind: "headers", Headers: fields(pairs...)}
}
func drop(names ...string) pipeline.Step { return pipeline.Step{Kind: "drop", Drop: names} }
func keep(names ...string) pipeline.Step { return pipeline.Step{Kind: "keep", Keep: names} }

func rename(pairs ...string) pipeline.Step {
	s := pipeline.Step{Kind: "rename"}
	for i := 0; i < len(pairs); i += 2 {
		s.Rename = append(s.Rename, pipeline.Rename{From: pairs[i], To: pairs[i+1]})
	}
	return s
}

func explode(src, as string) pipeline.Step {
	return pipeline.Step{Kind: "explode", Explode: &pipeline.Explode{Expr: *ex(src), As: as}}
}

func orderRecord() *record.Record {
	return &record.Record{
		Key:     []byte("o1"),
		Value:   map[string]any{"donut": "glazed", "qty": int64(3), "items": []any{"a", "b", "c"}},
		Headers: []record.Header{{Key: "trace", Value: []byte("t1")}},
		Topic:   "orders",
	}
}

var testVars = map[string]any{"prices": map[string]any{"glazed": 1.25, "maple": 2.0}}

// result is what a test checks of one output record.
type result struct {
	Value   any
	Key     []byte
	Headers []record.Header
	To      string
}

func TestSteps(t *testing.T) {
	obj := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	order := func(kv ...any) map[string]any {
		return obj(append([]any{"donut", "glazed", "qty", int64(3), "items", []any{"a", "b", "c"}}, kv...)...)
	}
	trace := []record.Header{{Key: "trace", Value: []byte("t1")}}
	plain := func(v any) result { return result{Value: v, Key: []byte("o1"), Headers: trace} }

	tests := []struct {
		name     string
		steps    []pipeline.Step
		value    any // replaces orderRecord's value unless "order"
		want     []result
		wantErr  string
		filtered uint64
	}{
		{name: "no steps", value: "order", want: []result{plain(order())}},

		{name: "filter true", steps: []pipeline.Step{filter("qty > 0")}, value: "order", want: []result{plain(order())}},
		{name: "filter false", steps: []pipeline.Step{filter("qty > 5")}, value: "order", filtered: 1},
		{name: "filter on missing field is false", steps: []pipeline.Step{filter("is_vip")}, value: "order", filtered: 1},
		{name: "filter non-bool", steps: []pipeline.Step{filter("donut")}, value: "order",
			wantErr: "steps[0] filter: invalid operation: bool(string)"},
		{name: "filter on tombstone", steps: []pipeline.Step{filter("_value == nil")}, value: nil, want: []result{plain(nil)}},
		{name: "filter on tombstone fields", steps: []pipeline.Step{filter("qty > 0")}, value: nil,
			wantErr: "steps[0] filter: invalid operation: <nil> > int"},

		{name: "assert passes", steps: []pipeline.Step{assert("qty > 0", "")}, value: "order", want: []result{plain(order())}},
		{name: "assert fails", steps: []pipeline.Step{assert("qty > 5", "")}, value: "order",
			wantErr: "steps[0] assert: assertion failed: qty > 5"},
		{name: "assert fails with message", steps: []pipeline.Step{assert("qty > 5", "too few donuts")}, value: "order",
			wantErr: "steps[0] assert: too few donuts"},
		{name: "assert on null fails", steps: []pipeline.Step{assert("missing", "")}, value: "order",
			wantErr: "steps[0] assert: assertion failed: missing"},

		{name: "set in order", steps: []pipeline.Step{set("unit_price", "prices[donut]", "total", "qty * unit_price", "bulk", "qty >= 12")},
			value: "order", want: []result{plain(order("unit_price", 1.25, "total", 3.75, "bulk", false))}},
		{name: "set overwrites", steps: []pipeline.Step{set("qty", "qty + 1", "qty", "qty * 10")},
			value: "order", want: []result{plain(obj("donut", "glazed", "qty", 40, "items", []any{"a", "b", "c"}))}},
		{name: "set sees metadata", steps: []pipeline.Step{set("src", "_topic + ':' + _key")},
			value: "order", want: []result{plain(order("src", "orders:o1"))}},
		{name: "set null", steps: []pipeline.Step{set("gone", "missing")}, value: "order", want: []result{plain(order("gone", nil))}},
		{name: "set on string", steps: []pipeline.Step{set("a", "1")}, value: "hello",
			wantErr: "steps[0] set: set needs an object value, got string"},
		{name: "set on tombstone passes it", steps: []pipeline.Step{set("a", "1")}, value: nil, want: []result{plain(nil)}},
		{name: "tombstone through every step", steps: []pipeline.Step{
			filter("_value == nil"), assert("_value == nil", ""), set("a", "1 / 0"), explode("items", "item"),
			drop("a"), keep("b"), rename("c", "d"), key("'k-' + _key"), headers("deleted", "true"), to("'deletes'")},
			value: nil, want: []result{{Key: []byte("k-o1"), Headers: []record.Header{{Key: "trace", Value: []byte("t1")}, {Key: "deleted", Value: []byte("true")}}, To: "deletes"}}},
		{name: "map sees a tombstone", steps: []pipeline.Step{set("a", "1"), mapTo("_value == nil ? 'was deleted' : 'kept'")}, value: nil,
			want: []result{plain("was deleted")}},
		{name: "map nil emits a tombstone that set passes", steps: []pipeline.Step{mapTo("nil"), set("a", "1")}, value: "order",
			want: []result{plain(nil)}},
		{name: "set runtime error names the field", steps: []pipeline.Step{filter("true"), set("ok", "1", "total", "qty * missing")},
			value: "order", wantErr: "steps[1] set.total: invalid operation: int64 * <nil>"},

		{name: "map to object", steps: []pipeline.Step{mapTo("{id: donut, n: qty}")}, value: "order",
			want: []result{plain(obj("id", "glazed", "n", int64(3)))}},
		{name: "map to string", steps: []pipeline.Step{mapTo("upper(donut)")}, value: "order", want: []result{plain("GLAZED")}},
		{name: "map to null makes a tombstone", steps: []pipeline.Step{mapTo("nil")}, value: "order", want: []result{plain(nil)}},
		{name: "map tombstone to object", steps: []pipeline.Step{mapTo("{deleted: _key}")}, value: nil,
			want: []result{plain(obj("deleted", "o1"))}},
		{name: "map converts other maps", steps: []pipeline.Step{mapTo("_headers")}, value: "order",
			want: []result{plain(obj("trace", "t1"))}},
		{name: "map of a var then set leaves the var alone", steps: []pipeline.Step{mapTo("prices"), set("maple", "0")}, value: "order",
			want: []result{plain(obj("glazed", 1.25, "maple", 0))}},
		{name: "map of a var then an expression leaves the var alone", steps: []pipeline.Step{mapTo("prices"), filter("prices != nil && glazed > 1")},
			value: "order", want: []result{plain(obj("glazed", 1.25, "maple", 2.0))}},
		{name: "map of headers then an expression", steps: []pipeline.Step{mapTo("_headers"), set("n", "len(_headers)")}, value: "order",
			want: []result{plain(obj("trace", "t1", "n", 1))}},
		{name: "map error", steps: []pipeline.Step{mapTo("items[9]")}, value: "order",
			wantErr: "steps[0] map: index out of range: 9 (array length is 3)"},

		{name: "drop", steps: []pipeline.Step{drop("items", "missing")}, value: "order",
			want: []result{plain(obj("donut", "glazed", "qty", int64(3)))}},
		{name: "keep", steps: []pipeline.Step{keep("qty", "missing")}, value: "order", want: []result{plain(obj("qty", int64(3)))}},
		{name: "rename", steps: []pipeline.Step{rename("qty", "count", "missing", "x", "donut", "donut")}, value: "order",
			want: []result{plain(obj("donut", "glazed", "count", int64(3), "items", []any{"a", "b", "c"}))}},
		{name: "rename chain", steps: []pipeline.Step{rename("qty", "a", "a", "b")}, value: "order",
			want: []result{plain(obj("donut", "glazed", "b", int64(3), "items", []any{"a", "b", "c"}))}},
		{name: "drop on tombstone", steps: []pipeline.Step{drop("a"), keep("b"), rename("c", "d")}, value: nil, want: []result{plain(nil)}},
		{name: "drop on string", steps: []pipeline.Step{drop("a")}, value: "s", wantErr: "steps[0] drop: drop needs an object value, got string"},
		{name: "keep on list", steps: []pipeline.Step{keep("a")}, value: []any{1}, wantErr: "steps[0] keep: keep needs an object value, got list"},

		{name: "key string", steps: []pipeline.Step{key("donut")}, value: "order",
			want: []result{{Value: order(), Key: []byte("glazed"), Headers: trace}}},
		{name: "key number", steps: []pipeline.Step{key("qty * 1.5")}, value: "order",
			want: []result{{Value: order(), Key: []byte("4.5"), Headers: trace}}},
		{name: "key int", steps: []pipeline.Step{key("qty")}, value: "order",
			want: []result{{Value: order(), Key: []byte("3"), Headers: trace}}},
		{name: "key bool", steps: []pipeline.Step{key("qty > 1")}, value: "order",
			want: []result{{Value: order(), Key: []byte("true"), Headers: trace}}},
		{name: "key null", steps: []pipeline.Step{key("missing")}, value: "order",
			want: []result{{Value: order(), Key: nil, Headers: trace}}},
		{name: "key object", steps: []pipeline.Step{key("{d: donut}")}, value: "order",
			want: []result{{Value: order(), Key: []byte(`{"d":"glazed"}`), Headers: trace}}},
		{name: "key list", steps: []pipeline.Step{key("[qty]")}, value: "order",
			want: []result{{Value: order(), Key: []byte(`[3]`), Headers: trace}}},
		{name: "key then _key", steps: []pipeline.Step{key("donut"), set("k", "_key")}, value: "order",
			want: []result{{Value: order("k", "glazed"), Key: []byte("glazed"), Headers: trace}}},
		{name: "key on tombstone", steps: []pipeline.Step{key("'k' + _key")}, value: nil,
			want: []result{{Value: nil, Key: []byte("ko1"), Headers: trace}}},

		{name: "headers", steps: []pipeline.Step{headers("store", "donut", "n", "qty", "trace", "nil", "copy", "_headers.store + '!'")},
			value: "order", want: []result{{Value: order(), Key: []byte("o1"), Headers: []record.Header{
				{Key: "store", Value: []byte("glazed")}, {Key: "n", Value: []byte("3")}, {Key: "copy", Value: []byte("glazed!")}}}}},
		{name: "headers runtime error names the header", steps: []pipeline.Step{headers("a", "1", "b", "missing.x")}, value: "order",
			wantErr: "steps[0] headers.b: cannot fetch x from <nil>"},

		{name: "to", steps: []pipeline.Step{to("'orders.' + donut")}, value: "order",
			want: []result{{Value: order(), Key: []byte("o1"), Headers: trace, To: "orders.glazed"}}},
		{name: "to invalid character", steps: []pipeline.Step{to("'orders/' + donut")}, value: "order",
			wantErr: `steps[0] to: invalid topic name "orders/glazed": only letters, digits, '.', '_' and '-' are allowed`},
		{name: "to empty", steps: []pipeline.Step{to("''")}, value: "order",
			wantErr: `steps[0] to: invalid topic name "": want 1 to 249 characters other than "." and ".."`},
		{name: "to dot", steps: []pipeline.Step{to("'..'")}, value: "order",
			wantErr: `steps[0] to: invalid topic name "..": want 1 to 249 characters other than "." and ".."`},
		{name: "to too long", steps: []pipeline.Step{to("repeat('a', 250)")}, value: "order",
			wantErr: `steps[0] to: invalid topic name "` + strings.Repeat("a", 250) + `": want 1 to 249 characters other than "." and ".."`},
		{name: "to null", steps: []pipeline.Step{to("missing")}, value: "order", wantErr: "steps[0] to: to needs a topic name, got null"},
		{name: "to number", steps: []pipeline.Step{to("qty")}, value: "order", wantErr: "steps[0] to: to needs a topic name, got number"},

		{name: "explode", steps: []pipeline.Step{explode("items", "item"), drop("items")}, value: "order",
			want: []result{
				plain(obj("donut", "glazed", "qty", int64(3), "item", "a")),
				plain(obj("donut", "glazed", "qty", int64(3), "item", "b")),
				plain(obj("donut", "glazed", "qty", int64(3), "item", "c")),
			}},
		{name: "explode then per-record steps", steps: []pipeline.Step{
			explode("items", "item"), filter("item != 'b'"), headers("item", "item"), key("item"), keep("item")},
			value: "order", filtered: 1,
			want: []result{
				{Value: obj("item", "a"), Key: []byte("a"), Headers: []record.Header{trace[0], {Key: "item", Value: []byte("a")}}},
				{Value: obj("item", "c"), Key: []byte("c"), Headers: []record.Header{trace[0], {Key: "item", Value: []byte("c")}}},
			}},
		{name: "explode a typed list", steps: []pipeline.Step{explode("split('x,y', ',')", "part"), keep("part")}, value: "order",
			want: []result{plain(obj("part", "x")), plain(obj("part", "y"))}},
		{name: "explode nested", steps: []pipeline.Step{explode("[1, 2]", "a"), explode("[3, 4]", "b"), set("ab", "a * b"), keep("ab")}, value: "order",
			want: []result{plain(obj("ab", 3)), plain(obj("ab", 4)), plain(obj("ab", 6)), plain(obj("ab", 8))}},
		{name: "explode empty list", steps: []pipeline.Step{explode("[]", "item")}, value: "order"},
		{name: "explode on tombstone passes it", steps: []pipeline.Step{explode("items", "item"), set("n", "1")}, value: nil, want: []result{plain(nil)}},
		{name: "explode null", steps: []pipeline.Step{explode("missing", "item")}, value: "order",
			wantErr: "steps[0] explode: explode needs a list, got null"},
		{name: "explode string", steps: []pipeline.Step{explode("donut", "item")}, value: "order",
			wantErr: "steps[0] explode: explode needs a list, got string"},
		{name: "explode on string value", steps: []pipeline.Step{explode("[1]", "item")}, value: "s",
			wantErr: "steps[0] explode: explode needs an object value, got string"},
		{name: "explode child fails", steps: []pipeline.Step{explode("items", "item"), assert("item != 'c'", "")}, value: "order",
			wantErr: "steps[1] assert: assertion failed: item != 'c'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(tt.steps, expression.Options{Vars: testVars})
			if err != nil {
				t.Fatal(err)
			}
			r := orderRecord()
			if tt.value != "order" {
				r.Value = tt.value
			}
			w := c.NewWorker()
			sentinel := &record.Record{}
			out, err := w.Apply(r, []*record.Record{sentinel})
			if out[0] != sentinel {
				t.Fatal("Apply changed records already in out")
			}
			out = out[1:]
			if w.Filtered() != tt.filtered {
				t.Errorf("filtered %d, want %d", w.Filtered(), tt.filtered)
			}
			if tt.wantErr != "" {
				var se *StepError
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T), want a *StepError", err, err)
				}
				if err.Error() != tt.wantErr {
					t.Fatalf("error\n got: %s\nwant: %s", err, tt.wantErr)
				}
				if len(out) != 0 {
					t.Fatalf("error with %d records", len(out))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []result
			for _, o := range out {
				got = append(got, result{o.Value, o.Key, o.Headers, o.To})
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
	if prices := testVars["prices"].(map[string]any); len(prices) != 2 || prices["maple"] != 2.0 {
		t.Errorf("a step modified the vars: %v", prices)
	}
}

func TestStepErrorFields(t *testing.T) {
	c, err := Compile([]pipeline.Step{filter("true"), set("a", "1", "b", "nope.x")}, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.NewWorker().Apply(orderRecord(), nil)
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v", err)
	}
	if se.Index != 1 || se.Kind != "set" || se.Path != "set.b" || se.Err == nil {
		t.Errorf("got %+v", se)
	}
}

func TestEmptyChainPassesRecordThrough(t *testing.T) {
	c, err := Compile(nil, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := orderRecord()
	w := c.NewWorker()
	out, err := w.Apply(r, nil)
	if err != nil || len(out) != 1 || out[0] != r {
		t.Fatalf("got %v, %v", out, err)
	}
	if allocs := testing.AllocsPerRun(100, func() { out, _ = w.Apply(r, out[:0]) }); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// at positions a step the way the config loader does.
func at(s pipeline.Step, line int) pipeline.Step {
	s.Path = "transforms.t.steps[" + string(rune('0'+line-10)) + "]"
	s.Pos = pipeline.Pos{File: "p.yaml", Line: line, Col: 7}
	place := func(e *pipeline.Expr, sub string, col int) {
		e.Path, e.Pos, e.Col0 = s.Path+"."+sub, pipeline.Pos{File: "p.yaml", Line: line, Col: col}, col
	}
	switch {
	case s.Filter != nil:
		place(s.Filter, "filter", 15)
	case s.Set != nil:
		for i := range s.Set {
			place(&s.Set[i].Expr, "set."+s.Set[i].Name, 20+10*i)
		}
	case s.Explode != nil:
		place(&s.Explode.Expr, "explode.expr", 25)
	case s.To != nil:
		place(s.To, "to", 13)
	}
	return s
}

func TestCompileErrors(t *testing.T) {
	steps := []pipeline.Step{
		at(set("total", "qty * qtty(price)", "_key", "1"), 12),
		at(filter("qty +"), 10),
		at(filter("1 + 2"), 11),
		at(pipeline.Step{Kind: "sort"}, 13),
		at(explode("items", ""), 14),
		at(pipeline.Step{Kind: "map"}, 15),
		at(drop(), 16),
		at(set("ok", "1"), 17), // fine
	}
	_, err := Compile(steps, expression.Options{})
	var errs pipeline.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T), want pipeline.Errors", err, err)
	}
	want := []string{
		`p.yaml:10:19: transforms.t.steps[0].filter: unexpected token EOF`,
		`p.yaml:11:15: transforms.t.steps[1].filter: expected bool, but got int`,
		`p.yaml:12:26: transforms.t.steps[2].set.total: unknown function "qtty"`,
		`p.yaml:12:30: transforms.t.steps[2].set._key: _key is reserved for record metadata: use a key step to set the record key`,
		`p.yaml:13:7: transforms.t.steps[3]: unknown step "sort", want one of filter, assert, set, map, drop, keep, rename, key, headers, to, explode, join, join_table, aggregate`,
		`p.yaml:14:7: transforms.t.steps[4].explode: explode needs as: the field that receives each element`,
		`p.yaml:15:7: transforms.t.steps[5]: map needs an expression`,
		`p.yaml:16:7: transforms.t.steps[6]: drop needs at least one field`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A chain is shared; each goroutine has its own worker.
func TestConcurrentWorkers(t *testing.T) {
	c, err := Compile([]pipeline.Step{
		filter("qty > 0"),
		set("unit_price", "prices[donut]", "total", "qty * unit_price", "id", "uuid()"),
		explode("items", "item"),
		headers("item", "item"),
	}, expression.Options{Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		w := c.NewWorker()
		wg.Go(func() {
			var out []*record.Record
			for range 200 {
				out, err := w.Apply(orderRecord(), out[:0])
				if err != nil || len(out) != 3 || out[2].Value.(map[string]any)["total"] != 3.75 {
					t.Errorf("got %v, %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAsValue(t *testing.T) {
	if _, err := asValue(map[int]string{1: "a"}, false); err == nil || err.Error() != "map result has keys of type int, want string keys" {
		t.Errorf("error %v", err)
	}
	orig := map[string]any{"a": 1}
	got, _ := asValue(orig, true)
	got.(map[string]any)["b"] = 2
	if len(orig) != 1 {
		t.Error("clone shares the map")
	}
}

// TestBigIntegers: integers beyond int64 that no step touches come out
// digit for digit; a step that computes with one fails the record with a
// message that says why, for on_error.
func TestBigIntegers(t *testing.T) {
	in := []byte(`{"id": 18446744073709551617, "neg": -9223372036854775809, "n": 2, "ids": [340282366920938463463374607431768211457]}`)
	c, err := Compile([]pipeline.Step{
		set("touched", "true", "id_text", "string(id)", "same", "id == id"),
		key("id"),
		headers("id", "id"),
	}, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := record.DecodeJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.NewWorker().Apply(&record.Record{Value: v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := record.JSON.Encode(out[0].Value)
	want := `{"id":18446744073709551617,"id_text":"18446744073709551617","ids":[340282366920938463463374607431768211457],"n":2,"neg":-9223372036854775809,"same":true,"touched":true}`
	if err != nil || string(b) != want {
		t.Fatalf("got  %s %v\nwant %s", b, err, want)
	}
	if string(out[0].Key) != "18446744073709551617" {
		t.Errorf("key %q", out[0].Key)
	}
	if h, _ := out[0].Header("id"); string(h) != "18446744073709551617" {
		t.Errorf("header %q", h)
	}

	c, err = Compile([]pipeline.Step{set("next", "id + 1")}, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ = record.DecodeJSON(in)
	_, err = c.NewWorker().Apply(&record.Record{Value: v}, nil)
	var se *StepError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "invalid operation: big integer + int") || !strings.Contains(err.Error(), "to_float") {
		t.Fatalf("arithmetic on a big integer: %v, want a step error naming it", err)
	}
}

// TestToInternalTopics: a to step cannot route records into Kafka's
// internal topics or the pipeline's own (cursor, changelog, dead letters).
// A name the expression spells out fails Compile; a computed one fails the
// record, for on_error.
func TestToInternalTopics(t *testing.T) {
	internal := InternalTopics(map[string]string{
		"orders-dlq": "the dead-letter topic of stage price", "conveyor-cursors": "the cursor topic",
	})
	for _, tt := range []struct{ src, want string }{
		{"'__consumer' + '_offsets'", `steps[0] to: "__consumer_offsets" is an internal topic`},
		{"'_' + 'schemas'", `steps[0] to: "_schemas" is an internal topic`},
		{"donut + '-dlq'", `steps[0] to: "orders-dlq" is the dead-letter topic of stage price: records may not be written to the runner's internal topics`},
		{"'conveyor-' + 'cursors'", `steps[0] to: "conveyor-cursors" is the cursor topic`},
	} {
		c, err := Compile([]pipeline.Step{to(tt.src)}, expression.Options{}, internal)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		r := orderRecord()
		r.Value = map[string]any{"donut": "orders"}
		out, err := c.NewWorker().Apply(r, nil)
		var se *StepError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tt.want) || len(out) != 0 {
			t.Errorf("to: %s: %d records, error %v; want a step error starting %q", tt.src, len(out), err, tt.want)
		}
	}

	_, err := Compile([]pipeline.Step{
		at(to(`bulk ? "orders-dlq" : "orders"`), 10),
		at(to(`"__transaction_state"`), 11),
		at(to(`"orders-" + donut`), 12), // computed: checked per record
	}, expression.Options{}, internal)
	want := "p.yaml:10:20: transforms.t.steps[0].to: \"orders-dlq\" is the dead-letter topic of stage price: records may not be written to the runner's internal topics\n" +
		"p.yaml:11:13: transforms.t.steps[1].to: \"__transaction_state\" is an internal topic (names starting with \"_\" are Kafka's and its platform's, as __consumer_offsets and _schemas): records may not be written to it"
	if err == nil || err.Error() != want {
		t.Errorf("compile error\n got: %v\nwant: %s", err, want)
	}
}
