package expression

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/record"
)

// fields are the record value the function tests run against: JSON numbers
// as int64 and float64, YAML-style ints, and nulls.
func fields() map[string]any {
	return map[string]any{
		"i64":   int64(7),
		"f64":   2.675,
		"int":   3,
		"s":     "abc",
		"num":   " 42 ",
		"b":     []byte("abc"),
		"nul":   nil,
		"list":  []any{"x"},
		"empty": []any{},
		"obj":   map[string]any{"a": int64(1)},
		"ts":    "2026-12-01T10:00:00Z",
		"t":     time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC),
		"yes":   true,
	}
}

func TestFunctions(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		src     string
		want    any
		wantErr string
	}{
		// coalesce
		{"coalesce(nul, missing, 'x', 'y')", "x", ""},
		{"coalesce(nul)", nil, ""},
		{"coalesce(i64, 1)", int64(7), ""},
		{"coalesce(false, true)", false, ""},

		// round_to
		{"round_to(f64, 2)", 2.68, ""},
		{"round_to(1.005, 2)", 1.01, ""},
		{"round_to(-1.005, 2)", -1.01, ""},
		{"round_to(1.004, 2)", 1.0, ""},
		{"round_to(0.5, 0)", 1.0, ""},
		{"round_to(-0.5, 0)", -1.0, ""},
		{"round_to(0.004, 2)", 0.0, ""},
		{"round_to(0.005, 2)", 0.01, ""},
		{"round_to(1250.0, -2)", 1300.0, ""},
		{"round_to(1.5, 5)", 1.5, ""},
		{"round_to(1e300, 2)", 1e300, ""},
		{"round_to(i64, 2)", int64(7), ""},
		{"round_to(1250, -2)", 1300, ""},
		{"round_to(-1250, -2)", -1300, ""},
		{"round_to(-1249, -2)", -1200, ""},
		{"round_to(int, 2.0)", 3, ""},
		{"round_to(nul, 2)", nil, ""},
		{"round_to(s, 2)", nil, "round_to: want a number, got string"},
		{"round_to(1.5, 1.5)", nil, "round_to: places must be an integer, got 1.5"},
		{"round_to(1.5, nul)", nil, "round_to: places is null"},
		{"round_to(1.5, 40)", nil, "round_to: places must be between -18 and 18, got 40"},

		// sha256, md5, hash
		{"sha256(s)", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ""},
		{"sha256(b)", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ""},
		{"sha256(i64) == sha256('7')", true, ""},
		{"sha256(nul)", nil, "sha256: argument is null"},
		{"sha256(missing)", nil, "sha256: argument is null"},
		{"sha256(obj)", nil, "sha256: want a string, got object (use toJSON first)"},
		{"md5(s)", "900150983cd24fb0d6963f7d28e17f72", ""},
		{"md5(list)", nil, "md5: want a string, got list (use toJSON first)"},
		{"hash('')", fnv1a(""), ""},
		{"hash(s)", fnv1a("abc"), ""},
		{"hash(s) == hash(b)", true, ""},
		{"hash(yes) == hash('true')", true, ""},
		{"hash(nul)", nil, "hash: argument is null"},

		// parse_time, format_time, unix_ms, from_unix_ms
		{"parse_time(ts)", t0, ""},
		{"parse_time('2026-12-01', 'DateOnly')", t0.Add(-10 * time.Hour), ""},
		{"parse_time('01/12/2026', '02/01/2006')", t0.Add(-10 * time.Hour), ""},
		{"parse_time(t) == t", true, ""},
		{"parse_time(nul)", nil, ""},
		{"parse_time('yesterday')", nil, `parse_time: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
		{"parse_time(i64)", nil, "parse_time: want a string, got number"},
		{"parse_time(ts, nul)", nil, "parse_time: layout must be a non-empty string, got null"},
		{"format_time(t)", "2026-12-01T10:00:00.5Z", ""},
		{"format_time(parse_time('2026-12-01T12:00:00+02:00'))", "2026-12-01T10:00:00Z", ""},
		{"format_time(t, 'DateOnly')", "2026-12-01", ""},
		{"format_time(t, '15:04')", "10:00", ""},
		{"format_time(nul)", nil, ""},
		{"format_time(ts)", nil, "format_time: want a time, got string (use parse_time first)"},
		{"unix_ms(t)", 1796119200500, ""},
		{"unix_ms(nul)", nil, ""},
		{"unix_ms(s)", nil, "unix_ms: want a time, got string"},
		{"from_unix_ms(1796119200500) == t", true, ""},
		{"from_unix_ms(1796119200500.0) == t", true, ""},
		{"from_unix_ms(i64 - 7)", time.Unix(0, 0).UTC(), ""},
		{"from_unix_ms(nul)", nil, ""},
		{"from_unix_ms(s)", nil, "from_unix_ms: want a number, got string"},
		{"from_unix_ms(1e300)", nil, "from_unix_ms: 1e+300 is out of range"},
		{"unix_ms(from_unix_ms(i64))", 7, ""},

		// to_int, to_float, to_string
		{"to_int(i64)", 7, ""},
		{"to_int(f64)", 2, ""},
		{"to_int(-2.9)", -2, ""},
		{"to_int(num)", 42, ""},
		{"to_int('3.9')", 3, ""},
		{"to_int(nul)", nil, ""},
		{"to_int('abc')", nil, `to_int: cannot parse "abc" as a number`},
		{"to_int(yes)", nil, "to_int: cannot convert bool to int"},
		{"to_int(1e30)", nil, "to_int: 1e+30 is out of the int range"},
		{"to_float(i64)", 7.0, ""},
		{"to_float(int)", 3.0, ""},
		{"to_float('2.5')", 2.5, ""},
		{"to_float(nul)", nil, ""},
		{"to_float('x')", nil, `to_float: cannot parse "x" as a number`},
		{"to_float(list)", nil, "to_float: cannot convert list to float"},
		{"to_string(i64)", "7", ""},
		{"to_string(f64)", "2.675", ""},
		{"to_string(1e21)", "1e+21", ""},
		{"to_string(100.0)", "100", ""},
		{"to_string(yes)", "true", ""},
		{"to_string(b)", "abc", ""},
		{"to_string(t)", "2026-12-01T10:00:00.5Z", ""},
		{"to_string(obj)", `{"a":1}`, ""},
		{"to_string(list)", `["x"]`, ""},
		{"to_string(nul)", nil, ""},

		// random functions: properties, the sequence is tested below
		{"len(uuid())", 36, ""},
		{"pick(list)", "x", ""},
		{"pick(empty)", nil, ""},
		{"pick(split('a', ','))", "a", ""},
		{"pick(nul)", nil, "pick: want a list, got null"},
		{"pick(s)", nil, "pick: want a list, got string"},
		{"int_between(i64, 7.0)", 7, ""},
		{"int_between(2, 1)", nil, "int_between: a (2) is greater than b (1)"},
		{"int_between(nul, 1)", nil, "int_between: a is null"},
		{"int_between(1, 2.5)", nil, "int_between: b must be an integer, got 2.5"},
		{"int_between(1, s)", nil, "int_between: b must be an integer, got string"},
		{"float_between(f64, f64)", 2.675, ""},
		{"float_between(2, 1)", nil, "float_between: a (2) is greater than b (1)"},
		{"float_between(1, nul)", nil, "float_between: b is null"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := run(t, tt.src, Options{}, &record.Record{Value: fields()})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

// fnv1a is the reference hash(s) must equal.
func fnv1a(s string) int {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int(h.Sum64() & math.MaxInt64)
}

func TestRandomFunctions(t *testing.T) {
	src := "[uuid(), pick([1, 2, 3]), int_between(1, 6), float_between(0, 1)]"
	p, err := Compile(at(src), Options{}, Any)
	if err != nil {
		t.Fatal(err)
	}
	sequence := func(seed uint64) []any {
		m := Options{Rand: rand.New(rand.NewPCG(seed, 0))}.NewMachine()
		var env Env
		env.Reset(&record.Record{})
		var out []any
		for range 50 {
			v, err := m.Run(p, &env)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	a, b := sequence(7), sequence(7)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different sequences")
	}
	if reflect.DeepEqual(a, sequence(8)) {
		t.Fatal("different seeds gave the same sequence")
	}
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	sides := map[int]bool{}
	for _, v := range a {
		row := v.([]any)
		if id := row[0].(string); !v4.MatchString(id) {
			t.Errorf("uuid %s is not a version 4 UUID", id)
		}
		if n := row[1].(int); n < 1 || n > 3 {
			t.Errorf("pick gave %d", n)
		}
		n := row[2].(int)
		if n < 1 || n > 6 {
			t.Errorf("int_between(1, 6) gave %d", n)
		}
		sides[n] = true
		if f := row[3].(float64); f < 0 || f >= 1 {
			t.Errorf("float_between(0, 1) gave %v", f)
		}
	}
	if !sides[1] || !sides[6] {
		t.Errorf("int_between(1, 6) never reached an end in 50 draws: %v", sides)
	}
}

func TestIntBetweenWholeRange(t *testing.T) {
	got, err := run(t, "int_between(-9223372036854775807 - 1, 9223372036854775807)", Options{}, &record.Record{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.(int); !ok {
		t.Fatalf("got %T", got)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{"s", "s"}, {[]byte("b"), "b"}, {int64(-3), "-3"}, {3, "3"}, {uint64(1 << 63), "9223372036854775808"},
		{1.5, "1.5"}, {float32(0.1), "0.1"}, {1e-7, "1e-07"}, {true, "true"},
		{time.Duration(1500) * time.Millisecond, "1.5s"},
		{map[string]any{"a": []any{1}}, `{"a":[1]}`},
	}
	for _, tt := range tests {
		got, err := Text(tt.v)
		if err != nil || got != tt.want {
			t.Errorf("Text(%#v) = %q, %v; want %q", tt.v, got, err, tt.want)
		}
	}
	if _, err := Text(nil); err == nil {
		t.Error("Text(nil) gave no error")
	}
	if _, err := Text(map[string]any{"c": make(chan int)}); err == nil || !strings.Contains(err.Error(), "format object as JSON") {
		t.Errorf("Text(chan) error %v", err)
	}
}

func TestTypeName(t *testing.T) {
	for v, want := range map[any]string{nil: "null", "": "string", true: "bool", int64(1): "number", 1.5: "number", time.Time{}: "time", struct{}{}: "struct {}"} {
		if got := TypeName(v); got != want {
			t.Errorf("TypeName(%#v) = %s, want %s", v, got, want)
		}
	}
	if TypeName([]string{}) != "list" || TypeName(map[string]int{}) != "object" || TypeName([]byte{}) != "bytes" {
		t.Error("TypeName of lists, objects or bytes")
	}
}
