package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/conveyor-dev/conveyor/record"
	json "github.com/goccy/go-json"
)

// The changelog holds one entry per group (without windows) or per window.
//
// Key: the group key's bytes; for windowed state followed by the window
// start as 8 bytes, big-endian two's complement milliseconds since the Unix
// epoch (a session's start is its first record's timestamp). The spec says
// which layout a key has, so no length prefix is needed.
//
// Value: JSON, version 1:
//
//	{"v":1, "st":STREAM_TIME, "sq":SEQ, "ts":MAX_TS, "ws":START, "we":END,
//	 "a":[{"name":N, "fn":F, "n":COUNT, ...}, ...]}
//
// Times are milliseconds since the epoch. st and sq are the partition's
// stream time and arrival counter when the entry was written: Restore takes
// the largest, which is the values the state had, since every Add that
// moves them writes at least one entry. ws and we appear for windowed state
// only. The aggregations come in the step's order with their name and
// function, so a changed step is noticed instead of misread. Per function:
//
//	sum, avg       "i": the integer sum, or "f": the float sum and "fl": true
//	min, max       "x": the value (when n > 0)
//	first, last    "x": the value, "q": its arrival number (to merge sessions)
//	collect        "l": the list; under session windows "ql": arrival numbers
//
// Values are stored in their canonical form (see canonical), so decoding
// gives back exactly the values held.
const changelogVersion = 1

// changeKey is w's changelog key.
func (st *State) changeKey(w *window) []byte {
	if st.spec.win.kind == unwindowed {
		return w.g.kb
	}
	k := make([]byte, len(w.g.kb)+8)
	copy(k, w.g.kb)
	binary.BigEndian.PutUint64(k[len(w.g.kb):], uint64(w.start))
	return k
}

// parseKey splits a changelog key into group key and window start.
func (s *Spec) parseKey(key []byte) ([]byte, int64, error) {
	if s.win.kind == unwindowed {
		return key, 0, nil
	}
	if len(key) < 8 {
		return nil, 0, fmt.Errorf("windowed key of %d bytes, want at least 8", len(key))
	}
	n := len(key) - 8
	return key[:n], int64(binary.BigEndian.Uint64(key[n:])), nil
}

func (st *State) tombstone(w *window) Change {
	return Change{Key: st.changeKey(w)}
}

func (st *State) put(w *window) Change {
	return Change{Key: st.changeKey(w), Value: st.encode(w)}
}

