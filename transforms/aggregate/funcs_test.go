package aggregate

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// TestFunctions folds values into one group and checks the last row, for
// every function with and without where, with nulls and missing fields.
func TestFunctions(t *testing.T) {
	// Three records; the third lacks x and has a null y.
	vals := []map[string]any{
		obj("x", int64(5), "y", "b", "ok", true, "o", obj("a", int64(1))),
		obj("x", int64(2), "y", "a", "ok", false, "o", []any{int64(1), "z"}),
		obj("y", nil, "ok", true, "o", nil),
	}
	tests := []struct {
		name, values string
		vals         []map[string]any // default vals
		want         any
	}{
		{"count", "v: count", nil, int64(3)},
		{"count expr skips nulls", "v: {count: x}", nil, int64(2)},
		{"count where", "v: {count: x, where: ok}", nil, int64(1)},
		{"count plain where", "v: {count: '1', where: ok}", nil, int64(2)},
		{"count where none", "v: {count: x, where: 'false'}", nil, int64(0)},

		{"sum ints", "v: {sum: x}", nil, int64(7)},
		{"sum where", "v: {sum: x, where: '!ok'}", nil, int64(2)},
		{"sum no input", "v: {sum: x, where: 'false'}", nil, int64(0)},
		{"sum all null", "v: {sum: missing}", nil, int64(0)},
		{"sum int then float", "v: {sum: x}", []map[string]any{obj("x", int64(1)), obj("x", 0.5), obj("x", int64(2))}, 3.5},
		{"sum float then int", "v: {sum: x}", []map[string]any{obj("x", 0.25), obj("x", int64(1))}, 1.25},
		{"sum integral float is float", "v: {sum: x * 1.0}", []map[string]any{obj("x", int64(1)), obj("x", int64(2))}, 3.0},
		{"sum expression ints", "v: {sum: 'x == nil ? nil : x * 2'}", nil, int64(14)},
		{"sum negative", "v: {sum: x}", []map[string]any{obj("x", int64(-5)), obj("x", int64(2))}, int64(-3)},

		{"min", "v: {min: x}", nil, int64(2)},
		{"max", "v: {max: x}", nil, int64(5)},
		{"min where", "v: {min: x, where: ok}", nil, int64(5)},
		{"max no input", "v: {max: x, where: 'false'}", nil, nil},
		{"min strings", "v: {min: y}", nil, "a"},
		{"max strings", "v: {max: y}", nil, "b"},
		{"min int and float", "v: {min: x}", []map[string]any{obj("x", int64(3)), obj("x", 2.5), obj("x", int64(4))}, 2.5},
		{"max int and float", "v: {max: x}", []map[string]any{obj("x", 2.5), obj("x", int64(3)), obj("x", 2.9)}, int64(3)},
		{"max exact beyond 2^53", "v: {max: x}", []map[string]any{obj("x", int64(1<<53+1)), obj("x", float64(1<<53))}, int64(1<<53 + 1)},
		{"min integral float", "v: {min: x / 2}", []map[string]any{obj("x", int64(4))}, int64(2)},
		{"max floats beyond int64", "v: {max: x}", []map[string]any{obj("x", 1e20), obj("x", 3e20), obj("x", 2e20)}, 3e20},
		{"last big integer", "v: {last: x}", []map[string]any{obj("x", json.Number("18446744073709551617"))}, json.Number("18446744073709551617")},
		{"collect big integers", "v: {collect: x}", []map[string]any{obj("x", json.Number("18446744073709551617")), obj("x", 1e20)},
			[]any{json.Number("18446744073709551617"), 1e20}},

		{"avg", "v: {avg: x}", nil, 3.5},
		{"avg where", "v: {avg: x, where: ok}", nil, 5.0},
		{"avg no input", "v: {avg: missing}", nil, nil},
		{"avg floats", "v: {avg: x}", []map[string]any{obj("x", 0.5), obj("x", int64(1))}, 0.75},
		{"avg int overflow goes on as float", "v: {avg: x}", []map[string]any{obj("x", int64(math.MaxInt64)), obj("x", int64(math.MaxInt64))}, float64(math.MaxInt64)},

		{"first", "v: {first: o}", nil, obj("a", int64(1))},
		{"first skips null", "v: {first: x}", []map[string]any{obj(), obj("x", "late")}, "late"},
		{"first where", "v: {first: y, where: '!ok'}", nil, "a"},
		{"last", "v: {last: o}", nil, []any{int64(1), "z"}},
		{"last skips null", "v: {last: y}", nil, "a"},
		{"last no input", "v: {last: missing}", nil, nil},
		{"first metadata", "v: {first: _key}", nil, "k"},

		{"collect", "v: {collect: x}", nil, []any{int64(5), int64(2)}},
		{"collect any JSON", "v: {collect: o}", nil, []any{obj("a", int64(1)), []any{int64(1), "z"}}},
		{"collect where", "v: {collect: y, where: ok}", nil, []any{"b"}},
		{"collect no input", "v: {collect: missing}", nil, nil},
		{"collect canonical", "v: {collect: x / 1}", []map[string]any{obj("x", int64(3)), obj("x", int64(1))}, []any{int64(3), int64(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := compileStep(t, "values:\n  "+tt.values)
			st := spec.NewState()
			vs := tt.vals
			if vs == nil {
				vs = vals
			}
			var last Output
			for i, v := range vs {
				out, _, err := st.Add(rec("k", int64(i), v), nil, nil)
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if len(out) != 1 {
					t.Fatalf("record %d: %d outputs, want 1", i, len(out))
				}
				last = out[0]
			}
			if got := last.Value["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("v = %#v, want %#v", got, tt.want)
			}
			if len(last.Value) != 1 {
				t.Errorf("row has %d fields, want 1: %v", len(last.Value), last.Value)
			}
		})
	}
}

// TestEmptyRow: a record that takes part in no aggregation still creates
// its group, with each function's empty value.
func TestEmptyRow(t *testing.T) {
	spec := compileStep(t, `
values:
  c: {count: x, where: 'false'}
  s: {sum: x, where: 'false'}
  mi: {min: x, where: 'false'}
  ma: {max: x, where: 'false'}
  a: {avg: x, where: 'false'}
  f: {first: x, where: 'false'}
  l: {last: x, where: 'false'}
  co: {collect: x, where: 'false'}`)
	out, ch, err := spec.NewState().Add(rec("k", 0, obj("x", int64(1))), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"c": int64(0), "s": int64(0), "mi": nil, "ma": nil, "a": nil, "f": nil, "l": nil, "co": nil}
	if len(out) != 1 || !reflect.DeepEqual(out[0].Value, want) {
		t.Fatalf("out = %v, want one row %v", out, want)
	}
	if len(ch) != 1 || string(ch[0].Key) != "k" {
		t.Fatalf("changes = %v, want one for k", ch)
	}
}

// TestAddErrors: a record that cannot be aggregated is an error naming the
// aggregation and changes nothing.
func TestAddErrors(t *testing.T) {
	tests := []struct {
		name, values string
		first, bad   map[string]any
		want         string
		by           string
	}{
		{"sum overflow", "total: {sum: x}", obj("x", int64(math.MaxInt64)), obj("x", int64(1)), "aggregation total (sum): sum overflows int64", ""},
		{"sum negative overflow", "total: {sum: x}", obj("x", int64(math.MinInt64)), obj("x", int64(-1)), "aggregation total (sum): sum overflows int64", ""},
		{"sum float overflow", "total: {sum: x}", obj("x", math.MaxFloat64), obj("x", math.MaxFloat64), "aggregation total (sum): sum overflows float64", ""},
		{"sum of a string", "total: {sum: x}", obj("x", int64(1)), obj("x", "3"), "aggregation total (sum): needs a number, got string", ""},
		{"avg of a bool", "m: {avg: x}", obj("x", int64(1)), obj("x", true), "aggregation m (avg): needs a number, got bool", ""},
		{"min string after number", "m: {min: x}", obj("x", int64(1)), obj("x", "a"), "aggregation m (min): min cannot compare string with number", ""},
		{"max of a list", "m: {max: x}", obj("x", int64(1)), obj("x", []any{int64(1)}), "aggregation m (max): max needs numbers or strings, got list", ""},
		{"sum of a big integer", "total: {sum: x}", obj("x", int64(1)), obj("x", json.Number("18446744073709551617")), "aggregation total (sum): needs a number, got big integer", ""},
		{"min of a big integer", "m: {min: x}", obj("x", int64(1)), obj("x", json.Number("18446744073709551617")), "aggregation m (min): min needs numbers or strings, got big integer", ""},
		{"expression fails", "m: {sum: x.y}", obj("x", obj("y", int64(1))), obj("x", int64(3)), "aggregation m (sum):", ""},
		{"where fails", "m: {sum: x, where: 'x > 0'}", obj("x", int64(1)), obj("x", "a"), "aggregation m (sum): where:", ""},
		{"by fails", "m: count", obj("x", obj("y", "g")), obj("x", int64(1)), "by:", "'x.y'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "values:\n  " + tt.values
			if tt.by != "" {
				body += "\nby: " + tt.by
			}
			spec := compileStep(t, body)
			st := spec.NewState()
			_, ch1, err := st.Add(rec("k", 0, tt.first), nil, nil)
			if err != nil {
				t.Fatalf("first record: %v", err)
			}
			out, ch, err := st.Add(rec("k", 1, tt.bad), []Output{{Key: []byte("keep")}}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, ErrLate) {
				t.Errorf("err is ErrLate")
			}
			if len(out) != 1 || string(out[0].Key) != "keep" || len(ch) != 0 {
				t.Errorf("out, changes = %v, %v: want them as they were", out, ch)
			}
			// The state is as before: the same record again gives the same row.
			st2 := spec.NewState()
			for _, c := range ch1 {
				if err := st2.Restore(c.Key, c.Value); err != nil {
					t.Fatal(err)
				}
			}
			if st.seq != st2.seq || st.now != st2.now || st.Len() != st2.Len() {
				t.Errorf("state moved: seq %d now %d len %d, want %d %d %d", st.seq, st.now, st.Len(), st2.seq, st2.now, st2.Len())
			}
		})
	}
}

