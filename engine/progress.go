package engine

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// progress logs one line per stage with its rates since the last line.
type progress struct {
	log      *slog.Logger
	pipeline string

	mu     sync.Mutex // stages change as a run restarts, adds and removes them
	stages []progressStage
	last   time.Time
}

type progressStage struct {
	name    string
	c       *Counters
	lastIn  int64
	lastOut int64
}

func (p *progress) add(name string, c *Counters) {
	p.set(name, c)
}

// set follows the counters of stage name: a new stage, or a new
// incarnation of one (whose counters carry on from the old ones, so its
// rates go on from where they were).
func (p *progress) set(name string, c *Counters) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last.IsZero() {
		p.last = time.Now()
	}
	for i := range p.stages {
		if p.stages[i].name == name {
			p.stages[i].c = c
			return
		}
	}
	p.stages = append(p.stages, progressStage{name: name, c: c, lastIn: c.In.Load(), lastOut: c.Out.Load()})
}

// remove stops following stage name.
func (p *progress) remove(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stages = slices.DeleteFunc(p.stages, func(s progressStage) bool { return s.name == name })
}

// rates returns the stages' rates since the last call; p.mu is held.
func (p *progress) rates() (secs float64, in, out []float64) {
	now := time.Now()
	secs = now.Sub(p.last).Seconds()
	if secs <= 0 {
		return 0, nil, nil
	}
	p.last = now
	for i := range p.stages {
		s := &p.stages[i]
		i, o := s.c.In.Load(), s.c.Out.Load()
		in = append(in, float64(i-s.lastIn)/secs)
		out = append(out, float64(o-s.lastOut)/secs)
		s.lastIn, s.lastOut = i, o
	}
	return secs, in, out
}

func (p *progress) report() {
	p.mu.Lock()
	defer p.mu.Unlock()
	secs, in, out := p.rates()
	if secs <= 0 {
		return
	}
	for i := range p.stages {
		s := &p.stages[i]
		attrs := []any{"stage", s.name,
			"in_per_s", round1(in[i]), "out_per_s", round1(out[i]),
			"in", s.c.In.Load(), "out", s.c.Out.Load(),
			"filtered", s.c.Filtered.Load(),
			"dead_lettered", s.c.DeadLettered.Load(),
			"dropped", s.c.Dropped.Load()}
		if lag := s.c.Lag(); lag >= 0 {
			attrs = append(attrs, "lag", lag)
		}
		p.log.Info("progress", attrs...)
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// Terminal is where progress is redrawn in place: a terminal that knows
// whether anything else (a log line) was written since the last drawing.
type Terminal interface {
	io.Writer
	// Interrupted reports, and forgets, whether other output came since
	// the last call: then the block is drawn anew below it rather than
	// over it.
	Interrupted() bool
}

// drawProgress redraws one line per stage of every pipeline.
func drawProgress(t Terminal, reps []*progress) {
	var b strings.Builder
	lines := 0
	for _, p := range reps {
		p.mu.Lock()
		secs, in, out := p.rates()
		if secs <= 0 {
			p.mu.Unlock()
			continue
		}
		for i := range p.stages {
			s := &p.stages[i]
			lag := "-"
			if l := s.c.Lag(); l >= 0 {
				lag = fmt.Sprint(l)
			}
			fmt.Fprintf(&b, "\x1b[2K%-16s %-14s in %9.1f/s  out %9.1f/s  lag %8s  filtered %d  dead-lettered %d  dropped %d  failed %d\n",
				p.pipeline, s.name, in[i], out[i], lag, s.c.Filtered.Load(), s.c.DeadLettered.Load(), s.c.Dropped.Load(), s.c.Failed.Load())
			lines++
		}
		p.mu.Unlock()
	}
	if lines == 0 {
		return
	}
	prefix := ""
	if !t.Interrupted() {
		prefix = fmt.Sprintf("\x1b[%dF", lines) // back to the block's first line
	}
	fmt.Fprint(t, prefix+b.String())
}
