package integration

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// TestReloadKeepsUnchangedStages reloads a pipeline of two consuming
// stages on a real broker while records flow at thousands a second, with
// one stage's steps changed: that stage drains and starts anew; the other
// keeps its consumer, without a single rebalance; neither output loses a
// record.
func TestReloadKeepsUnchangedStages(t *testing.T) {
	brokers := service.Kafka(t)
	const count = 40000
	name := unique("reload")
	in, outA, outB := name+"-in", name+"-a", name+"-b"
	text := func(v int) string {
		return fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
topics:
  %s: {partitions: 4}
  %s: {partitions: 2}
  %s: {partitions: 2}
sources:
  gen:
    generate: {count: %d, rate: 4000/s, batch: 100, value: '{"n": _offset}'}
    key: string(n)
    to: %s
transforms:
  keep:
    from: %s
    to: %s
  change:
    from: %s
    steps: [{set: {v: %d}}]
    to: %s
`, name, in, outA, outB, count, in, in, outA, in, v, outB)
	}
	reg := connectors.Registry{Sources: []connectors.SourceSpec{generate.Spec()}}
	build := func(src string) *engine.Plan {
		t.Helper()
		lookup := func(k string) (string, bool) { return brokers, k == "KAFKA_BROKERS" }
		p, err := pipeline.Parse(name+".yaml", []byte(src), pipeline.Options{Lookup: lookup, Kinds: reg.Kinds()})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{Lookup: lookup})
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := build(text(1)).Start(ctx, engine.RunOptions{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	status := func(stage string) engine.StageStatus {
		for _, s := range r.Status() {
			if s.Stage == stage {
				return s
			}
		}
		t.Fatalf("no stage %s", stage)
		return engine.StageStatus{}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, r.Status())
			}
		}
	}
	waitFor("both stages to run and read", func() bool {
		k, c := status("keep"), status("change")
		return k.State == engine.StateRunning && c.State == engine.StateRunning && k.In > 2000 && c.In > 2000
	})
	keep, change := status("keep"), status("change")
	if keep.In >= count || change.In >= count {
		t.Fatal("the input was all read before the reload: the test proves nothing")
	}

	report, err := r.Reload(ctx, build(text(2)))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(report.Restarted) != fmt.Sprintf("[%s/change]", name) || fmt.Sprint(report.Unchanged) != fmt.Sprintf("[%s/gen %s/keep]", name, name) {
		t.Fatalf("report: %+v", report)
	}
	if c := status("change"); c.Restarts != 1 || !c.Started.After(change.Started) {
		t.Fatalf("change after reload: restarts %d, started %v (was %v)", c.Restarts, c.Started, change.Started)
	}
	waitFor("records to flow on after the reload", func() bool { return status("gen").In >= count })
	for _, g := range []string{name + ".keep", name + ".change"} {
		if !kafkatest.WaitCommitted(t, brokers, g, in, count, 90*time.Second) {
			t.Fatalf("group %s did not commit all of %s", g, in)
		}
	}
	k := status("keep")
	if k.Rebalances != keep.Rebalances || k.Restarts != 0 || !k.Started.Equal(keep.Started) || k.State != engine.StateRunning {
		t.Errorf("the unchanged stage was disturbed: rebalances %d -> %d, restarts %d, started %v -> %v, state %s",
			keep.Rebalances, k.Rebalances, k.Restarts, keep.Started, k.Started, k.State)
	}
	if k.Rebalances < 1 {
		t.Errorf("the unchanged stage counted no assignment at all: rebalances are not counted")
	}
	cancel()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}

	check := func(topic string, wantV func(n int, v int) bool) {
		t.Helper()
		seen := map[int]int{}
		for _, m := range kafkatest.ReadAll(t, brokers, topic, 60*time.Second) {
			var v struct{ N, V int }
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatalf("%s: bad record %q", topic, m.Value)
			}
			if !wantV(v.N, v.V) {
				t.Fatalf("%s: unexpected record %q", topic, m.Value)
			}
			seen[v.N]++
		}
		lost, dup := 0, 0
		for n := range count {
			switch {
			case seen[n] == 0:
				lost++
			case seen[n] > 1:
				dup++
			}
		}
		t.Logf("%s: %d lost, %d duplicated of %d", topic, lost, dup, count)
		if lost > 0 {
			t.Errorf("%s lost %d records", topic, lost)
		}
	}
	check(outA, func(int, int) bool { return true })
	var sawNew bool
	check(outB, func(_ int, v int) bool { sawNew = sawNew || v == 2; return v == 1 || v == 2 })
	if !sawNew {
		t.Error("the changed stage never wrote with its new config")
	}
}
