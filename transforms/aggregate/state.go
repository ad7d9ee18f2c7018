package aggregate

import (
	"errors"
	"fmt"
	"time"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/state"
)

// ErrLate is returned, wrapped with the record's timestamp and the window,
// for a record whose every window had closed before it arrived. The record
// changed nothing.
var ErrLate = errors.New("record arrived after its window closed")

// Output is one row to emit. Key is the group key; it is shared with the
// state and must not be modified. Value is a new map per row (a collect
// list is a new slice too), but values inside it, such as a first object,
// are shared with the state: replace them, do not edit them in place.
type Output struct {
	Key       []byte
	Value     map[string]any
	Timestamp time.Time
}

// Change is one changelog entry. A nil Value deletes the key (a tombstone).
type Change struct {
	Key   []byte
	Value []byte
}

// State is the aggregate state of one input partition. It owns an
// expression machine: one goroutine at a time.
type State struct {
	spec    *Spec
	machine *expression.Machine
	env     expression.Env

	groups state.Store // group key → *group
	heap   closeHeap   // open windows by close time; empty without windows
	n      int         // windows held (groups without windows)

	hasTime bool
	now     int64  // stream time: the latest timestamp added, in ms
	seq     uint64 // arrival number of the last record added
	late    uint64 // windows a record missed because they had closed

	// Scratch space reused by every Add.
	inputs  []input
	starts  []int64
	targets []target
}

// target is one window a record goes to; w is nil for a window to create.
type target struct {
	start int64
	w     *window
}

// Len is the number of windows held, or of groups without windows.
func (st *State) Len() int { return st.n }

// StreamTime is the latest record timestamp the state has seen (restored
// ones included), and false before the first.
func (st *State) StreamTime() (time.Time, bool) {
	return millisTime(st.now), st.hasTime
}

// LateWindows counts the windows that records were not counted in because
// those windows had closed, while other windows of the same records (hopping)
// were still open. Records late for all their windows get ErrLate instead.
func (st *State) LateWindows() uint64 { return st.late }

// Add folds r into its group and windows and appends what to emit and what
// to write to the changelog. On error nothing changed: the state, out and
// changes are as they were (an expression failed, a value cannot be
// aggregated, a sum overflowed, or ErrLate).
func (st *State) Add(r *record.Record, out []Output, changes []Change) ([]Output, []Change, error) {
	gk, err := st.eval(r)
	defer clear(st.inputs) // hold no record data between calls
	if err != nil {
		return out, changes, err
	}
	ts := r.Timestamp.UnixMilli()
	switch st.spec.win.kind {
	case unwindowed:
		return st.addUnwindowed(gk, ts, out, changes)
	case session:
		return st.addSession(gk, ts, out, changes)
	default:
		return st.addFixed(gk, ts, out, changes)
	}
}

// eval runs the step's expressions over r: the group key, then each
// aggregation's where and value, into st.inputs.
func (st *State) eval(r *record.Record) ([]byte, error) {
	st.env.Reset(r)
	defer st.env.Reset(nil)
	gk := r.Key
	if gk == nil {
		gk = []byte{}
	}
	if st.spec.by != nil {
		v, err := st.machine.Run(st.spec.by, &st.env)
		if err == nil {
			gk, err = groupKey(v)
		}
		if err != nil {
			return nil, fmt.Errorf("by: %w", err)
		}
	}
	for i := range st.spec.aggs {
		a := &st.spec.aggs[i]
		in, err := st.input(a)
		if err != nil {
			return nil, fmt.Errorf("aggregation %s (%s): %w", a.name, a.fn, err)
		}
		st.inputs[i] = in
	}
	return gk, nil
}

func (st *State) input(a *aggSpec) (input, error) {
	if a.where != nil {
		ok, err := st.machine.RunBool(a.where, &st.env)
		if err != nil {
			return input{}, fmt.Errorf("where: %w", err)
		}
		if !ok {
			return input{skip: true}, nil
		}
	}
	if a.expr == nil {
		return input{}, nil // count of records
	}
	v, err := st.machine.Run(a.expr, &st.env)
	if err != nil {
		return input{}, err
	}
	return prepare(a.fn, v)
}

