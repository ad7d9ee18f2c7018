package pipetest

import (
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// TestEndlessSourceFails: a source whose spec names the option that ends it
// (generate's count) must set it, from the file or the case's env, or the
// case fails before anything runs.
func TestEndlessSourceFails(t *testing.T) {
	const src = `
pipeline: p
kafka: {brokers: embedded}
sources:
  ticks:
    generate: {value: '{"n": _offset}'%s}
    to: t
`
	reg := testRegistry()
	for _, tc := range []struct {
		extra string
		env   map[string]string
		fails bool
	}{
		{"", nil, true},
		{", count: 0", nil, true},
		{", count: 3", nil, false},
		{", count: '${N}'", map[string]string{"N": "5"}, false},
	} {
		r := &caseRun{c: &Case{Env: tc.env}, opts: Options{Registry: reg, Lookup: func(string) (string, bool) { return "", false }}, res: &Result{}}
		p, err := pipeline.Parse("p.yaml", []byte(strings.Replace(src, "%s", tc.extra, 1)), pipeline.Options{Lookup: r.lookup, Kinds: reg.Kinds()})
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		r.sources(p)
		if failed := !r.res.Passed(); failed != tc.fails {
			t.Errorf("generate{value%s}: failed %v, want %v: %v", tc.extra, failed, tc.fails, r.res.Problems)
		} else if failed && !strings.Contains(r.res.Problems[0], "source ticks never finishes") || failed && !strings.Contains(r.res.Problems[0], "give it a count") {
			t.Errorf("problem does not name the source and the option: %v", r.res.Problems)
		}
	}
}
