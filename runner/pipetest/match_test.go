package pipetest

import (
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// expects parses the expectations of topic "t" from a one-case test file.
func expects(t *testing.T, yaml string) []Expect {
	t.Helper()
	f, err := Parse("m.test.yaml", []byte("pipeline: p.yaml\ntests:\n  c:\n    expect:\n      t:\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	return f.Cases[0].Expect[0].Records
}

func newMatcher(t *testing.T, want []Expect) *matcher {
	t.Helper()
	mt := &matcher{where: map[*Expect]*expression.Program{}, m: expression.Options{}.NewMachine()}
	for i := range want {
		if w := want[i].Where; w != nil {
			p, err := expression.Compile(*w, expression.Options{}, expression.Bool)
			if err != nil {
				t.Fatal(err)
			}
			mt.where[&want[i]] = p
		}
	}
	return mt
}

func got(key, value string, headers ...string) *Got {
	g := &Got{Topic: "t", Value: []byte(value)}
	if key != "<nil>" {
		g.Key = []byte(key)
	}
	if value == "<nil>" {
		g.Value = nil
	}
	for i := 0; i+1 < len(headers); i += 2 {
		g.Headers = append(g.Headers, record.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return g
}

// summary renders mismatches one per line: kind, expectation, record.
func summary(ms []Mismatch) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Kind)
		if m.Expected != nil {
			b.WriteString(" " + formatExpect(m.Expected))
		}
		if m.Got != nil {
			b.WriteString(" " + formatGot(m.Got, m.Expected))
		}
		if m.Note != "" {
			b.WriteString(" " + m.Note)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestCompare(t *testing.T) {
	cases := []struct {
		name string
		want string
		got  []*Got
		diff string
	}{{
		name: "exact, numbers by value, other headers ignored",
		want: `        - {key: a, value: {n: 2, x: [1, "s"]}, headers: {h: v}}`,
		got:  []*Got{got("a", `{"x":[1.0,"s"],"n":2.0}`, "h", "v", "other", "o")},
	}, {
		name: "order per key matters",
		want: "        - {key: a, value: 1}\n        - {key: a, value: 2}\n",
		got:  []*Got{got("a", "2"), got("a", "1")},
		diff: "differs {\"key\":\"a\",\"value\":2} {\"key\":\"a\",\"value\":2} out of order: the records of this key came in another order\n",
	}, {
		name: "order across keys does not",
		want: "        - {key: a, value: 1}\n        - {key: b, value: 2}\n",
		got:  []*Got{got("b", "2"), got("a", "1")},
	}, {
		name: "missing and unexpected",
		want: "        - {key: a, value: 1}\n        - {key: c, value: 3}\n",
		got:  []*Got{got("a", "1"), got("b", "2")},
		diff: "missing {\"key\":\"c\",\"value\":3}\nunexpected {\"key\":\"b\",\"value\":2}\n",
	}, {
		name: "a header that must be absent, a tombstone, a null key",
		want: "        - {key: null, value: null, headers: {h: null}}\n",
		got:  []*Got{got("<nil>", "<nil>", "h", "x")},
		diff: "differs {\"key\":null,\"value\":null,\"headers\":{\"h\":null}} {\"key\":null,\"value\":null,\"headers\":{\"h\":\"x\"}}\n",
	}, {
		name: "where and count",
		want: "        - {where: 'n > 1 && _headers[\"h\"] == \"v\"', count: 2}\n",
		got:  []*Got{got("k", `{"n":2}`, "h", "v"), got("k", `{"n":1}`, "h", "v"), got("j", `{"n":3}`, "h", "v")},
		diff: "",
	}, {
		name: "raw and string values",
		want: "        - {raw: 'REJECTED x'}\n        - {value: plain}\n",
		got:  []*Got{got("k", "plain"), got("k", "REJECTED x")},
	}, {
		name: "object keys compare as JSON",
		want: "        - {key: {store: o, id: 1}, value: 1}\n",
		got:  []*Got{got(`{"id":1,"store":"o"}`, "1")},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := expects(t, c.want)
			mt := newMatcher(t, want)
			if c.name == "where and count" {
				// two of three match: one is left over
				c.diff = "unexpected {\"key\":\"k\",\"value\":{\"n\":1},\"headers\":{\"h\":\"v\"}}\n"
			}
			if d := summary(mt.compare(want, c.got)); d != c.diff {
				t.Errorf("diff:\n%s\nwant:\n%s", d, c.diff)
			}
		})
	}
}

func TestWhereErrorIsNoted(t *testing.T) {
	want := expects(t, "        - {key: a, where: 'n + \"x\" > 1'}\n")
	mt := newMatcher(t, want)
	ms := mt.compare(want, []*Got{got("a", `{"n":[1]}`)})
	if len(ms) != 1 || ms[0].Kind != "differs" || !strings.HasPrefix(ms[0].Note, "where: ") {
		t.Fatalf("%+v", ms)
	}
}

func TestCellEqual(t *testing.T) {
	for _, c := range []struct {
		want, got any
		eq        bool
	}{
		{int64(1), int64(1), true},
		{int64(1), "1", true},
		{int64(3), float64(3), true},
		{2.5, float64(2.5), true},
		{"a", []byte("a"), true},
		{nil, nil, true},
		{nil, "", false},
		{int64(3), 2.5, false},
		{"1.0", "1", true},
		{"x", "y", false},
	} {
		if got := cellEqual(c.want, c.got); got != c.eq {
			t.Errorf("cellEqual(%#v, %#v) = %v", c.want, c.got, got)
		}
	}
}

func TestJSONEqual(t *testing.T) {
	a := canonical(map[string]any{"n": int64(2), "f": 0.1, "l": []any{"x", nil, true}})
	b, _ := decodeJSON([]byte(`{"l":["x",null,true],"f":1e-1,"n":2.00}`))
	if !jsonEqual(a, b) {
		t.Errorf("%v != %v", a, b)
	}
	c, _ := decodeJSON([]byte(`{"l":["x",null,true],"f":0.1,"n":3}`))
	if jsonEqual(a, c) {
		t.Errorf("%v == %v", a, c)
	}
}

func TestOnly(t *testing.T) {
	var g struct {
		Count int64 `yaml:"count"`
	}
	if err := pipeline.Decode(only(pipeline.Connector{Kind: "generate"}, "count"), nil, &g); err != nil || g.Count != 0 {
		t.Errorf("empty connector: %v %d", err, g.Count)
	}
}
