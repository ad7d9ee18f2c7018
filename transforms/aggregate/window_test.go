package aggregate

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	s1 = int64(1000) // one second in ms, for readable timestamps
)

func TestStarts(t *testing.T) {
	tests := []struct {
		name string
		ws   windowSpec
		ts   int64
		want []int64
	}{
		{"tumbling", windowSpec{kind: tumbling, size: 10}, 25, []int64{20}},
		{"tumbling at start", windowSpec{kind: tumbling, size: 10}, 20, []int64{20}},
		{"tumbling before the epoch", windowSpec{kind: tumbling, size: 10}, -1, []int64{-10}},
		{"tumbling at a negative start", windowSpec{kind: tumbling, size: 10}, -10, []int64{-10}},
		{"hopping", windowSpec{kind: hopping, size: 10, advance: 5}, 7, []int64{0, 5}},
		{"hopping at a boundary", windowSpec{kind: hopping, size: 10, advance: 5}, 10, []int64{5, 10}},
		{"hopping uneven", windowSpec{kind: hopping, size: 10, advance: 3}, 10, []int64{3, 6, 9}},
		{"hopping advance = size", windowSpec{kind: hopping, size: 10, advance: 10}, 10, []int64{10}},
		{"hopping before the epoch", windowSpec{kind: hopping, size: 10, advance: 5}, -3, []int64{-10, -5}},
	}
	for _, tt := range tests {
		if got := tt.ws.starts(tt.ts, nil); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: starts(%d) = %v, want %v", tt.name, tt.ts, got, tt.want)
		}
	}
}

