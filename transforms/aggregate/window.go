package aggregate

import (
	"cmp"
	"container/heap"
	"slices"
)

type windowKind uint8

const (
	unwindowed windowKind = iota
	tumbling
	hopping
	session
)

// windowSpec holds the window in milliseconds, the resolution of record
// timestamps.
type windowSpec struct {
	kind    windowKind
	size    int64 // tumbling and hopping: the size; session: the gap
	advance int64 // hopping
	grace   int64
}

// window is the state of one group without windows, or of one window of a
// group.
type window struct {
	g     *group
	start int64 // window start; a session's first record (0 unwindowed)
	end   int64 // exclusive; a session's last record + gap
	maxTs int64 // the latest record timestamp, the row's timestamp
	accs  []acc
	hi    int // index in the close heap, -1 when not in it
}

// closeAt is the stream time at which w closes: no record may join it any more.
func (w *window) closeAt(grace int64) int64 { return w.end + grace }

// group is one group key's state: one window without windows, else the
// open windows ordered by start (sessions never overlap).
type group struct {
	key  string
	kb   []byte // key as bytes, handed out as the rows' key; never modified
	wins []*window
}

// find returns the window starting at start, and where it is or would go.
func (g *group) find(start int64) (*window, int) {
	i, ok := slices.BinarySearchFunc(g.wins, start, func(w *window, s int64) int { return cmp.Compare(w.start, s) })
	if ok {
		return g.wins[i], i
	}
	return nil, i
}

// insert adds w in start order; no window of g starts where w does.
func (g *group) insert(w *window) {
	_, i := g.find(w.start)
	g.wins = slices.Insert(g.wins, i, w)
}

// remove takes w out of g.
func (g *group) remove(w *window) {
	if _, i := g.find(w.start); i < len(g.wins) && g.wins[i] == w {
		g.wins = slices.Delete(g.wins, i, i+1)
	}
}

// starts appends the starts of the windows holding ts, ascending: one for
// tumbling, size/advance (rounded) for hopping. Starts are multiples of the
// size (or advance) since the Unix epoch, also before it.
func (ws *windowSpec) starts(ts int64, out []int64) []int64 {
	step := ws.size
	if ws.kind == hopping {
		step = ws.advance
	}
	last := floorDiv(ts, step) * step
	first := last
	for first-step > ts-ws.size {
		first -= step
	}
	for s := first; s <= last; s += step {
		out = append(out, s)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// sessionRange returns the sessions of g that a record at ts joins: those
// less than gap away from it. They are consecutive, as sessions are gap
// apart.
func (g *group) sessionRange(ts, gap int64) (lo, hi int) {
	lo = len(g.wins)
	for i, w := range g.wins {
		if ts > w.start-gap && ts < w.end {
			if i < lo {
				lo = i
			}
			hi = i + 1
		}
	}
	if hi == 0 {
		return 0, 0
	}
	return lo, hi
}

// closeHeap orders open windows by close time, then group key and start,
// so windows closing together do so in an order that depends on nothing
// but the state: a restored state emits them in the same order.
type closeHeap struct {
	ws    []*window
	grace int64
}

func (h *closeHeap) Len() int { return len(h.ws) }

func (h *closeHeap) Less(i, j int) bool {
	a, b := h.ws[i], h.ws[j]
	if c := cmp.Compare(a.end, b.end); c != 0 {
		return c < 0 // same grace for all
	}
	if a.g.key != b.g.key {
		return a.g.key < b.g.key
	}
	return a.start < b.start
}

func (h *closeHeap) Swap(i, j int) {
	h.ws[i], h.ws[j] = h.ws[j], h.ws[i]
	h.ws[i].hi, h.ws[j].hi = i, j
}

func (h *closeHeap) Push(x any) {
	w := x.(*window)
	w.hi = len(h.ws)
	h.ws = append(h.ws, w)
}

func (h *closeHeap) Pop() any {
	n := len(h.ws) - 1
	w := h.ws[n]
	h.ws[n] = nil
	h.ws = h.ws[:n]
	w.hi = -1
	return w
}

// next returns the window that closes first, if it has closed at stream
// time now.
func (h *closeHeap) next(now int64) *window {
	if len(h.ws) == 0 || h.ws[0].closeAt(h.grace) > now {
		return nil
	}
	return heap.Pop(h).(*window)
}

func (h *closeHeap) add(w *window) { heap.Push(h, w) }

func (h *closeHeap) fix(w *window) { heap.Fix(h, w.hi) }

func (h *closeHeap) drop(w *window) {
	if w.hi >= 0 {
		heap.Remove(h, w.hi)
	}
}