// check reports whether the record's inputs fold into w without error.
func (st *State) check(accs []acc) error {
	for i := range st.spec.aggs {
		a := &st.spec.aggs[i]
		if err := check(a.fn, &accs[i], &st.inputs[i]); err != nil {
			return fmt.Errorf("aggregation %s (%s): %w", a.name, a.fn, err)
		}
	}
	return nil
}

// fold adds the record (checked) to w.
func (st *State) fold(w *window, ts int64) {
	keepSeqs := st.spec.win.kind == session
	for i := range st.spec.aggs {
		apply(st.spec.aggs[i].fn, &w.accs[i], &st.inputs[i], st.seq, keepSeqs)
	}
	w.maxTs = max(w.maxTs, ts)
}

// accept moves stream time and the arrival number on for a record that
// passed every check; nothing may fail after it.
func (st *State) accept(ts int64) {
	if !st.hasTime || ts > st.now {
		st.now, st.hasTime = ts, true
	}
	st.seq++
}

// group returns gk's group, nil when it has none.
func (st *State) group(gk []byte) *group {
	g, _ := st.groups.Get(gk)
	gr, _ := g.(*group)
	return gr
}

func (st *State) newGroup(gk []byte) *group {
	key := string(gk)
	g := &group{key: key, kb: []byte(key)}
	st.groups.Put(g.kb, g)
	return g
}

func (st *State) newWindow(g *group, start, end, ts int64) *window {
	w := &window{g: g, start: start, end: end, maxTs: ts, accs: make([]acc, len(st.spec.aggs)), hi: -1}
	st.n++
	return w
}

func (st *State) addUnwindowed(gk []byte, ts int64, out []Output, changes []Change) ([]Output, []Change, error) {
	g := st.group(gk)
	if g != nil {
		if err := st.check(g.wins[0].accs); err != nil {
			return out, changes, err
		}
	}
	st.accept(ts)
	if g == nil {
		g = st.newGroup(gk)
		g.wins = []*window{st.newWindow(g, 0, 0, ts)}
	}
	w := g.wins[0]
	st.fold(w, ts)
	return append(out, st.row(w)), append(changes, st.put(w)), nil
}

// addFixed adds a record to its tumbling or hopping windows.
func (st *State) addFixed(gk []byte, ts int64, out []Output, changes []Change) ([]Output, []Change, error) {
	ws := &st.spec.win
	g := st.group(gk)
	st.starts = ws.starts(ts, st.starts[:0])
	st.targets = st.targets[:0]
	defer func() { clear(st.targets) }()
	skipped := 0
	for _, s := range st.starts {
		if st.closed(s + ws.size) {
			skipped++
			continue
		}
		var w *window
		if g != nil {
			w, _ = g.find(s)
		}
		if w != nil {
			if err := st.check(w.accs); err != nil {
				return out, changes, err
			}
		}
		st.targets = append(st.targets, target{start: s, w: w})
	}
	if len(st.targets) == 0 {
		s := st.starts[len(st.starts)-1] // the window that closed last
		return out, changes, fmt.Errorf("%w: timestamp %s is in window [%s, %s), closed at stream time %s (grace %s)",
			ErrLate, formatMillis(ts), formatMillis(s), formatMillis(s+ws.size), formatMillis(st.now), time.Duration(ws.grace)*time.Millisecond)
	}

	st.accept(ts)
	st.late += uint64(skipped)
	if g == nil {
		g = st.newGroup(gk)
	}
	for _, t := range st.targets {
		w := t.w
		if w == nil {
			w = st.newWindow(g, t.start, t.start+ws.size, ts)
			g.insert(w)
			st.heap.add(w)
		}
		st.fold(w, ts)
		if !st.spec.final {
			out = append(out, st.row(w))
		}
		changes = append(changes, st.put(w))
	}
	out, changes = st.closeWindows(out, changes)
	return out, changes, nil
}