// TestWindows checks the rows of windowed aggregates, records in and out of
// order, late within grace and beyond it.
func TestWindows(t *testing.T) {
	type in struct {
		key string
		ts  int64 // ms after t0
	}
	tests := []struct {
		name, body string
		recs       []in
		want       []string // rows; "late" for ErrLate
	}{
		{"tumbling in order", "window: {tumbling: 10s}",
			[]in{{"a", 1 * s1}, {"a", 5 * s1}, {"b", 7 * s1}, {"a", 12 * s1}},
			[]string{`"a" [0s,10s) n=1 @1s`, `"a" [0s,10s) n=2 @5s`, `"b" [0s,10s) n=1 @7s`, `"a" [10s,20s) n=1 @12s`}},
		{"tumbling out of order, no grace", "window: {tumbling: 10s}",
			[]in{{"a", 12 * s1}, {"a", 5 * s1}, {"a", 11 * s1}, {"b", 9*s1 + 999}},
			[]string{`"a" [10s,20s) n=1 @12s`, "late", `"a" [10s,20s) n=2 @12s`, "late"}},
		{"tumbling late inside grace", "window: {tumbling: 10s, grace: 5s}",
			[]in{{"a", 1 * s1}, {"a", 12 * s1}, {"a", 8 * s1}, {"a", 14 * s1}, {"a", 9 * s1}, {"a", 15 * s1}, {"a", 9 * s1}},
			[]string{`"a" [0s,10s) n=1 @1s`, `"a" [10s,20s) n=1 @12s`, `"a" [0s,10s) n=2 @8s`, `"a" [10s,20s) n=2 @14s`, `"a" [0s,10s) n=3 @9s`, `"a" [10s,20s) n=3 @15s`, "late"}},
		{"hopping", "window: {hopping: 10s, advance: 5s}",
			[]in{{"a", 7 * s1}, {"a", 3 * s1}, {"a", 12 * s1}},
			// 3s: [-5s,5s) closed at 7s, [0,10s) open.
			[]string{`"a" [0s,10s) n=1 @7s`, `"a" [5s,15s) n=1 @7s`, `"a" [0s,10s) n=2 @7s`, `"a" [5s,15s) n=2 @12s`, `"a" [10s,20s) n=1 @12s`}},
		{"hopping partly late", "window: {hopping: 10s, advance: 5s}",
			[]in{{"a", 12 * s1}, {"a", 7 * s1}, {"a", 4 * s1}},
			// 7s: [0,10s) closed at 12s, [5s,15s) open. 4s: [-5s,5s) and [0,10s) closed.
			[]string{`"a" [5s,15s) n=1 @12s`, `"a" [10s,20s) n=1 @12s`, `"a" [5s,15s) n=2 @12s`, "late"}},
		{"session", "window: {session: 10s}",
			[]in{{"a", 0}, {"a", 5 * s1}, {"a", 30 * s1}, {"b", 31 * s1}},
			[]string{`"a" [0s,10s) n=1 @0s`, `"a" [0s,15s) n=2 @5s`, `"a" [30s,40s) n=1 @30s`, `"b" [31s,41s) n=1 @31s`}},
		{"session gap is exclusive", "window: {session: 10s}",
			[]in{{"a", 0}, {"a", 10 * s1}, {"a", 19*s1 + 999}},
			[]string{`"a" [0s,10s) n=1 @0s`, `"a" [10s,20s) n=1 @10s`, `"a" [10s,29.999s) n=2 @19.999s`}},
		{"session out of order", "window: {session: 10s, grace: 30s}",
			[]in{{"a", 20 * s1}, {"a", 11 * s1}, {"a", 0}, {"a", 6 * s1}},
			[]string{`"a" [20s,30s) n=1 @20s`, `"a" [11s,30s) n=2 @20s`, `"a" [0s,10s) n=1 @0s`, `"a" [0s,30s) n=4 @20s`}},
		{"session late", "window: {session: 10s}",
			[]in{{"a", 0}, {"b", 25 * s1}, {"a", 5 * s1}, {"b", 14 * s1}, {"b", 16 * s1}},
			// At 25s a's session [0,10s) has closed; 5s joins nothing and
			// [5s,15s) closed too. 14s for b: [14s,24s) closed. 16s joins b's
			// open session.
			[]string{`"a" [0s,10s) n=1 @0s`, `"b" [25s,35s) n=1 @25s`, "late", "late", `"b" [16s,35s) n=2 @25s`}},
		{"final", "window: {tumbling: 10s, grace: 2s}\nemit: final",
			[]in{{"a", 1 * s1}, {"b", 3 * s1}, {"a", 11 * s1}, {"a", 9 * s1}, {"b", 12 * s1}, {"a", 25 * s1}, {"a", 5 * s1}},
			[]string{`"a" [0s,10s) n=2 @9s`, `"b" [0s,10s) n=1 @3s`, `"a" [10s,20s) n=1 @11s`, `"b" [10s,20s) n=1 @12s`, "late"}},
		{"final session", "window: {session: 10s}\nemit: final",
			[]in{{"a", 0}, {"a", 5 * s1}, {"b", 14 * s1}, {"a", 16 * s1}, {"c", 40 * s1}},
			// At 40s b's session closes first: it ends first.
			[]string{`"a" [0s,15s) n=2 @5s`, `"b" [14s,24s) n=1 @14s`, `"a" [16s,26s) n=1 @16s`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := compileStep(t, "values:\n  n: count\n"+tt.body).NewState()
			var got []string
			for _, r := range tt.recs {
				out, _, err := st.Add(rec(r.key, r.ts, obj()), nil, nil)
				switch {
				case errors.Is(err, ErrLate):
					got = append(got, "late")
				case err != nil:
					t.Fatalf("add %v: %v", r, err)
				}
				for _, o := range out {
					got = append(got, formatOutput(o))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestGolden records whole runs, rows and changelog entries, in
// testdata/*.golden. Run with -update to rewrite them, and read the diff.
func TestGolden(t *testing.T) {
	v := func(x any, y string) map[string]any { return obj("x", x, "y", y) }
	tests := []struct {
		name, body string
		recs       []*record.Record
	}{
		{"unwindowed", `
by: y
values:
  n: count
  total: {sum: x}
  big: {count: x, where: x > 2}
  lo: {min: x}
  hi: {max: x}
  mean: {avg: x}
  first: {first: x}
  last: {last: _key}
  all: {collect: x}`,
			[]*record.Record{rec("k1", 0, v(int64(1), "a")), rec("k2", 1, v(int64(3), "b")), rec("k3", 2, v(2.5, "a")), rec("k4", 3, v(nil, "a")), rec("k5", 4, v("oops", "a")), rec("<nil>", 5, v(int64(4), "b"))}},
		{"tumbling-grace", `
values:
  n: count
  total: {sum: x}
window: {tumbling: 10s, grace: 5s}`,
			[]*record.Record{rec("a", 1*s1, v(int64(1), "")), rec("a", 12*s1, v(int64(2), "")), rec("a", 8*s1, v(int64(4), "")), rec("b", 16*s1, v(int64(8), "")), rec("a", 9*s1, v(int64(16), ""))}},
		{"hopping-final", `
values:
  n: count
  xs: {collect: x}
window: {hopping: 10s, advance: 5s}
emit: final`,
			[]*record.Record{rec("a", 1*s1, v(int64(1), "")), rec("a", 6*s1, v(int64(2), "")), rec("a", 12*s1, v(int64(3), "")), rec("a", 21*s1, v(int64(4), "")), rec("a", 3*s1, v(int64(5), ""))}},
		{"session-merge", `
values:
  n: count
  first: {first: x}
  last: {last: x}
  xs: {collect: x}
  total: {sum: x}
window: {session: 10s, grace: 1m}`,
			[]*record.Record{rec("a", 0, v(int64(1), "")), rec("a", 22*s1, v(int64(2), "")), rec("a", 5*s1, v(int64(3), "")), rec("a", 30*s1, v(0.5, "")), rec("a", 14*s1, v(int64(5), "")), rec("a", -4*s1, v(int64(6), ""))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := compileStep(t, tt.body).NewState()
			res := run(st, tt.recs)
			got := fmt.Sprintf("# %s\n%s\n\n%s", tt.name, strings.TrimSpace(tt.body), formatSteps(st, tt.recs, res))
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("run differs from %s (-update rewrites it):\n%s", path, got)
			}
		})
	}
}

// TestSessionMergeChangelog: a record bridging two sessions merges them
// and deletes the merged-away session's entry, so a restore holds one.
func TestSessionMergeChangelog(t *testing.T) {
	spec := compileStep(t, "values:\n  n: count\n  xs: {collect: x}\nwindow: {session: 10s, grace: 1m}")
	st := spec.NewState()
	mustAdd(t, st, rec("a", 0, obj("x", int64(1))))
	mustAdd(t, st, rec("a", 15*s1, obj("x", int64(2))))
	if st.Len() != 2 {
		t.Fatalf("Len = %d, want 2 sessions", st.Len())
	}
	out, ch, err := st.Add(rec("a", 8*s1, obj("x", int64(3))), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Len() != 1 {
		t.Errorf("Len = %d, want 1 merged session", st.Len())
	}
	if len(out) != 1 || formatOutput(out[0]) != `"a" [0s,25s) n=3 xs=[1,2,3] @15s` {
		t.Errorf("out = %v", out)
	}
	var got []string
	for _, c := range ch {
		got = append(got, formatChange(st, c))
	}
	want := []string{`del "a"@15s`, `put "a"@0s`}
	if len(got) != 2 || got[0] != want[0] || !strings.HasPrefix(got[1], want[1]) {
		t.Errorf("changes = %q, want %q", got, want)
	}
}

// TestFinalOnce feeds many groups out of order and checks that emit: final
// emits each window exactly once, when it has closed, with every record
// that was not late counted exactly once.
func TestFinalOnce(t *testing.T) {
	for _, body := range []string{
		"window: {tumbling: 10s, grace: 3s}",
		"window: {hopping: 10s, advance: 5s, grace: 2s}",
		"window: {session: 4s, grace: 3s}",
		"window: {tumbling: 7s}",
	} {
		t.Run(body, func(t *testing.T) {
			st := compileStep(t, "values:\n  n: count\n  ts: {collect: unix_ms(_timestamp)}\nemit: final\n"+body).NewState()
			rng := rand.New(rand.NewPCG(1, 2))
			seen := map[string]bool{}
			counted := map[int64]int{} // timestamp -> windows it was counted in
			accepted := 0
			now := int64(0)
			for i := range 3000 {
				now += rng.Int64N(700)
				ts := now - rng.Int64N(6000) // up to 6s out of order
				ts = ts/10*10 + int64(i%10)  // unique timestamps
				key := fmt.Sprint(rng.IntN(7))
				out, _, err := st.Add(rec(key, ts, obj()), nil, nil)
				if err != nil && !errors.Is(err, ErrLate) {
					t.Fatal(err)
				}
				if err == nil {
					accepted++
				}
				stream, _ := st.StreamTime()
				for _, o := range out {
					id := string(o.Key) + " " + o.Value[WindowStart].(string)
					if seen[id] {
						t.Fatalf("window %s emitted twice", id)
					}
					seen[id] = true
					end, _ := parseRFC3339(o.Value[WindowEnd].(string))
					if end.After(stream) {
						t.Errorf("window %s emitted before its end", id)
					}
					for _, x := range o.Value["ts"].([]any) {
						counted[x.(int64)]++
					}
				}
			}
			if len(seen) < 100 {
				t.Fatalf("only %d windows emitted", len(seen))
			}
			// What is still open holds the rest.
			for _, g := range st.groups.All() {
				for _, w := range g.(*group).wins {
					for _, x := range w.accs[1].list {
						counted[x.(int64)]++
					}
				}
			}
			if !strings.Contains(body, "hopping") {
				if len(counted) != accepted {
					t.Errorf("%d records counted, %d accepted", len(counted), accepted)
				}
				for ts, n := range counted {
					if n != 1 {
						t.Errorf("record at %d counted %d times", ts, n)
					}
				}
			} else if len(counted) != accepted {
				t.Errorf("%d records counted, %d accepted", len(counted), accepted)
			}
		})
	}
}

// TestLateWindows: a hopping record counted in its open windows counts the
// closed ones it missed; a record late for all of them is ErrLate.
func TestLateWindows(t *testing.T) {
	st := compileStep(t, "values:\n  n: count\nwindow: {hopping: 10s, advance: 5s}").NewState()
	mustAdd(t, st, rec("a", 12*s1, obj()))
	out := mustAdd(t, st, rec("a", 7*s1, obj())) // [0,10s) closed, [5s,15s) open
	if len(out) != 1 || st.LateWindows() != 1 {
		t.Errorf("rows %d, LateWindows %d; want 1 and 1", len(out), st.LateWindows())
	}
	_, _, err := st.Add(rec("a", 4*s1, obj()), nil, nil)
	if !errors.Is(err, ErrLate) || !strings.Contains(err.Error(), "timestamp 2026-01-01T00:00:04.000Z is in window [2026-01-01T00:00:00.000Z, 2026-01-01T00:00:10.000Z)") {
		t.Errorf("err = %v, want ErrLate naming the window", err)
	}
	if st.LateWindows() != 1 {
		t.Errorf("LateWindows = %d after ErrLate, want 1", st.LateWindows())
	}
}
