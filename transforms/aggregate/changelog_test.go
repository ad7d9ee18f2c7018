package aggregate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// restoreSpecs are steps whose restore must be exact, covering every
// function, every window and both emit modes.
var restoreSpecs = []struct{ name, body string }{
	{"unwindowed", `
values:
  n: count
  total: {sum: x}
  nx: {count: x, where: 'x != nil && x > 2'}
  lo: {min: x}
  hi: {max: y}
  mean: {avg: x}
  first: {first: o}
  last: {last: o}
  all: {collect: x}`},
	{"by", `
by: y
values:
  n: count
  total: {sum: x}
  keys: {collect: _key}`},
	{"tumbling", `
values:
  n: count
  total: {sum: x}
  lo: {min: x}
  last: {last: o}
window: {tumbling: 2s, grace: 1s}`},
	{"tumbling-final", `
values:
  n: count
  total: {sum: x}
  all: {collect: x}
window: {tumbling: 2s, grace: 500ms}
emit: final`},
	{"hopping", `
values:
  n: count
  mean: {avg: x}
window: {hopping: 3s, advance: 1s}`},
	{"hopping-final", `
values:
  n: count
  hi: {max: x}
window: {hopping: 3s, advance: 1s, grace: 1s}
emit: final`},
	{"session", `
values:
  n: count
  total: {sum: x}
  first: {first: x}
  last: {last: o}
  all: {collect: x}
  lo: {min: y}
window: {session: 700ms, grace: 2s}`},
	{"session-final", `
values:
  n: count
  all: {collect: x}
  first: {first: o}
window: {session: 500ms, grace: 300ms}
emit: final`},
}

// restoreRecords is a seeded sequence with several keys, timestamps out of
// order (some late), integers and floats, nulls, and values that fail.
func restoreRecords(n int) []*record.Record {
	rng := rand.New(rand.NewPCG(7, 11))
	recs := make([]*record.Record, n)
	now := int64(0)
	for i := range recs {
		now += rng.Int64N(400)
		ts := now - rng.Int64N(2500)
		var x any = rng.Int64N(10)
		switch rng.IntN(8) {
		case 0:
			x = nil
		case 1:
			x = float64(rng.IntN(100)) / 8
		case 2:
			if i%3 == 0 {
				x = "bad" // sum, avg and min over x fail
			}
		}
		v := obj("x", x, "y", []string{"p", "q", "r"}[rng.IntN(3)], "o", obj("i", int64(i), "l", []any{int64(i), "s"}))
		recs[i] = rec([]string{"a", "b", "c", "<nil>"}[rng.IntN(4)], ts, v)
	}
	return recs
}

// TestRestoreEquivalence splits one run at every position: a state
// restored from the changelog written before the split must go on exactly
// as the uninterrupted state does: same rows, same changelog, same errors.
func TestRestoreEquivalence(t *testing.T) {
	recs := restoreRecords(120)
	for _, sp := range restoreSpecs {
		t.Run(sp.name, func(t *testing.T) {
			spec := compileStep(t, sp.body)
			whole := spec.NewState()
			want := run(whole, recs)
			checkVariety(t, want, strings.Contains(sp.name, "session"))
			for k := 0; k <= len(recs); k++ {
				first := spec.NewState()
				before := run(first, recs[:k])
				var log []Change
				for _, s := range before {
					log = append(log, s.changes...)
				}
				for _, compacted := range []bool{false, true} {
					entries := log
					if compacted {
						entries = compact(log)
					}
					st := spec.NewState()
					for _, c := range entries {
						if err := st.Restore(c.Key, c.Value); err != nil {
							t.Fatalf("split %d: %v", k, err)
						}
					}
					if st.Len() != first.Len() {
						t.Fatalf("split %d (compacted %v): restored Len %d, want %d", k, compacted, st.Len(), first.Len())
					}
					got := run(st, recs[k:])
					for i := range got {
						if d := diffStep(got[i], want[k+i]); d != "" {
							t.Fatalf("split %d (compacted %v), record %d: %s", k, compacted, k+i, d)
						}
					}
					if st.Len() != whole.Len() {
						t.Fatalf("split %d: final Len %d, want %d", k, st.Len(), whole.Len())
					}
				}
			}
		})
	}
}

// checkVariety makes sure the sequence exercises what it should.
func checkVariety(t *testing.T, res []step, sessions bool) {
	t.Helper()
	var late, failed, dels, outs, moves int
	for _, s := range res {
		// A tombstone before a put: sessions merged or a session's start moved.
		if len(s.changes) > 1 && s.changes[0].Value == nil {
			moves++
		}
		switch {
		case errors.Is(s.err, ErrLate):
			late++
		case s.err != nil:
			failed++
		}
		outs += len(s.out)
		for _, c := range s.changes {
			if c.Value == nil {
				dels++
			}
		}
	}
	t.Logf("%d rows, %d tombstones, %d late, %d failed, %d sessions moved or merged", outs, dels, late, failed, moves)
	if outs == 0 || sessions && moves == 0 {
		t.Errorf("want rows (and, for sessions, merges) in the run")
	}
}

// compact keeps what Kafka's log compaction may leave: the last entry per
// key, tombstones removed.
func compact(log []Change) []Change {
	last := map[string]int{}
	for i, c := range log {
		last[string(c.Key)] = i
	}
	var out []Change
	for i, c := range log {
		if last[string(c.Key)] == i && c.Value != nil {
			out = append(out, c)
		}
	}
	return out
}

