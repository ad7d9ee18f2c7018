package aggregate

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	json "github.com/goccy/go-json"
)

// parseStep decodes an aggregate step written as YAML (the body under
// `aggregate:`) through the real loader, so tests see what a pipeline file
// gives.
func parseStep(t testing.TB, body string) *pipeline.Aggregate {
	t.Helper()
	var b strings.Builder
	b.WriteString("pipeline: p\nkafka: {brokers: 'k:9092'}\nvars: {limit: 10}\ntransforms:\n  t:\n    from: in\n    to: out\n    steps:\n      - aggregate:\n")
	for line := range strings.SplitSeq(strings.Trim(body, "\n"), "\n") {
		b.WriteString("          " + line + "\n")
	}
	p, err := pipeline.Parse("p.yaml", []byte(b.String()), pipeline.Options{Lookup: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("parse step:\n%s\n%v", b.String(), err)
	}
	a := p.Transforms[0].Steps[0].Aggregate
	if a == nil {
		t.Fatalf("no aggregate step in\n%s", b.String())
	}
	return a
}

func compileStep(t testing.TB, body string) *Spec {
	t.Helper()
	s, err := Compile(parseStep(t, body), expression.Options{Vars: map[string]any{"limit": 10}})
	if err != nil {
		t.Fatalf("compile:\n%s\n%v", body, err)
	}
	return s
}

// t0 is the base of test timestamps: 2026-01-01T00:00:00Z.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rec is a record with key k (nil when "<nil>"), timestamp t0+ms and value v.
func rec(k string, ms int64, v any) *record.Record {
	r := &record.Record{Value: v, Timestamp: t0.Add(time.Duration(ms) * time.Millisecond), Topic: "in"}
	if k != "<nil>" {
		r.Key = []byte(k)
	}
	return r
}

// obj builds a record value from alternating names and values.
func obj(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// step is what one Add returned.
type step struct {
	out     []Output
	changes []Change
	err     error
}

func run(st *State, recs []*record.Record) []step {
	res := make([]step, len(recs))
	for i, r := range recs {
		out, ch, err := st.Add(r, nil, nil)
		res[i] = step{out, ch, err}
	}
	return res
}

// formatOutput writes a row compactly and deterministically:
// key [start,end) name=value ... @timestamp, with window times relative to t0.
func formatOutput(o Output) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q", o.Key)
	v := maps.Clone(o.Value)
	if ws, ok := v[WindowStart].(string); ok {
		fmt.Fprintf(&b, " [%s,%s)", rel(ws), rel(v[WindowEnd].(string)))
		delete(v, WindowStart)
		delete(v, WindowEnd)
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		j, _ := json.Marshal(v[k])
		fmt.Fprintf(&b, " %s=%s", k, j)
		if _, isFloat := v[k].(float64); isFloat {
			b.WriteString("f") // tell float 3 from int 3
		}
	}
	fmt.Fprintf(&b, " @%s", o.Timestamp.Sub(t0))
	return b.String()
}

// rel writes a window bound as a duration after t0.
func rel(s string) string {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "bad:" + s
	}
	return tm.Sub(t0).String()
}

func formatChange(st *State, c Change) string {
	gk, start, err := st.spec.parseKey(c.Key)
	if err != nil {
		return "bad key: " + err.Error()
	}
	k := fmt.Sprintf("%q", gk)
	if st.spec.win.kind != unwindowed {
		k += "@" + (time.Duration(start-t0.UnixMilli()) * time.Millisecond).String()
	}
	if c.Value == nil {
		return "del " + k
	}
	return "put " + k + " " + string(c.Value)
}

// formatSteps writes a run as lines: one per record with its outputs and
// changes below it, for golden files.
func formatSteps(st *State, recs []*record.Record, res []step) string {
	var b strings.Builder
	for i, r := range recs {
		j, _ := json.Marshal(r.Value)
		fmt.Fprintf(&b, "%d: key=%q ts=%s value=%s\n", i, r.Key, r.Timestamp.Sub(t0), j)
		if err := res[i].err; err != nil {
			late := ""
			if errors.Is(err, ErrLate) {
				late = " (late)"
			}
			fmt.Fprintf(&b, "  error%s: %v\n", late, err)
		}
		for _, o := range res[i].out {
			fmt.Fprintf(&b, "  out %s\n", formatOutput(o))
		}
		for _, c := range res[i].changes {
			fmt.Fprintf(&b, "  %s\n", formatChange(st, c))
		}
	}
	return b.String()
}

func parseRFC3339(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
