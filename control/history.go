package control

import (
	"slices"
	"sync"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
)

// Sample is a stage's rates and lag at one moment of its history.
type Sample struct {
	Time    time.Time `json:"time"`
	InPerS  float64   `json:"in_per_s"`
	OutPerS float64   `json:"out_per_s"`
	Lag     int64     `json:"lag"` // -1 unknown
}

// history keeps the last samples of every stage: rates come from the
// change in the stage's counters between two samples.
type history struct {
	size int // samples kept per stage

	mu     sync.Mutex
	stages map[string]*stageHistory // by "pipeline/stage"
}

type stageHistory struct {
	at      time.Time // the last sample's time
	in, out int64
	samples []Sample
}

func newHistory(size int) *history {
	return &history{size: max(size, 1), stages: map[string]*stageHistory{}}
}

// sample records every stage's rates since the previous sample. A stage
// seen for the first time gives no sample: it has no rate yet. Stages gone
// from the run lose their history.
func (h *history) sample(now time.Time, status []engine.StageStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(status))
	for _, st := range status {
		key := st.Pipeline + "/" + st.Stage
		seen[key] = true
		sh := h.stages[key]
		if sh == nil {
			h.stages[key] = &stageHistory{at: now, in: st.In, out: st.Out}
			continue
		}
		secs := now.Sub(sh.at).Seconds()
		if secs <= 0 {
			continue
		}
		sh.samples = append(sh.samples, Sample{
			Time:    now,
			InPerS:  rate(sh.in, st.In, secs),
			OutPerS: rate(sh.out, st.Out, secs),
			Lag:     st.Lag,
		})
		if over := len(sh.samples) - h.size; over > 0 {
			sh.samples = slices.Delete(sh.samples, 0, over)
		}
		sh.at, sh.in, sh.out = now, st.In, st.Out
	}
	for key := range h.stages {
		if !seen[key] {
			delete(h.stages, key)
		}
	}
}

// rate is records per second between two counter readings. A counter
// that went back was reset (a restarted stage counting from zero): what it
// counted since is the best guess then.
func rate(before, after int64, secs float64) float64 {
	d := after - before
	if d < 0 {
		d = after
	}
	return float64(d) / secs
}

// of is a copy of a stage's samples, oldest first.
func (h *history) of(pipeline, stage string) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.stages[pipeline+"/"+stage]
	if sh == nil {
		return []Sample{}
	}
	return slices.Clone(nonNil(sh.samples))
}
