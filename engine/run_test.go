package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// liveYAML feeds a copying transform from a rate-capped generator; one
// record in a hundred is a dead letter.
const liveYAML = `
pipeline: live
kafka: {brokers: '${BROKERS}'}
topics:
  in:  {partitions: 2}
  out: {partitions: 2}
  dlq: {partitions: 1}
sources:
  gen:
    generate: {count: '${COUNT}', rate: 2000/s, batch: 50, value: '{"n": _offset}'}
    key: string(n)
    to: in
transforms:
  copy:
    from: in
    steps:
      - assert: n % 100 != 7
    on_error: {dead_letter: dlq}
    to: out
`

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(t *testing.T, r *engine.Run, pipeline, stage string) engine.StageStatus {
	t.Helper()
	for _, s := range r.Status() {
		if s.Pipeline == pipeline && s.Stage == stage {
			return s
		}
	}
	t.Fatalf("no status for %s/%s", pipeline, stage)
	return engine.StageStatus{}
}

func hasStage(r *engine.Run, pipeline, stage string) bool {
	for _, s := range r.Status() {
		if s.Pipeline == pipeline && s.Stage == stage {
			return true
		}
	}
	return false
}

// settled waits until a stage's In count stops moving and returns it.
func settled(t *testing.T, r *engine.Run, pipeline, stage string) engine.StageStatus {
	t.Helper()
	last := statusOf(t, r, pipeline, stage)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		s := statusOf(t, r, pipeline, stage)
		if s.In == last.In && s.Out == last.Out {
			return s
		}
		last = s
	}
	t.Fatalf("%s/%s never stopped counting", pipeline, stage)
	return last
}

// exactlyOnce checks that msgs hold each n of [0, count) that is no dead
// letter once, and nothing else.
func exactlyOnce(t *testing.T, msgs []*kafka.Message, count int) {
	t.Helper()
	seen := map[int]int{}
	for _, m := range msgs {
		var v struct{ N int }
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("bad record %q: %v", m.Value, err)
		}
		seen[v.N]++
	}
	lost, dup := 0, 0
	for n := range count {
		switch {
		case n%100 == 7 && seen[n] != 0:
			t.Errorf("dead letter %d in the output", n)
		case n%100 == 7:
		case seen[n] == 0:
			lost++
		case seen[n] > 1:
			dup++
		}
	}
	if lost > 0 || dup > 0 || len(seen) != count-count/100 {
		t.Fatalf("output: %d lost, %d duplicated, %d distinct of %d expected (%d records)", lost, dup, len(seen), count-count/100, len(msgs))
	}
}

func startLive(t *testing.T, count int) (brokers string, r *engine.Run, stop func() error) {
	t.Helper()
	brokers = kafkatest.Embedded(t)
	plan := build(t, liveYAML, map[string]string{"BROKERS": brokers, "COUNT": fmt.Sprint(count)})
	ctx, cancel := context.WithCancel(context.Background())
	r, err := plan.Start(ctx, engine.RunOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return r.Wait()
	}
	t.Cleanup(func() { _ = stop() })
	return brokers, r, stop
}

// Pausing a transform stops its counts while its source goes on; resuming
// it finishes the input with nothing lost or repeated. The dead letters it
// made are in its last errors with their coordinates.
func TestRunPauseResume(t *testing.T) {
	const count = 4000
	brokers, r, stop := startLive(t, count)
	if s := statusOf(t, r, "live", "copy"); s.State != engine.StateStarting {
		t.Errorf("a consuming stage just started is %s, want starting", s.State)
	}
	waitFor(t, 30*time.Second, "copy to run and read", func() bool {
		s := statusOf(t, r, "live", "copy")
		return s.State == engine.StateRunning && s.In >= 200
	})
	s := statusOf(t, r, "live", "copy")
	if s.Group != "live.copy" || len(s.From) != 1 || s.From[0] != "in" || s.To != "out" || len(s.Partitions) != 2 {
		t.Errorf("status of copy: group %q from %v to %q partitions %v", s.Group, s.From, s.To, s.Partitions)
	}
	if !strings.HasPrefix(s.Config, "copy:\n  from: in\n") || !strings.Contains(s.Config, "on_error: {dead_letter: dlq}") {
		t.Errorf("config of copy:\n%s", s.Config)
	}

	if err := r.Pause("live", "copy"); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, r, "live", "copy").State; st != engine.StatePaused {
		t.Errorf("state after pause: %s", st)
	}
	held := settled(t, r, "live", "copy")
	genBefore := statusOf(t, r, "live", "gen").In
	time.Sleep(time.Second)
	now := statusOf(t, r, "live", "copy")
	if now.In != held.In || now.Out != held.Out {
		t.Fatalf("paused stage counted on: in %d -> %d, out %d -> %d", held.In, now.In, held.Out, now.Out)
	}
	if gen := statusOf(t, r, "live", "gen").In; gen <= genBefore && gen < count {
		t.Fatalf("the source stopped too while the transform was paused (%d -> %d)", genBefore, gen)
	}
	if held.In >= count {
		t.Fatalf("the transform read everything (%d) before it was paused: the test proves nothing", held.In)
	}

	if err := r.Resume("live", "copy"); err != nil {
		t.Fatal(err)
	}
	if !kafkatest.WaitCommitted(t, brokers, "live.copy", "in", count, 60*time.Second) {
		t.Fatal("copy did not commit all of in after resume")
	}
	if s := statusOf(t, r, "live", "copy"); s.In <= held.In || s.State != engine.StateRunning {
		t.Fatalf("after resume: state %s, in %d (held at %d)", s.State, s.In, held.In)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, kafkatest.ReadAll(t, brokers, "out", 30*time.Second), count)

	// The last errors are dead letters, with where their records were.
	in := kafkatest.ReadAll(t, brokers, "in", 30*time.Second)
	at := map[[2]int64][]byte{}
	for _, m := range in {
		at[[2]int64{int64(m.TopicPartition.Partition), int64(m.TopicPartition.Offset)}] = m.Value
	}
	errs := statusOf(t, r, "live", "copy").Errors
	if len(errs) != 20 {
		t.Fatalf("last errors: %d, want the 20 newest of %d dead letters", len(errs), count/100)
	}
	for _, e := range errs {
		if e.Action != "dead_letter" || e.Topic != "in" || e.Step != "steps[0].assert" {
			t.Fatalf("error %+v", e)
		}
		var v struct{ N int }
		if err := json.Unmarshal(at[[2]int64{int64(e.Partition), e.Offset}], &v); err != nil || v.N%100 != 7 {
			t.Fatalf("error %+v points at %v, not at a dead letter", e, v)
		}
	}
	if st := statusOf(t, r, "live", "copy").State; st != engine.StateStopped {
		t.Errorf("state after the run: %s", st)
	}
}

