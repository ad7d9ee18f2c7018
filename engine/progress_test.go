package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type fakeTerminal struct {
	bytes.Buffer
	interrupted bool
}

func (f *fakeTerminal) Interrupted() bool {
	i := f.interrupted
	f.interrupted = false
	return i
}

// The block is drawn below other output, then over itself.
func TestDrawProgress(t *testing.T) {
	c := newCounters(nil)
	p := &progress{pipeline: "donuts"}
	p.add("price", c)
	p.add("route", newCounters(nil))
	p.last = time.Now().Add(-time.Second)
	c.In.Store(100)
	c.Filtered.Store(3)
	c.lag.Store(42)
	term := &fakeTerminal{interrupted: true}
	drawProgress(term, []*progress{p})
	first := term.String()
	if strings.Contains(first, "\x1b[2F") {
		t.Fatalf("after other output the block must not move up: %q", first)
	}
	if !strings.Contains(first, "donuts           price") || !strings.Contains(first, "lag       42") || !strings.Contains(first, "lag        -") {
		t.Fatalf("unexpected block: %q", first)
	}
	term.Reset()
	p.last = time.Now().Add(-time.Second)
	drawProgress(term, []*progress{p})
	if !strings.HasPrefix(term.String(), "\x1b[2F") || strings.Count(term.String(), "\n") != 2 {
		t.Fatalf("the second drawing must go back over the two lines: %q", term.String())
	}
}
