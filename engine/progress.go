package engine

import (
	"log/slog"
	"time"
)

// progress logs one line per stage with its rates since the last line.
type progress struct {
	log    *slog.Logger
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
	p.stages = append(p.stages, progressStage{name: name, c: c})
	p.last = time.Now()
}

func (p *progress) report() {
	now := time.Now()
	secs := now.Sub(p.last).Seconds()
	if secs <= 0 {
		return
	}
	p.last = now
	for i := range p.stages {
		s := &p.stages[i]
		in, out := s.c.In.Load(), s.c.Out.Load()
		p.log.Info("progress",
			"stage", s.name,
			"in_per_s", round1(float64(in-s.lastIn)/secs),
			"out_per_s", round1(float64(out-s.lastOut)/secs),
			"in", in, "out", out,
			"filtered", s.c.Filtered.Load(),
			"dead_lettered", s.c.DeadLettered.Load(),
			"dropped", s.c.Dropped.Load())
		s.lastIn, s.lastOut = in, out
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