// Restart drains a stage and starts a new incarnation; under a clean drain
// every record arrives once.
func TestRunRestart(t *testing.T) {
	const count = 4000
	brokers, r, stop := startLive(t, count)
	waitFor(t, 30*time.Second, "copy to read", func() bool { return statusOf(t, r, "live", "copy").In >= 500 })
	before := statusOf(t, r, "live", "copy")
	if err := r.Restart(context.Background(), "live", "copy"); err != nil {
		t.Fatal(err)
	}
	after := statusOf(t, r, "live", "copy")
	if after.Restarts != 1 || !after.Started.After(before.Started) || after.In < before.In {
		t.Fatalf("after restart: restarts %d, started %v (was %v), in %d (was %d)", after.Restarts, after.Started, before.Started, after.In, before.In)
	}
	if g := statusOf(t, r, "live", "gen"); g.Restarts != 0 || !g.Started.Equal(statusOf(t, r, "live", "gen").Started) {
		t.Errorf("the source was restarted too: %+v", g)
	}
	waitFor(t, 30*time.Second, "the new copy to run", func() bool { return statusOf(t, r, "live", "copy").State == engine.StateRunning })
	if !kafkatest.WaitCommitted(t, brokers, "live.copy", "in", count, 60*time.Second) {
		t.Fatal("copy did not commit all of in after the restart")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, kafkatest.ReadAll(t, brokers, "out", 30*time.Second), count)
}

func TestRunNoStage(t *testing.T) {
	_, r, _ := startLive(t, 10)
	for name, err := range map[string]error{
		"pause":   r.Pause("live", "nope"),
		"resume":  r.Resume("nope", "copy"),
		"restart": r.Restart(context.Background(), "live", "nope"),
	} {
		if !errors.Is(err, engine.ErrNoStage) {
			t.Errorf("%s of an unknown stage: %v", name, err)
		}
	}
}

