package engine_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/pipeline"
)

func registry() connectors.Registry {
	return connectors.Registry{
		Sources: []connectors.SourceSpec{generate.Spec(), file.SourceSpec(), sqlsource.Spec()},
		Sinks:   []connectors.SinkSpec{file.SinkSpec(), sqlsink.Spec()},
	}
}

func build(t *testing.T, yaml string, env map[string]string) *engine.Plan {
	t.Helper()
	reg := registry()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p, err := pipeline.Parse("test.yaml", []byte(yaml), pipeline.Options{Lookup: lookup, Kinds: reg.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{Lookup: lookup, Stdout: os.Stdout})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

const e2e = `
pipeline: e2e
kafka: {brokers: '${BROKERS}'}
vars: {limit: 20}
topics:
  in:  {partitions: 3}
  out: {partitions: 3}
  dlq: {partitions: 1}
sources:
  gen:
    generate: {count: 1000, seed: 7, value: '{"n": _offset, "qty": _offset % 25}'}
    key: string(n % 10)
    to: in
transforms:
  check:
    from: in
    delivery: ${DELIVERY}
    steps:
      - filter: n % 2 == 0           # 500 left
      - assert: qty < limit          # qty = n % 25 >= 20 fails: n%50 in {20,22,24,...}
      - set: {double: n * 2}
    to: out
    on_error: {dead_letter: dlq}
sinks:
  store:
    from: out
    file: {path: '${OUT}'}
`

// TestPipelineEndToEnd runs a source, a transform with a filter and a dead
// letter, and a sink on the embedded broker, and checks every count, with
// the transform in each delivery mode.
func TestPipelineEndToEnd(t *testing.T) { eachDelivery(t, testPipelineEndToEnd) }

func testPipelineEndToEnd(t *testing.T, delivery string) {
	brokers := kafkatest.Embedded(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	plan := build(t, e2e, map[string]string{"BROKERS": brokers, "OUT": out, "DELIVERY": delivery})

	// Expected: even n in [0,1000) with n%25 < 20 pass; even n with n%25 >= 20 are dead letters.
	var wantOut, wantDLQ int
	for n := 0; n < 1000; n += 2 {
		if n%25 < 20 {
			wantOut++
		} else {
			wantDLQ++
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	// Done when both consuming stages have committed everything they read.
	for _, g := range []struct {
		group, topic string
		total        int64
	}{{"e2e.check", "in", 1000}, {"e2e.store", "out", int64(wantOut)}} {
		if !kafkatest.WaitCommitted(t, brokers, g.group, g.topic, g.total, 60*time.Second) {
			t.Errorf("group %s did not commit all of %s", g.group, g.topic)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}

	got := lines(t, out)
	if len(got) != wantOut {
		t.Fatalf("sink wrote %d lines, want %d", len(got), wantOut)
	}
	seen := map[int]bool{}
	for _, l := range got {
		var v struct{ N, Qty, Double int }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		if v.N%2 != 0 || v.Qty >= 20 || v.Double != 2*v.N || seen[v.N] {
			t.Fatalf("unexpected line %q", l)
		}
		seen[v.N] = true
	}
	in := kafkatest.ReadUntil(t, brokers, "in", 10*time.Second, kafkatest.Count(1000))
	if len(in) != 1000 {
		t.Fatalf("topic in has %d records, want 1000", len(in))
	}
	dlq := kafkatest.ReadUntil(t, brokers, "dlq", 10*time.Second, kafkatest.Count(wantDLQ))
	if len(dlq) != wantDLQ {
		t.Fatalf("dlq has %d records, want %d", len(dlq), wantDLQ)
	}
	hdr := map[string]string{}
	for _, h := range dlq[0].Headers {
		hdr[h.Key] = string(h.Value)
	}
	for k, want := range map[string]string{
		engine.HeaderPipeline: "e2e", engine.HeaderStage: "check", engine.HeaderStep: "steps[1].assert", engine.HeaderTopic: "in",
	} {
		if hdr[k] != want {
			t.Errorf("dead-letter header %s = %q, want %q (all: %v)", k, hdr[k], want, hdr)
		}
	}
	if !strings.Contains(hdr[engine.HeaderMessage], "qty < limit") {
		t.Errorf("dead-letter message %q does not name the assertion", hdr[engine.HeaderMessage])
	}
	if !strings.HasPrefix(string(dlq[0].Value), `{"n":`) {
		t.Errorf("dead letter lost the original value: %q", dlq[0].Value)
	}
}