// TestAtomicHopping: a record that fails in one of its hopping windows
// changes none of them.
func TestAtomicHopping(t *testing.T) {
	spec := compileStep(t, "values:\n  s: {sum: x}\nwindow: {hopping: 10s, advance: 5s}")
	st := spec.NewState()
	// Window [0,10s) gets MaxInt64; [5s,15s) does not yet.
	mustAdd(t, st, rec("k", 1000, obj("x", int64(math.MaxInt64))))
	mustAdd(t, st, rec("k", 6000, obj("x", int64(-1))))
	// 7s is in [0,10s) (overflows: MaxInt64 - 1 + 2) and [5s,15s) (fine).
	if _, _, err := st.Add(rec("k", 7000, obj("x", int64(2))), nil, nil); err == nil {
		t.Fatal("want an overflow error")
	}
	out := mustAdd(t, st, rec("k", 8000, obj("x", int64(0))))
	got := []string{formatOutput(out[0]), formatOutput(out[1])}
	want := []string{
		`"k" [0s,10s) s=9223372036854775806 @8s`,
		`"k" [5s,15s) s=-1 @8s`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
}

func mustAdd(t *testing.T, st *State, r *record.Record) []Output {
	t.Helper()
	out, _, err := st.Add(r, nil, nil)
	if err != nil {
		t.Fatalf("add %s: %v", r.Key, err)
	}
	return out
}

func TestCanonical(t *testing.T) {
	for _, v := range []any{
		nil, true, "s", int64(-3), 3, int32(7), uint64(1 << 63), 2.5, 3.0, math.Copysign(0, -1), 1e20, 1e21, float64(1 << 60), 0.1, float32(0.1),
		math.MaxFloat64, float64(math.MinInt64), json.Number("18446744073709551617"), 1e19,
		map[string]any{"a": []any{1, 2.0, "x"}}, []string{"a"}, t0,
	} {
		got, err := canonical(v)
		if err != nil {
			t.Errorf("canonical(%#v): %v", v, err)
			continue
		}
		want, err := roundTrip(v)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("canonical(%#v) = %#v, a JSON round trip gives %#v", v, got, want)
		}
	}
	if _, err := canonical(math.NaN()); err == nil {
		t.Error("canonical(NaN): want an error")
	}
}

func roundTrip(v any) (any, error) {
	b := appendJSON(nil, v)
	return record.DecodeJSON(b)
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b any
		want int
	}{
		{int64(1), int64(2), -1},
		{2.5, int64(2), 1},
		{int64(2), 2.5, -1},
		{int64(-3), -2.5, -1},
		{int64(-2), -2.5, 1},
		{int64(1<<53 + 1), float64(1 << 53), 1},
		{int64(math.MaxInt64), 0x1p63, -1},
		{int64(math.MinInt64), -0x1p63, 0},
		{int64(math.MinInt64), -0x1p64, 1},
		{"a", "b", -1},
		{"b", "b", 0},
	}
	for _, tt := range tests {
		if got := compare(tt.a, tt.b); got != tt.want {
			t.Errorf("compare(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
