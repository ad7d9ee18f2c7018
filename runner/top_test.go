package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
)

// TestTop: runner top reads the stage list from a console address and
// prints the table with rates from successive refreshes; a stage that
// restarted in between shows no rate rather than a negative one.
func TestTop(t *testing.T) {
	started := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/stages" {
			http.NotFound(w, r)
			return
		}
		n := calls.Add(1)
		stages := []engine.StageStatus{
			{Pipeline: "donut-orders", Stage: "price", Kind: "transform", Delivery: "at_least_once", State: engine.StateRunning, Started: started, In: 1000 * n, Out: 900 * n, Lag: 7, DeadLettered: 3},
			{Pipeline: "donut-orders", Stage: "orders", Kind: "source", Delivery: "at_least_once", State: engine.StateRetrying, Reason: "database down", Started: started.Add(time.Duration(n) * time.Second), Out: 10 * n, Lag: -1},
		}
		_ = json.NewEncoder(w).Encode(stages)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"top", "--addr", srv.URL, "--count", "2", "--interval", "200ms"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	tables := strings.Split(strings.TrimSpace(out), "\n\n")
	if len(tables) != 2 {
		t.Fatalf("want 2 refreshes, got %d:\n%s", len(tables), out)
	}
	for _, want := range []string{"PIPELINE", "STATE", "IN/S", "retrying", "database down"} {
		if !strings.Contains(tables[1], want) {
			t.Errorf("second refresh lacks %q:\n%s", want, tables[1])
		}
	}
	first, second := lineOf(t, tables[0], "price"), lineOf(t, tables[1], "price")
	if f := strings.Fields(first); f[5] != "-" {
		t.Errorf("first refresh has a rate %q before any interval:\n%s", f[5], first)
	}
	// 1000 more records in about 200ms: a rate near 5000/s, never "-".
	if f := strings.Fields(second); f[5] == "-" || f[6] == "-" || f[9] != "7" {
		t.Errorf("second refresh of price: want rates and lag 7, got:\n%s", second)
	}
	if f := strings.Fields(lineOf(t, tables[1], "orders")); f[5] != "-" || f[9] != "-" {
		t.Errorf("a restarted stage shows a rate, or a source a lag:\n%s", tables[1])
	}
}

// TestTopUnreachable: no runner at the address is a clear error.
func TestTopUnreachable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"top", "--addr", "127.0.0.1:1", "--count", "1"}, &stdout, &stderr)
	if code != exitFailed || !strings.Contains(stderr.String(), "--console-addr") {
		t.Fatalf("exit %d, want %d naming --console-addr; stderr:\n%s", code, exitFailed, stderr.String())
	}
}

func lineOf(t *testing.T, table, stage string) string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == stage {
			return l
		}
	}
	t.Fatalf("no line for stage %s in:\n%s", stage, table)
	return ""
}
