package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
)

func TestHistorySample(t *testing.T) {
	h := newHistory(3)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	st := func(name string, in, out, lag int64) engine.StageStatus {
		return engine.StageStatus{Pipeline: "p", Stage: name, In: in, Out: out, Lag: lag}
	}

	h.sample(at(0), []engine.StageStatus{st("a", 100, 50, 7)})
	if got := h.of("p", "a"); len(got) != 0 {
		t.Fatalf("first sight gave samples %v: a stage has no rate until its second sample", got)
	}
	h.sample(at(1), []engine.StageStatus{st("a", 120, 60, 5), st("b", 0, 0, -1)})
	h.sample(at(3), []engine.StageStatus{st("a", 160, 60, 3), st("b", 9, 3, -1)})
	want := []Sample{
		{Time: at(1), InPerS: 20, OutPerS: 10, Lag: 5},
		{Time: at(3), InPerS: 20, OutPerS: 0, Lag: 3},
	}
	if got := h.of("p", "a"); !equalJSON(got, want) {
		t.Errorf("a = %+v, want %+v", got, want)
	}
	if got := h.of("p", "b"); !equalJSON(got, []Sample{{Time: at(3), InPerS: 4.5, OutPerS: 1.5, Lag: -1}}) {
		t.Errorf("b = %+v", got)
	}

	// A restart that counts from zero again: the new counts are the rate.
	h.sample(at(4), []engine.StageStatus{st("a", 8, 2, 0), st("b", 9, 3, -1)})
	// Only the last 3 samples are kept.
	h.sample(at(5), []engine.StageStatus{st("a", 18, 2, 0)})
	want = []Sample{
		{Time: at(3), InPerS: 20, OutPerS: 0, Lag: 3},
		{Time: at(4), InPerS: 8, OutPerS: 2, Lag: 0},
		{Time: at(5), InPerS: 10, OutPerS: 0, Lag: 0},
	}
	if got := h.of("p", "a"); !equalJSON(got, want) {
		t.Errorf("a after restart and trim = %+v, want %+v", got, want)
	}
	// b left the run (a reload removed it): its history is gone.
	if got := h.of("p", "b"); len(got) != 0 {
		t.Errorf("removed stage still has history %v", got)
	}
	// A sample at the same instant adds nothing (no time passed).
	h.sample(at(5), []engine.StageStatus{st("a", 50, 2, 0)})
	if got := h.of("p", "a"); len(got) != 3 || got[2].InPerS != 10 {
		t.Errorf("a after a zero-length interval = %+v", got)
	}
}

// TestRun: the server's sampler fills the history the stage endpoint
// serves, and stops with its context.
func TestRun(t *testing.T) {
	pipes := donutOrders(t)
	stages := newFakeStages(pipes)
	s := New(Options{Stages: stages, Configs: pipes, Connectors: registry(), SampleEvery: time.Millisecond, HistoryWindow: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	// Counters move by 10 between samples; wait until the history is full.
	deadline := time.Now().Add(10 * time.Second)
	for len(s.history.of("donut-orders", "price")) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("history never filled: %v", s.history.of("donut-orders", "price"))
		}
		stages.update(t, "donut-orders", "price", func(st *engine.StageStatus) { st.In += 10 })
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	hist := s.history.of("donut-orders", "price")
	if len(hist) != 5 {
		t.Errorf("history holds %d samples, want HistoryWindow/SampleEvery = 5", len(hist))
	}
	var moved bool
	for _, smp := range hist {
		moved = moved || smp.InPerS > 0
	}
	if !moved {
		t.Errorf("no sample saw the counters move: %+v", hist)
	}

	rec := httpGet(t, s, "/api/v1/pipelines/donut-orders/stages/price")
	if len(rec.History) != 5 {
		t.Errorf("endpoint history = %d samples, want 5", len(rec.History))
	}
}

func httpGet(t *testing.T, s *Server, path string) StageDetail {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return decode[StageDetail](t, w.Result(), http.StatusOK)
}