// addSession adds a record to the session it falls in, starting one or
// merging the sessions it bridges.
func (st *State) addSession(gk []byte, ts int64, out []Output, changes []Change) ([]Output, []Change, error) {
	gap := st.spec.win.size
	g := st.group(gk)
	lo, hi := 0, 0
	if g != nil {
		lo, hi = g.sessionRange(ts, gap)
	}
	var merged []acc
	switch hi - lo {
	case 0:
		// Only open sessions are held, so a record joining none is late when
		// a session of its own would already have closed.
		if st.closed(ts + gap) {
			return out, changes, fmt.Errorf("%w: timestamp %s joins no open session, and its own session [%s, %s) closed at stream time %s (grace %s)",
				ErrLate, formatMillis(ts), formatMillis(ts), formatMillis(ts+gap), formatMillis(st.now), time.Duration(st.spec.win.grace)*time.Millisecond)
		}
	case 1:
		if err := st.check(g.wins[lo].accs); err != nil {
			return out, changes, err
		}
	default:
		// Merge into a copy, so a failed merge leaves the sessions as they were.
		var err error
		if merged, err = st.mergeSessions(g.wins[lo:hi]); err != nil {
			return out, changes, err
		}
		if err := st.check(merged); err != nil {
			return out, changes, err
		}
	}

	st.accept(ts)
	if g == nil {
		g = st.newGroup(gk)
	}
	var w *window
	if hi == lo {
		w = st.newWindow(g, ts, ts+gap, ts)
		g.insert(w)
		st.heap.add(w)
	} else {
		w = g.wins[lo]
		if merged != nil {
			w.accs = merged
			for _, o := range g.wins[lo+1 : hi] {
				w.maxTs = max(w.maxTs, o.maxTs)
				st.heap.drop(o)
				st.n--
				changes = append(changes, st.tombstone(o))
			}
			clear(g.wins[lo+1 : hi])
			g.wins = append(g.wins[:lo+1], g.wins[hi:]...)
		}
		if ts < w.start {
			// The session's key is its start: move it. The order in g.wins
			// holds, as ts is past the previous session's end.
			changes = append(changes, st.tombstone(w))
			w.start = ts
		}
	}
	st.fold(w, ts)
	w.end = w.maxTs + gap
	st.heap.fix(w)
	if !st.spec.final {
		out = append(out, st.row(w))
	}
	changes = append(changes, st.put(w))
	out, changes = st.closeWindows(out, changes)
	return out, changes, nil
}

// mergeSessions returns the accumulators of sessions merged into one.
func (st *State) mergeSessions(ws []*window) ([]acc, error) {
	merged := make([]acc, len(st.spec.aggs))
	for i := range merged {
		merged[i] = cloneAcc(&ws[0].accs[i])
	}
	for _, o := range ws[1:] {
		for i := range st.spec.aggs {
			a := &st.spec.aggs[i]
			if err := merge(a.fn, &merged[i], &o.accs[i]); err != nil {
				return nil, fmt.Errorf("aggregation %s (%s): merge sessions: %w", a.name, a.fn, err)
			}
		}
	}
	return merged, nil
}

// closed reports whether a window ending at end has closed at stream time.
func (st *State) closed(end int64) bool {
	return st.hasTime && end+st.spec.win.grace <= st.now
}

// closeWindows removes the windows that stream time has closed, emitting
// them under emit: final, and deletes them from the changelog.
func (st *State) closeWindows(out []Output, changes []Change) ([]Output, []Change) {
	for {
		w := st.heap.next(st.now)
		if w == nil {
			return out, changes
		}
		st.unlink(w)
		if st.spec.final {
			out = append(out, st.row(w))
		}
		changes = append(changes, st.tombstone(w))
	}
}

// unlink removes w from its group, and the group when it was the last.
func (st *State) unlink(w *window) {
	st.heap.drop(w)
	w.g.remove(w)
	if len(w.g.wins) == 0 {
		st.groups.Delete(w.g.kb)
	}
	st.n--
}

// row is w's output row: aggregation names to values, and the window bounds.
func (st *State) row(w *window) Output {
	windowed := st.spec.win.kind != unwindowed
	n := len(st.spec.aggs)
	if windowed {
		n += 2
	}
	v := make(map[string]any, n)
	for i := range st.spec.aggs {
		a := &st.spec.aggs[i]
		v[a.name] = result(a.fn, &w.accs[i])
	}
	if windowed {
		v[WindowStart] = formatMillis(w.start)
		v[WindowEnd] = formatMillis(w.end)
	}
	return Output{Key: w.g.kb, Value: v, Timestamp: millisTime(w.maxTs)}
}