// encode writes w's changelog value by hand: it runs for every record, and
// the layout is fixed.
func (st *State) encode(w *window) []byte {
	b := make([]byte, 0, 64+48*len(w.accs))
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, changelogVersion, 10)
	b = append(b, `,"st":`...)
	b = strconv.AppendInt(b, st.now, 10)
	b = append(b, `,"sq":`...)
	b = strconv.AppendUint(b, st.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, w.maxTs, 10)
	if st.spec.win.kind != unwindowed {
		b = append(b, `,"ws":`...)
		b = strconv.AppendInt(b, w.start, 10)
		b = append(b, `,"we":`...)
		b = strconv.AppendInt(b, w.end, 10)
	}
	b = append(b, `,"a":[`...)
	for i := range st.spec.aggs {
		ag, a := &st.spec.aggs[i], &w.accs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ag.prefix...)
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, a.n, 10)
		switch ag.fn {
		case fnSum, fnAvg:
			if a.fl {
				b = append(b, `,"f":`...)
				b = strconv.AppendFloat(b, a.f, 'g', -1, 64) // shortest form: parses back exactly
				b = append(b, `,"fl":true`...)
			} else if a.i != 0 {
				b = append(b, `,"i":`...)
				b = strconv.AppendInt(b, a.i, 10)
			}
		case fnMin, fnMax, fnFirst, fnLast:
			if a.n > 0 {
				b = append(b, `,"x":`...)
				b = appendJSON(b, a.v)
			}
			if a.n > 0 && (ag.fn == fnFirst || ag.fn == fnLast) {
				b = append(b, `,"q":`...)
				b = strconv.AppendUint(b, a.q, 10)
			}
		case fnCollect:
			if a.n > 0 {
				b = append(b, `,"l":`...)
				b = appendJSON(b, a.list)
			}
			if len(a.qs) > 0 {
				b = append(b, `,"ql":[`...)
				for j, q := range a.qs {
					if j > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendUint(b, q, 10)
				}
				b = append(b, ']')
			}
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendJSON appends a canonical value (or collect's list of them), which
// came from a JSON decoder or passed canonical's checks, so it always
// encodes. A float64 beyond int64 gets an exponent (1e+20), so it reads back
// as a float rather than as a big integer.
func appendJSON(b []byte, v any) []byte {
	switch t := v.(type) {
	case float64:
		if math.Abs(t) >= 1<<63 {
			return strconv.AppendFloat(b, t, 'g', -1, 64)
		}
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	j, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("aggregate: a canonical value failed to encode: %v", err))
	}
	return append(b, j...)
}

type valueJSON struct {
	V  int       `json:"v"`
	St *int64    `json:"st"`
	Sq uint64    `json:"sq"`
	Ts int64     `json:"ts"`
	Ws *int64    `json:"ws"`
	We *int64    `json:"we"`
	A  []accJSON `json:"a"`
}

type accJSON struct {
	Name string          `json:"name"`
	Fn   string          `json:"fn"`
	N    int64           `json:"n"`
	I    int64           `json:"i"`
	F    float64         `json:"f"`
	Fl   bool            `json:"fl"`
	X    json.RawMessage `json:"x"`
	Q    uint64          `json:"q"`
	L    json.RawMessage `json:"l"`
	QL   []uint64        `json:"ql"`
}

// Restore applies one changelog entry read back at start; a nil value
// deletes. Call it for every entry, in changelog order, before Add.
func (st *State) Restore(key, value []byte) error {
	if err := st.restore(key, value); err != nil {
		return fmt.Errorf("restore aggregate entry %q: %w", key, err)
	}
	return nil
}

func (st *State) restore(key, value []byte) error {
	gk, start, err := st.spec.parseKey(key)
	if err != nil {
		return err
	}
	g := st.group(gk)
	var w *window
	if g != nil {
		w, _ = g.find(start)
	}
	if value == nil {
		if w != nil {
			st.unlink(w)
		}
		return nil
	}
	var d valueJSON
	if err := json.Unmarshal(value, &d); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	accs, err := st.spec.decodeAccs(&d)
	if err != nil {
		return err
	}
	end, err := st.spec.checkBounds(&d, start)
	if err != nil {
		return err
	}

	if g == nil {
		g = st.newGroup(gk)
	}
	if w == nil {
		w = st.newWindow(g, start, end, d.Ts)
		g.insert(w)
		if st.spec.win.kind != unwindowed {
			st.heap.add(w)
		}
	}
	w.end, w.maxTs, w.accs = end, d.Ts, accs
	if w.hi >= 0 {
		st.heap.fix(w)
	}
	if d.St != nil && (!st.hasTime || *d.St > st.now) {
		st.now, st.hasTime = *d.St, true
	}
	st.seq = max(st.seq, d.Sq)
	return nil
}

// checkBounds checks the value's window against the key and the step, and
// returns the window end.
func (s *Spec) checkBounds(d *valueJSON, start int64) (int64, error) {
	if d.V != changelogVersion {
		return 0, fmt.Errorf("value version %d, want %d", d.V, changelogVersion)
	}
	if s.win.kind == unwindowed {
		if d.Ws != nil || d.We != nil {
			return 0, errors.New("value has a window but the step has none: the aggregate's window changed; its state must be reset")
		}
		return 0, nil
	}
	if d.Ws == nil || d.We == nil {
		return 0, errors.New("value has no window but the step has one: the aggregate's window changed; its state must be reset")
	}
	switch ws, we := *d.Ws, *d.We; {
	case ws != start:
		return 0, fmt.Errorf("value's window starts at %d, its key at %d", ws, start)
	case s.win.kind == session && we <= ws:
		return 0, fmt.Errorf("session [%d, %d) is empty", ws, we)
	case s.win.kind != session && we-ws != s.win.size:
		return 0, fmt.Errorf("window [%d, %d) is not %dms long: the aggregate's window changed; its state must be reset", ws, we, s.win.size)
	}
	return *d.We, nil
}

// decodeAccs rebuilds the aggregations of one value.
func (s *Spec) decodeAccs(d *valueJSON) ([]acc, error) {
	if len(d.A) != len(s.aggs) {
		return nil, fmt.Errorf("value has %d aggregations, the step %d: the aggregate changed; its state must be reset", len(d.A), len(s.aggs))
	}
	accs := make([]acc, len(s.aggs))
	for i := range s.aggs {
		ag, j := &s.aggs[i], &d.A[i]
		if j.Name != ag.name || j.Fn != ag.fn.String() {
			return nil, fmt.Errorf("value's aggregation %d is %s (%s), the step's %s (%s): the aggregate changed; its state must be reset", i+1, j.Name, j.Fn, ag.name, ag.fn)
		}
		if j.N < 0 {
			return nil, fmt.Errorf("aggregation %s: negative count %d", ag.name, j.N)
		}
		a := &accs[i]
		a.n, a.i, a.f, a.fl, a.q = j.N, j.I, j.F, j.Fl, j.Q
		if len(j.X) > 0 {
			v, err := record.DecodeJSON(j.X)
			if err != nil {
				return nil, fmt.Errorf("aggregation %s: %w", ag.name, err)
			}
			a.v = v
		}
		if len(j.L) > 0 {
			v, err := record.DecodeJSON(j.L)
			if err != nil {
				return nil, fmt.Errorf("aggregation %s: %w", ag.name, err)
			}
			list, ok := v.([]any)
			if !ok && v != nil {
				return nil, fmt.Errorf("aggregation %s: collected values are not a list", ag.name)
			}
			a.list = list
		}
		if ag.fn == fnCollect && s.win.kind == session {
			if len(j.QL) != len(a.list) {
				return nil, fmt.Errorf("aggregation %s: %d values but %d arrival numbers", ag.name, len(a.list), len(j.QL))
			}
			a.qs = j.QL
		}
	}
	return accs, nil
}
