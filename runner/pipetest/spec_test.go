package pipetest

import (
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	src := `pipeline: p.yaml
tests:
  one:
    env: {A: "x-{{tmp}}"}
    disable: [src]
    timeout: 5s
    input:
      in:
        - {key: k1, value: {n: 1}, headers: {h: v}}
        - {key: {id: 7}, raw: not json}
        - {value: null}
    expect:
      out:
        - {key: k1, value: {n: 1.0}, headers: {h: v, gone: null}}
        - {where: n > 0, count: 3}
  two:
    expect_rows:
      - {dsn: "file:{{tmp}}/x.db", query: SELECT 1, rows: [[1, a, null]]}
`
	f, err := Parse("dir/x.test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.Pipeline != "dir/p.yaml" || len(f.Cases) != 2 || f.Cases[0].Name != "one" || f.Cases[1].Name != "two" {
		t.Fatalf("file: %+v", f)
	}
	c := f.Cases[0]
	if c.Timeout.String() != "5s" || c.Quiet != DefaultQuiet || c.Env["A"] != "x-{{tmp}}" || c.Disable[0].Name != "src" {
		t.Errorf("case: %+v", c)
	}
	in := c.Input[0].Records
	if string(in[0].Key) != "k1" || string(in[0].Value) != `{"n":1}` || string(in[0].Headers[0].Value) != "v" {
		t.Errorf("input 0: %+v", in[0])
	}
	if string(in[1].Key) != `{"id":7}` || string(in[1].Value) != "not json" {
		t.Errorf("input 1: key %s value %s", in[1].Key, in[1].Value)
	}
	if in[2].Key != nil || in[2].Value != nil {
		t.Errorf("input 2: want null key and tombstone: %+v", in[2])
	}
	ex := c.Expect[0].Records
	if len(ex) != 4 || !ex[0].HasKey || !ex[0].HasValue || ex[0].Headers["gone"] != nil || *ex[0].Headers["h"] != "v" || ex[3].Where.Src != "n > 0" {
		t.Errorf("expect: %+v", ex)
	}
	if rows := f.Cases[1].ExpectRows[0].Rows; len(rows) != 1 || rows[0][0] != int64(1) || rows[0][1] != "a" || rows[0][2] != nil {
		t.Errorf("rows: %#v", rows)
	}
}

func TestParseSpecErrors(t *testing.T) {
	src := `pipeline: p.yaml
tests:
  one:
    timeout: 30
    expect:
      out:
        - {key: a, valeu: 1}
        - {}
        - {where: x, count: 0}
    expect_rows:
      - {dsn: x, rows: [1]}
`
	_, err := Parse("x.test.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`x.test.yaml:4:14: tests.one.timeout: `,
		`x.test.yaml:7:20: tests.one.expect.out[0].valeu: unknown key (did you mean "value"?)`,
		`x.test.yaml:8:11: tests.one.expect.out[1]: an expected record needs at least one of key, value, raw, headers or where`,
		`x.test.yaml:9:29: tests.one.expect.out[2].count: must be a whole number from 1 to 100000`,
		`x.test.yaml:11:9: tests.one.expect_rows[0].query: missing`,
		`x.test.yaml:11:25: tests.one.expect_rows[0].rows[0]: a row must be a list of cells`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
	if _, err := Parse("y.test.yaml", []byte("pipeline: p.yaml\n")); err == nil || !strings.Contains(err.Error(), "y.test.yaml:1:1: tests: missing") {
		t.Errorf("missing tests: %v", err)
	}
}