func diffStep(got, want step) string {
	if fmt.Sprint(got.err) != fmt.Sprint(want.err) {
		return fmt.Sprintf("error %v, want %v", got.err, want.err)
	}
	if len(got.out) != len(want.out) {
		return fmt.Sprintf("%d rows, want %d", len(got.out), len(want.out))
	}
	for i := range got.out {
		if !reflect.DeepEqual(got.out[i], want.out[i]) {
			return fmt.Sprintf("row %d:\n got %s\nwant %s", i, formatOutput(got.out[i]), formatOutput(want.out[i]))
		}
	}
	if len(got.changes) != len(want.changes) {
		return fmt.Sprintf("%d changes, want %d", len(got.changes), len(want.changes))
	}
	for i := range got.changes {
		g, w := got.changes[i], want.changes[i]
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
			return fmt.Sprintf("change %d:\n got %q %s\nwant %q %s", i, g.Key, g.Value, w.Key, w.Value)
		}
	}
	return ""
}

func TestRestoreErrors(t *testing.T) {
	unw := compileStep(t, "values:\n  n: count\n  s: {sum: x}")
	win := compileStep(t, "values:\n  n: count\n  s: {sum: x}\nwindow: {tumbling: 10s}")
	good := func(spec *Spec) Change {
		_, ch, err := spec.NewState().Add(rec("k", 0, obj("x", int64(1))), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ch[0]
	}
	gu, gw := good(unw), good(win)
	tests := []struct {
		name       string
		spec       *Spec
		key, value []byte
		want       string
	}{
		{"not JSON", unw, []byte("k"), []byte("{"), "decode value"},
		{"version", unw, []byte("k"), bytes.Replace(gu.Value, []byte(`"v":1`), []byte(`"v":2`), 1), "version 2"},
		{"renamed aggregation", unw, []byte("k"), bytes.Replace(gu.Value, []byte(`"name":"s"`), []byte(`"name":"t"`), 1), "the aggregate changed"},
		{"other function", unw, []byte("k"), bytes.Replace(gu.Value, []byte(`"fn":"sum"`), []byte(`"fn":"max"`), 1), "the aggregate changed"},
		{"fewer aggregations", compileStep(t, "values:\n  n: count"), []byte("k"), gu.Value, "2 aggregations, the step 1"},
		{"window added", win, append([]byte("k"), make([]byte, 8)...), gu.Value, "value has no window"},
		{"window removed", unw, gw.Key, gw.Value, "value has a window"},
		{"short key", win, []byte("k"), gw.Value, "want at least 8"},
		{"start mismatch", win, append([]byte("k"), 1, 2, 3, 4, 5, 6, 7, 8), gw.Value, "its key at"},
		{"size changed", compileStep(t, "values:\n  n: count\n  s: {sum: x}\nwindow: {tumbling: 5s}"), gw.Key, gw.Value, "not 5000ms long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.spec.NewState()
			err := st.Restore(tt.key, tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if st.Len() != 0 {
				t.Errorf("Len = %d after a failed restore", st.Len())
			}
		})
	}
	// Deleting what is not there is fine: compaction may have removed it.
	if err := win.NewState().Restore(gw.Key, nil); err != nil {
		t.Errorf("tombstone for a missing window: %v", err)
	}
}

// TestRestoreStreamTime: stream time comes back, so windows close when
// they would have.
func TestRestoreStreamTime(t *testing.T) {
	spec := compileStep(t, "values:\n  n: count\nwindow: {tumbling: 10s}")
	a := spec.NewState()
	var log []Change
	for _, r := range []*record.Record{rec("a", 1*s1, obj()), rec("b", 25*s1, obj())} {
		_, ch, err := a.Add(r, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, ch...)
	}
	b := spec.NewState()
	for _, c := range log {
		if err := b.Restore(c.Key, c.Value); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := b.StreamTime()
	want, _ := a.StreamTime()
	if !ok || !got.Equal(want) {
		t.Errorf("stream time %v (%v), want %v", got, ok, want)
	}
	if _, _, err := b.Add(rec("c", 12*s1, obj()), nil, nil); !errors.Is(err, ErrLate) {
		t.Errorf("err = %v, want ErrLate", err)
	}
}

// TestRestoreBigNumbers: floats beyond int64 and integers beyond int64 (big
// integers, from JSON) come back from the changelog as they were held, so
// max still compares the floats and the rows after a restore are the same.
func TestRestoreBigNumbers(t *testing.T) {
	spec := compileStep(t, "values:\n  hi: {max: x}\n  last: {last: b}\n  all: {collect: b}")
	recs := []*record.Record{
		rec("k", 0, obj("x", 1e20, "b", json.Number("18446744073709551617"))),
		rec("k", 1, obj("x", 3e20, "b", 2e19)),
		rec("k", 2, obj("x", 2e20, "b", int64(1))),
	}
	want := run(spec.NewState(), recs)
	for i, s := range want {
		if s.err != nil {
			t.Fatalf("record %d: %v", i, s.err)
		}
	}
	if hi := want[2].out[0].Value["hi"]; hi != 3e20 {
		t.Fatalf("hi = %#v, want 3e20", hi)
	}
	for k := 1; k < len(recs); k++ {
		st := spec.NewState()
		for _, s := range run(spec.NewState(), recs[:k]) {
			for _, c := range s.changes {
				if err := st.Restore(c.Key, c.Value); err != nil {
					t.Fatalf("split %d: %v", k, err)
				}
			}
		}
		for i, got := range run(st, recs[k:]) {
			if d := diffStep(got, want[k+i]); d != "" {
				t.Fatalf("split %d, record %d: %s", k, k+i, d)
			}
		}
	}
}
