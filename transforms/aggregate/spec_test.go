package aggregate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// TestCompileErrors: problems come back positioned in the pipeline file,
// all of them at once.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // a substring of each error, in order
	}{
		{"syntax error in an expression", "values:\n  total: {sum: 'qty +'}", []string{"p.yaml:11:31: transforms.t.steps[0].aggregate.values.total.sum: unexpected token EOF"}},
		{"unknown function", "values:\n  total: {sum: nope(qty)}", []string{`unknown function "nope"`}},
		{"where must be bool", "values:\n  total: {sum: qty, where: '1 + 2'}", []string{"values.total.where"}},
		{"by", "by: 'a +'\nvalues:\n  n: count", []string{"p.yaml:10:18: transforms.t.steps[0].aggregate.by:"}},
		{"window bound name", "values:\n  window_start: {min: _timestamp}\nwindow: {tumbling: 1m}", []string{"window_start is the name of a window bound"}},
		{"sub-millisecond window", "values:\n  n: count\nwindow: {tumbling: 1500us}", []string{"whole number of milliseconds"}},
		{"several errors", "by: 'a +'\nvalues:\n  a: {sum: 'b +'}\n  c: {max: 'd +'}", []string{"aggregate.by", "values.a.sum", "values.c.max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(parseStep(t, tt.body), expression.Options{})
			var errs pipeline.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v (%T), want pipeline.Errors", err, err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %v, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

// TestCompileStructErrors covers what the loader already refuses, for
// callers that build the step by hand.
func TestCompileStructErrors(t *testing.T) {
	pos := pipeline.Pos{File: "p.yaml", Line: 3, Col: 5}
	expr := &pipeline.Expr{Src: "qty", Pos: pos}
	tests := []struct {
		name string
		a    pipeline.Aggregate
		want string
	}{
		{"no values", pipeline.Aggregate{Pos: pos, Path: "agg"}, "agg.values: want at least one aggregation"},
		{"unknown function", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "median", Expr: expr}}, Pos: pos}, `unknown aggregation function "median"`},
		{"missing expression", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "sum"}}, Pos: pos}, "sum needs an expression"},
		{"duplicate name", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "count"}, {Name: "a", Func: "count"}}, Pos: pos}, `duplicate aggregation name "a"`},
		{"final without window", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "count"}}, Emit: pipeline.EmitFinal, Pos: pos}, "emit: final needs a window"},
		{"unknown emit", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "count"}}, Emit: "sometimes", Pos: pos}, `unknown emit mode "sometimes"`},
		{"two windows", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "count"}}, Window: &pipeline.Window{Tumbling: pipeline.Duration(time.Second), Session: pipeline.Duration(time.Second)}, Pos: pos}, "one of tumbling, hopping or session"},
		{"hopping advance", pipeline.Aggregate{Values: []pipeline.Aggregation{{Name: "a", Func: "count"}}, Window: &pipeline.Window{Hopping: pipeline.Duration(time.Second), Advance: pipeline.Duration(2 * time.Second)}, Pos: pos}, "advance, more than 0 and at most its size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(&tt.a, expression.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			var errs pipeline.Errors
			if !errors.As(err, &errs) || errs[0].Pos != pos {
				t.Errorf("err = %#v, want pipeline.Errors at %v", err, pos)
			}
		})
	}
	if _, err := Compile(nil, expression.Options{}); err == nil {
		t.Error("Compile(nil): want an error")
	}
}

// TestGroupBy: the group key is the record key, or the by result formatted
// as the key step formats keys.
func TestGroupBy(t *testing.T) {
	tests := []struct {
		name, by string
		key      string // "<nil>" for a null key
		value    map[string]any
		want     string
	}{
		{"record key", "", "k1", obj(), "k1"},
		{"null key", "", "<nil>", obj(), ""},
		{"text", "store", "k", obj("store", "tampa"), "tampa"},
		{"integer", "qty", "k", obj("qty", int64(3)), "3"},
		{"float", "qty / 2", "k", obj("qty", int64(3)), "1.5"},
		{"bool", "qty > 1", "k", obj("qty", int64(3)), "true"},
		{"object as JSON", "{'a': qty}", "k", obj("qty", int64(3)), `{"a":3}`},
		{"null", "missing", "k", obj(), ""},
		{"metadata", "_topic + '/' + _key", "k", obj(), "in/k"},
		{"vars", "limit", "k", obj(), "10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "values:\n  n: count"
			if tt.by != "" {
				body = "by: \"" + tt.by + "\"\n" + body
			}
			st := compileStep(t, body).NewState()
			out, ch, err := st.Add(rec(tt.key, 0, tt.value), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(out[0].Key) != tt.want || out[0].Key == nil {
				t.Errorf("row key = %q (nil %v), want %q", out[0].Key, out[0].Key == nil, tt.want)
			}
			if string(ch[0].Key) != tt.want {
				t.Errorf("changelog key = %q, want %q", ch[0].Key, tt.want)
			}
		})
	}
}

// TestGroups: groups are counted apart; a null key and an empty key share
// the group "".
func TestGroups(t *testing.T) {
	st := compileStep(t, "values:\n  n: count\n  s: {sum: x}").NewState()
	recs := []struct {
		key string
		x   int64
	}{{"a", 1}, {"b", 10}, {"a", 2}, {"<nil>", 100}, {"", 1000}, {"b", 20}}
	var got []string
	for i, r := range recs {
		for _, o := range mustAdd(t, st, rec(r.key, int64(i), obj("x", r.x))) {
			got = append(got, formatOutput(o))
		}
	}
	want := []string{
		`"a" n=1 s=1 @0s`,
		`"b" n=1 s=10 @1ms`,
		`"a" n=2 s=3 @2ms`,
		`"" n=1 s=100 @3ms`,
		`"" n=2 s=1100 @4ms`,
		`"b" n=2 s=30 @5ms`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st.Len() != 3 {
		t.Errorf("Len = %d, want 3", st.Len())
	}
}