// A stage failure ends the run; the stage shows failed with the error, the
// others stopped.
func TestRunFailedStatus(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	plan := build(t, `
pipeline: failing
kafka: {brokers: '${BROKERS}'}
topics: {in: {partitions: 1}, out: {partitions: 1}}
sources:
  gen:
    generate: {value: '{"n": _offset}', rate: 500/s}
    to: in
transforms:
  strict:
    from: in
    steps: [{assert: n < 50}]
    to: out
`, map[string]string{"BROKERS": brokers})
	r, err := plan.Start(context.Background(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runErr := r.Wait()
	if runErr == nil || !strings.Contains(runErr.Error(), "n < 50") {
		t.Fatalf("run: %v", runErr)
	}
	s := statusOf(t, r, "failing", "strict")
	if s.State != engine.StateFailed || s.Reason != runErr.Error() || s.Failed != 1 {
		t.Fatalf("strict: state %s, reason %q, failed %d", s.State, s.Reason, s.Failed)
	}
	if len(s.Errors) != 1 || s.Errors[0].Action != "fail" || s.Errors[0].Topic != "in" || s.Errors[0].Offset != 50 {
		t.Fatalf("strict's errors: %+v", s.Errors)
	}
	if g := statusOf(t, r, "failing", "gen"); g.State != engine.StateStopped {
		t.Errorf("gen: %s", g.State)
	}
	if err := r.Restart(context.Background(), "failing", "strict"); err == nil {
		t.Error("restart after the run ended worked")
	}
}

const reloadYAML = `
pipeline: re
kafka: {brokers: '${BROKERS}'}
topics: {in: {partitions: 2}, out1: {partitions: 1}, out2: {partitions: 1}, out3: {partitions: 1}, out4: {partitions: 1}}
sources:
  gen:
    generate: {rate: 1000/s, batch: 20, value: '{"n": _offset}'}
    to: in
transforms:
  a:
    from: in
    to: out1
  b:
    from: in
    steps: [{set: {v: 1}}]
    to: out2
`

// Reload restarts the changed stage only, leaves the unchanged ones
// running untouched, starts an added one and drains a removed one.
func TestRunReload(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	env := map[string]string{"BROKERS": brokers}
	plan := build(t, reloadYAML+`
  old:
    from: in
    to: out4
`, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := plan.Start(ctx, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "old"} {
		waitFor(t, 30*time.Second, s+" to run", func() bool {
			st := statusOf(t, r, "re", s)
			return st.State == engine.StateRunning && st.In > 0
		})
	}
	before := map[string]engine.StageStatus{}
	for _, s := range r.Status() {
		before[s.Stage] = s
	}

	next := build(t, strings.Replace(reloadYAML, "{v: 1}", "{v: 2}", 1)+`
  # a comment changes nothing
  c:
    from: in
    to: out3
`, env)
	report, err := r.Reload(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	want := engine.ReloadReport{Unchanged: []string{"re/gen", "re/a"}, Restarted: []string{"re/b"}, Added: []string{"re/c"}, Removed: []string{"re/old"}}
	if fmt.Sprint(report) != fmt.Sprint(want) {
		t.Fatalf("report %+v, want %+v", report, want)
	}
	if hasStage(r, "re", "old") {
		t.Error("the removed stage is still in the status")
	}
	var names []string
	for _, s := range r.Status() {
		names = append(names, s.Stage)
	}
	if strings.Join(names, ",") != "gen,a,b,c" {
		t.Errorf("stages after reload: %v", names)
	}
	for _, s := range []string{"gen", "a"} {
		st := statusOf(t, r, "re", s)
		if st.Restarts != 0 || !st.Started.Equal(before[s].Started) || st.Rebalances != before[s].Rebalances || st.In < before[s].In {
			t.Errorf("unchanged %s was touched: %+v, before %+v", s, st, before[s])
		}
	}
	waitFor(t, 30*time.Second, "a to go on counting", func() bool { return statusOf(t, r, "re", "a").In > before["a"].In+100 })
	b := statusOf(t, r, "re", "b")
	if b.Restarts != 1 || !b.Started.After(before["b"].Started) {
		t.Errorf("b after reload: restarts %d, started %v (was %v)", b.Restarts, b.Started, before["b"].Started)
	}
	waitFor(t, 30*time.Second, "c to run", func() bool {
		st := statusOf(t, r, "re", "c")
		return st.State == engine.StateRunning && st.In > 0
	})
	// b writes with its new config.
	out2 := kafkatest.ReadUntil(t, brokers, "out2", 30*time.Second, func(ms []*kafka.Message) bool {
		return len(ms) > 0 && strings.Contains(string(ms[len(ms)-1].Value), `"v":2`)
	})
	if len(out2) == 0 || !strings.Contains(string(out2[len(out2)-1].Value), `"v":2`) {
		t.Fatal("b does not write with its new config")
	}
	// old left its group.
	admin, actx, done := kafkatest.Admin(t, brokers, 10*time.Second)
	defer done()
	res, err := admin.DescribeConsumerGroups(actx, []string{"re.old"})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.ConsumerGroupDescriptions[0]; len(d.Members) != 0 {
		t.Errorf("the removed stage's group still has members: %+v", d.Members)
	}
	// Restart after the reload uses the new config.
	if err := r.Restart(ctx, "re", "b"); err != nil {
		t.Fatal(err)
	}
	if b := statusOf(t, r, "re", "b"); b.Restarts != 2 || !strings.Contains(b.Config, "{v: 2}") {
		t.Errorf("b after restart: restarts %d, config %q", b.Restarts, b.Config)
	}
	cancel()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A paused source emits nothing until resumed; a run whose stages are
// paused still stops cleanly.
func TestRunPauseSource(t *testing.T) {
	_, r, stop := startLive(t, 1_000_000)
	waitFor(t, 30*time.Second, "gen to run", func() bool { return statusOf(t, r, "live", "gen").In > 100 })
	if err := r.Pause("live", "gen"); err != nil {
		t.Fatal(err)
	}
	held := settled(t, r, "live", "gen")
	if held.State != engine.StatePaused {
		t.Errorf("gen state %s, want paused", held.State)
	}
	time.Sleep(500 * time.Millisecond)
	if now := statusOf(t, r, "live", "gen"); now.In != held.In || now.Out != held.Out {
		t.Fatalf("paused source counted on: %d -> %d", held.In, now.In)
	}
	if err := r.Resume("live", "gen"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "gen to go on", func() bool { return statusOf(t, r, "live", "gen").In > held.In })
	if err := r.Pause("live", "gen"); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause("live", "copy"); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop while paused: %v", err)
	}
}
