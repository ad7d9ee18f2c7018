package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/stdout"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/browser"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// The console's end-to-end tests: the runner binary serving its console
// and control API over a real run on the real broker, driven by headless
// Chromium. With CONVEYOR_SCREENSHOTS_DIR set, the pages' screenshots are
// written there (docs/images holds the current ones); otherwise to a
// temporary folder.

// waitPage bounds each wait for the page to show something.
const waitPage = 30 * time.Second

// TestConsole runs configs/donut-orders.yaml, unchanged, on the broker
// with the console served, and checks in a real browser that the pages
// show the live run and that what is done from them happens. One runner
// serves every subtest: the demo's topic and group names are fixed, and
// no other test of this package may use them (TestDonutOrders renames
// them).
func TestConsole(t *testing.T) {
	t.Parallel()
	brokers := service.Kafka(t)
	// A member left by a killed earlier run goes when its session times
	// out; a live runner of donut-orders would share the work and the counts.
	if !waitUntil(time.Minute, func() bool { return groupMembers(t, brokers, "donut-orders.price") == 0 }) {
		t.Fatalf("another donut-orders runner uses the broker at %s: group donut-orders.price keeps its members", brokers)
	}
	// Dead letters of earlier runs stay in the topic; this run's start here.
	dlqStart := endOffset(t, brokers, "donut-orders-dlq")
	run := startConsoleRun(t, []string{"-c", "../configs/donut-orders.yaml"},
		"KAFKA_BROKERS="+brokers, "DONUT_ARCHIVE="+filepath.Join(t.TempDir(), "retail.jsonl"))
	run.waitRunning(t, "donut-orders", 90*time.Second)

	t.Run("graph", func(t *testing.T) {
		cfg := loadDonutOrders(t)
		var wantStages []string
		wantTopics := map[string]bool{}
		for name := range cfg.Topics {
			wantTopics[name] = true
		}
		for _, s := range cfg.Sources {
			wantStages = append(wantStages, "donut-orders/"+s.Name)
			wantTopics[s.To] = true
		}
		consumer := func(name string, c pipeline.Consumer, onErr pipeline.OnError) {
			wantStages = append(wantStages, "donut-orders/"+name)
			for _, f := range c.From {
				wantTopics[f] = true
			}
			if onErr.DeadLetter != "" {
				wantTopics[onErr.DeadLetter] = true
			}
		}
		for _, s := range cfg.Transforms {
			consumer(s.Name, s.Consumer, s.OnError)
			wantTopics[s.To] = true
		}
		for _, s := range cfg.Sinks {
			consumer(s.Name, s.Consumer, s.OnError)
		}
		slices.Sort(wantStages)
		if len(wantStages) != 6 || len(wantTopics) != 5 {
			t.Fatalf("configs/donut-orders.yaml has %d stages and %d topics; this test expects the demo's 6 and 5", len(wantStages), len(wantTopics))
		}

		ctx := run.open(t, "#/")
		browser.WaitFor(t, ctx, "every stage node's state", `document.querySelectorAll('[data-stage]').length > 0 && [...document.querySelectorAll('[data-stage] .state')].every(e => e.textContent !== '…')`, waitPage)
		stages := evalJS[[]string](t, ctx, `[...document.querySelectorAll('[data-stage]')].map(e => e.dataset.stage).sort()`)
		if !slices.Equal(stages, wantStages) {
			t.Errorf("stage nodes %q, want %q", stages, wantStages)
		}
		topics := evalJS[[]string](t, ctx, `[...document.querySelectorAll('[data-topic]')].map(e => e.dataset.topic).sort()`)
		if want := sortedKeys(wantTopics); !slices.Equal(topics, want) {
			t.Errorf("topic nodes %q, want %q", topics, want)
		}
		browser.WaitFor(t, ctx, "every stage to show running", `[...document.querySelectorAll('[data-stage] .state')].every(e => e.textContent === 'running')`, waitPage)
		// Let the rates fill in so the picture shows a live run.
		browser.WaitFor(t, ctx, "the rates to fill in", rateJS("orders", "out")+` > 0 && `+rateJS("price", "in")+` > 0 && `+rateJS("price", "out")+` > 0 && `+rateJS("route", "in")+` > 0`, waitPage)
		shot(t, ctx, "console-pipeline.png")
	})

	t.Run("rates", func(t *testing.T) {
		ctx := run.open(t, "#/")
		browser.WaitFor(t, ctx, "price's in rate while the generator runs", rateJS("price", "in")+` > 0`, waitPage)
		// Stop the records at their source: price's rate must fall to 0 ...
		if code, body := run.post(t, "/api/v1/pipelines/donut-orders/stages/orders/pause", run.token, nil); code != http.StatusOK {
			t.Fatalf("pause orders: %d %s", code, body)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				if code, body := run.post(t, "/api/v1/pipelines/donut-orders/stages/orders/resume", run.token, nil); code != http.StatusOK {
					t.Errorf("resume orders: %d %s", code, body)
				}
			}
		}
		t.Cleanup(resume) // the other subtests need records flowing
		browser.WaitFor(t, ctx, "the source to show paused", `document.querySelector('[data-stage="donut-orders/orders"] .state').textContent === 'paused'`, waitPage)
		browser.WaitFor(t, ctx, "price's rates to fall to 0", rateJS("orders", "out")+` === 0 && `+rateJS("price", "in")+` === 0 && `+rateJS("price", "out")+` === 0`, waitPage)
		// ... and rise again when they flow again.
		resume()
		browser.WaitFor(t, ctx, "price's in rate to rise again", rateJS("price", "in")+` > 0 && `+rateJS("price", "out")+` > 0`, waitPage)
	})

	t.Run("topic", func(t *testing.T) {
		ctx := run.open(t, "#/topic/donut-orders/donut-orders")
		browser.WaitFor(t, ctx, "the records table", `document.querySelector('#records thead tr')`, waitPage)
		// Read from the end, so following shows what comes next rather than
		// catching up with the topic's history.
		run.do(t, ctx, chromedp.SetValue(chromedp.CSS("#from"), "end"), chromedp.Click(chromedp.CSS("#load")))
		browser.WaitFor(t, ctx, "the read from the end", `document.querySelector('#records-info').textContent.startsWith('0 records')`, waitPage)
		run.do(t, ctx, chromedp.Click(chromedp.CSS("#follow")))
		if !evalJS[bool](t, ctx, `document.querySelector('#follow').checked`) {
			t.Fatal("follow is not on")
		}

		marker := fmt.Sprintf("console-e2e-%d", time.Now().UnixNano())
		value := fmt.Sprintf(`{"order_id":%q,"store":"tampa","donut":"glazed","qty":2,"ordered_at":%q}`, marker, time.Now().UTC().Format(time.RFC3339))
		kafkatest.Produce(t, brokers, []*kafka.Message{kafkatest.Message("donut-orders", []byte("tampa"), []byte(value), kafka.Header{Key: "e2e-marker", Value: []byte(marker)})})
		row := `[...document.querySelectorAll('#records tr.record')].find(r => r.innerText.includes('` + marker + `'))`
		browser.WaitFor(t, ctx, "the produced record's row", row, waitPage)
		text := evalJS[string](t, ctx, row+`.innerText`)
		for _, want := range []string{`"donut": "glazed"`, "e2e-marker: " + marker, "tampa"} {
			if !strings.Contains(text, want) {
				t.Errorf("the record's row %q lacks %q (decoded value, headers, key)", text, want)
			}
		}
		// The generator's records follow it in; a few more for the picture.
		browser.WaitFor(t, ctx, "more followed records", `document.querySelectorAll('#records tr.record').length >= 12`, waitPage)
		shot(t, ctx, "console-topic.png")
	})

	t.Run("deadletters", func(t *testing.T) {
		// Letters of this run, then a window of them the replay may pick
		// from: the where below bounds the offsets, so the preview and the
		// replay count the same letters while new ones keep coming.
		var dlqEnd int64
		if !waitUntil(waitPage, func() bool { dlqEnd = endOffset(t, brokers, "donut-orders-dlq"); return dlqEnd >= dlqStart+20 }) {
			t.Fatalf("donut-orders-dlq has %d letters of this run, want 20", dlqEnd-dlqStart)
		}
		var want int
		for _, m := range kafkatest.ReadAll(t, brokers, "donut-orders-dlq", time.Minute) {
			if off := int64(m.TopicPartition.Offset); off >= dlqStart && off < dlqEnd && orderDonut(m.Value) == "cronut" {
				want++
			}
		}
		if want == 0 {
			t.Fatalf("no cronut among the %d letters of this run: the replay would prove nothing", dlqEnd-dlqStart)
		}
		to := unique("console-replay")
		kafkatest.CreateTopic(t, brokers, to, 1)
		where := fmt.Sprintf(`_offset >= %d && _offset < %d && donut == "cronut"`, dlqStart, dlqEnd)

		ctx := run.open(t, "#/deadletters/donut-orders/donut-orders-dlq")
		browser.WaitFor(t, ctx, "the letters", `document.querySelectorAll('#letters tr.letter').length > 0`, waitPage)
		if text := evalJS[string](t, ctx, `document.querySelector('#letters tbody').innerText`); !strings.Contains(text, "price") {
			t.Errorf("the letters do not name the stage that wrote them:\n%.500s", text)
		}
		saveConsoleToken(t, ctx, run.token)
		run.do(t, ctx, chromedp.SetValue(chromedp.CSS("#replay-to"), to), chromedp.SetValue(chromedp.CSS("#replay-where"), where))
		run.do(t, ctx, chromedp.Click(chromedp.CSS("#replay-preview")))
		browser.WaitFor(t, ctx, "the preview's counts", `/^would replay \d+, skip \d+$/.test(document.querySelector('#replay-result').textContent)`, waitPage)
		preview := replayCounts(t, evalJS[string](t, ctx, `document.querySelector('#replay-result').textContent`))
		if preview[0] != want || preview[1] == 0 {
			t.Errorf("preview: would replay %d, skip %d; want %d replayed (the cronuts of this run) and some skipped", preview[0], preview[1], want)
		}
		if end := kafkatest.EndOffsets(t, brokers, to); end[0] != 0 {
			t.Fatalf("the dry run wrote %d records to %s", end[0], to)
		}
		shot(t, ctx, "console-deadletters.png")

		browser.WaitFor(t, ctx, "confirm to be enabled", `!document.querySelector('#replay-confirm').disabled`, waitPage)
		run.do(t, ctx, chromedp.Click(chromedp.CSS("#replay-confirm")))
		browser.WaitFor(t, ctx, "the replay's counts", `/^replayed \d+, skipped \d+$/.test(document.querySelector('#replay-result').textContent)`, waitPage)
		done := replayCounts(t, evalJS[string](t, ctx, `document.querySelector('#replay-result').textContent`))
		if done[0] != preview[0] {
			t.Errorf("replayed %d, the preview said %d", done[0], preview[0])
		}

		got := kafkatest.ReadAll(t, brokers, to, time.Minute)
		if len(got) != done[0] {
			t.Errorf("%s has %d records, the page said %d were replayed", to, len(got), done[0])
		}
		from := map[string]bool{}
		for _, m := range got {
			h := header(m, "conveyor.replayed.from")
			if h == "" || from[h] {
				t.Errorf("replayed record %s: conveyor.replayed.from %q (missing or repeated)", m.Value, h)
			}
			from[h] = true
			if d := orderDonut(m.Value); d != "cronut" {
				t.Errorf("replayed a letter the where does not select: %s", m.Value)
			}
			if header(m, "conveyor.error.message") != "" {
				t.Errorf("replayed record %s kept its error headers", m.Value)
			}
		}
	})

	t.Run("pause", func(t *testing.T) {
		ctx := run.open(t, "#/stage/donut-orders/price")
		browser.WaitFor(t, ctx, "price running with a rate", `document.querySelector('#stage-state').textContent === 'running' && parseFloat(document.querySelector('#stage-in').textContent) > 0`, waitPage)
		browser.WaitFor(t, ctx, "the rate chart", `document.querySelectorAll('#rate-chart polyline').length === 2`, waitPage)
		// Each of the six partitions, owned by this runner, as the group
		// on the broker says.
		browser.WaitFor(t, ctx, "price's partitions and their owner", `(() => { const rows = [...document.querySelectorAll('#stage-partitions tbody tr')];
			return rows.length === 6 && rows.every(r => r.innerText.includes('this runner') && r.innerText.includes('@ /127.0.0.1')); })()`, waitPage)
		shot(t, ctx, "console-stage.png")

		saveConsoleToken(t, ctx, run.token)
		run.do(t, ctx, chromedp.Click(chromedp.CSS("#pause")))
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				run.post(t, "/api/v1/pipelines/donut-orders/stages/price/resume", run.token, nil)
			}
		})
		browser.WaitFor(t, ctx, "the stage to show paused", `document.querySelector('#stage-state').textContent === 'paused'`, waitPage)
		if st := run.stage(t, "donut-orders", "price"); st.State != engine.StatePaused {
			t.Fatalf("the run says price is %s after pause", st.State)
		}
		counter := func(id string) int64 {
			t.Helper()
			s := evalJS[string](t, ctx, `document.querySelector('#`+id+`').textContent`)
			n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
			if err != nil {
				t.Fatalf("#%s = %q: %v", id, s, err)
			}
			return n
		}
		// A batch taken before the pause may still finish: wait for the
		// count to settle, then it must not move while the lag grows.
		var in int64
		if !waitUntil(10*time.Second, func() bool {
			before := run.stage(t, "donut-orders", "price").In
			time.Sleep(1500 * time.Millisecond)
			in = run.stage(t, "donut-orders", "price").In
			return in == before
		}) {
			t.Fatal("price's In count never settled after the pause")
		}
		browser.WaitFor(t, ctx, "the page's In count to settle", fmt.Sprintf(`document.querySelector('#count-in').textContent === %q`, fmtThousands(in)), waitPage)
		lag := counter("count-lag")
		since := time.Now()
		for deadline := time.Now().Add(waitPage); ; time.Sleep(250 * time.Millisecond) {
			if got := counter("count-in"); got != in {
				t.Fatalf("In moved from %d to %d while paused", in, got)
			}
			if counter("count-lag") > lag && time.Since(since) > 3*time.Second {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the lag did not grow while paused (%d)", counter("count-lag"))
			}
		}

		browser.WaitFor(t, ctx, "resume to be enabled", `!document.querySelector('#resume').disabled`, waitPage)
		run.do(t, ctx, chromedp.Click(chromedp.CSS("#resume")))
		resumed = true
		browser.WaitFor(t, ctx, "the stage to run again", `document.querySelector('#stage-state').textContent === 'running'`, waitPage)
		browser.WaitFor(t, ctx, "In to move again", fmt.Sprintf(`parseInt(document.querySelector('#count-in').textContent.replaceAll(',', '')) > %d`, in), waitPage)
	})

	run.proc.StopCleanly(t)
}

// TestControlAPI runs a small pipeline of its own (a generator and two
// copying transforms) and calls the control API of the runner: mutating
// calls need the token; reloads of the edited file refuse an invalid one
// and keep the run going, restart only a changed stage, and drain a
// removed one out of its group.
func TestControlAPI(t *testing.T) {
	t.Parallel()
	brokers := service.Kafka(t)
	name := unique("console-api")
	in, outA, outB := name+"-in", name+"-a", name+"-b"
	// stage is the changing transform's text; "" removes it.
	text := func(change string) string {
		return fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
topics:
  %s: {partitions: 2}
  %s: {partitions: 1}
  %s: {partitions: 1}
sources:
  gen:
    generate: {rate: 100/s, value: '{"n": _offset}'}
    key: string(n)
    to: %s
transforms:
  keep:
    from: %s
    to: %s
%s`, name, in, outA, outB, in, in, outA, change)
	}
	changeV := func(v int) string {
		return fmt.Sprintf("  change:\n    from: %s\n    steps: [{set: {v: %d}}]\n    to: %s\n", in, v, outB)
	}
	cfg := writePipeline(t, name, text(changeV(1)))
	run := startConsoleRun(t, []string{"-c", cfg}, "KAFKA_BROKERS="+brokers)
	run.waitRunning(t, name, 60*time.Second)
	stagesPath := func(s, action string) string { return "/api/v1/pipelines/" + name + "/stages/" + s + "/" + action }

	t.Run("auth", func(t *testing.T) {
		for _, c := range []struct{ what, token string }{{"no token", ""}, {"a wrong token", run.token + "x"}} {
			code, body := run.post(t, stagesPath("keep", "pause"), c.token, nil)
			if code != http.StatusUnauthorized || !strings.Contains(string(body), `"error"`) {
				t.Errorf("pause with %s: %d %s, want 401 with an error", c.what, code, body)
			}
		}
		if code, body := run.post(t, "/api/v1/reload", "", nil); code != http.StatusUnauthorized {
			t.Errorf("reload without a token: %d %s, want 401", code, body)
		}
		if st := run.stage(t, name, "keep"); st.State != engine.StateRunning {
			t.Fatalf("keep is %s after refused calls", st.State)
		}
		var st engine.StageStatus
		if code, body := run.post(t, stagesPath("keep", "pause"), run.token, &st); code != http.StatusOK || st.State != engine.StatePaused {
			t.Errorf("pause with the token: %d %s, want 200 and paused", code, body)
		}
		if got := run.stage(t, name, "keep").State; got != engine.StatePaused {
			t.Errorf("keep is %s after pause", got)
		}
		if code, body := run.post(t, stagesPath("keep", "resume"), run.token, &st); code != http.StatusOK || st.State == engine.StatePaused {
			t.Errorf("resume with the token: %d %s, want 200 and not paused", code, body)
		}
		before := run.stage(t, name, "gen")
		if code, body := run.post(t, stagesPath("gen", "restart"), run.token, nil); code != http.StatusAccepted {
			t.Errorf("restart with the token: %d %s, want 202", code, body)
		}
		if !waitUntil(waitPage, func() bool {
			st := run.stage(t, name, "gen")
			return st.Restarts == before.Restarts+1 && st.State == engine.StateRunning && st.In > 0
		}) {
			t.Errorf("gen after restart: %+v", run.stage(t, name, "gen"))
		}
		run.waitRunning(t, name, waitPage)
	})

	// keep is the stage every reload below leaves alone.
	keep := run.stage(t, name, "keep")
	if keep.Rebalances < 1 {
		t.Fatalf("keep counted no assignment: %+v", keep)
	}
	undisturbed := func(t *testing.T) {
		t.Helper()
		k := run.stage(t, name, "keep")
		if k.Rebalances != keep.Rebalances || k.Restarts != keep.Restarts || !k.Started.Equal(keep.Started) || k.State != engine.StateRunning {
			t.Errorf("the unchanged stage keep was disturbed: rebalances %d -> %d, restarts %d -> %d, started %v -> %v, state %s",
				keep.Rebalances, k.Rebalances, keep.Restarts, k.Restarts, keep.Started, k.Started, k.State)
		}
	}
	// flowing waits until each stage has taken in more than it had.
	flowing := func(t *testing.T, stages ...string) {
		t.Helper()
		was := map[string]int64{}
		for _, s := range stages {
			was[s] = run.stage(t, name, s).In
		}
		if !waitUntil(waitPage, func() bool {
			for _, s := range stages {
				if st := run.stage(t, name, s); st.In <= was[s] || st.State != engine.StateRunning {
					return false
				}
			}
			return true
		}) {
			t.Errorf("%v did not take in records: %+v", stages, run.stages(t))
		}
	}
	reload := func(t *testing.T, out any) (int, []byte) {
		t.Helper()
		return run.post(t, "/api/v1/reload", run.token, out)
	}

	t.Run("reload-invalid", func(t *testing.T) {
		writePipelineAt(t, cfg, text(fmt.Sprintf("  change:\n    from: %s\n    steps: [{sett: {v: 2}}]\n    to: %s\n", in, outB)))
		var res struct {
			Error  string   `json:"error"`
			Errors []string `json:"errors"`
		}
		code, body := reload(t, &res)
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("reload of an invalid file: %d %s, want 422", code, body)
		}
		at := regexp.MustCompile(`^` + regexp.QuoteMeta(cfg) + `:\d+:\d+: `)
		if len(res.Errors) == 0 || !at.MatchString(res.Errors[0]) {
			t.Errorf("errors %q, want each as %s:line:col: ...", res.Errors, cfg)
		}
		flowing(t, "gen", "keep", "change")
		undisturbed(t)
		if st := run.stage(t, name, "change"); st.Restarts != 0 {
			t.Errorf("the refused reload restarted change: %+v", st)
		}
	})

	t.Run("reload-changed", func(t *testing.T) {
		change := run.stage(t, name, "change")
		writePipelineAt(t, cfg, text(changeV(2)))
		var rep engine.ReloadReport
		if code, body := reload(t, &rep); code != http.StatusOK {
			t.Fatalf("reload: %d %s", code, body)
		}
		if !slices.Equal(rep.Restarted, []string{name + "/change"}) || !slices.Equal(rep.Unchanged, []string{name + "/gen", name + "/keep"}) || len(rep.Added)+len(rep.Removed) != 0 {
			t.Fatalf("report %+v, want change restarted, gen and keep unchanged", rep)
		}
		if st := run.stage(t, name, "change"); st.Restarts != change.Restarts+1 || !st.Started.After(change.Started) {
			t.Errorf("change after the reload: restarts %d, started %v (was %d, %v)", st.Restarts, st.Started, change.Restarts, change.Started)
		}
		flowing(t, "keep", "change")
		// The restarted stage writes with its new config.
		if ms := kafkatest.ReadUntil(t, brokers, outB, waitPage, func(ms []*kafka.Message) bool {
			return slices.ContainsFunc(ms, func(m *kafka.Message) bool { return bytes.Contains(m.Value, []byte(`"v":2`)) })
		}); !slices.ContainsFunc(ms, func(m *kafka.Message) bool { return bytes.Contains(m.Value, []byte(`"v":2`)) }) {
			t.Errorf("%s has no record of the changed config among %d", outB, len(ms))
		}
		undisturbed(t)
	})

	t.Run("reload-removed", func(t *testing.T) {
		group := name + ".change"
		var g struct {
			Members []struct {
				MemberID string `json:"member_id"`
			} `json:"members"`
		}
		if code, body := run.get(t, "/api/v1/pipelines/"+name+"/groups/"+group, &g); code != http.StatusOK || len(g.Members) == 0 {
			t.Fatalf("group %s before the removal: %d %s, want members", group, code, body)
		}
		writePipelineAt(t, cfg, text(""))
		var rep engine.ReloadReport
		if code, body := reload(t, &rep); code != http.StatusOK {
			t.Fatalf("reload: %d %s", code, body)
		}
		if !slices.Equal(rep.Removed, []string{name + "/change"}) || len(rep.Restarted)+len(rep.Added) != 0 {
			t.Fatalf("report %+v, want change removed and nothing restarted", rep)
		}
		if slices.ContainsFunc(run.stages(t), func(s engine.StageStatus) bool { return s.Pipeline == name && s.Stage == "change" }) {
			t.Error("/api/v1/stages still lists the removed stage")
		}
		// The group is no longer the pipeline's: the API does not show it,
		// the broker says it has no members.
		if code, body := run.get(t, "/api/v1/pipelines/"+name+"/groups/"+group, nil); code != http.StatusNotFound {
			t.Errorf("the removed stage's group: %d %s, want 404", code, body)
		}
		if n := groupMembers(t, brokers, group); n != 0 {
			t.Errorf("group %s has %d members after the reload removed its stage", group, n)
		}
		flowing(t, "gen", "keep")
		undisturbed(t)
	})

	run.proc.StopCleanly(t)
}

// consoleRun is a runner serving its console and control API.
type consoleRun struct {
	proc  *runnertest.Proc
	url   string // http://host:port
	token string // CONVEYOR_CONSOLE_TOKEN
}

// startConsoleRun starts `runner ARGS --console-addr ADDR` with a token
// and waits until the API answers.
func startConsoleRun(t *testing.T, args []string, env ...string) *consoleRun {
	t.Helper()
	addr := runnertest.FreeAddr(t)
	r := &consoleRun{url: "http://" + addr, token: fmt.Sprintf("e2e-%d", time.Now().UnixNano())}
	r.proc = runnertest.StartArgs(t, append(args, "--console-addr", addr), append(env, "CONVEYOR_CONSOLE_TOKEN="+r.token)...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(r.url + "/api/v1/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if exited, err := r.proc.Wait(10 * time.Millisecond); exited {
			t.Fatalf("the runner exited (%v):\n%s", err, r.proc.Stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console at %s never answered:\n%s", r.url, r.proc.Stderr.String())
		}
	}
}

// call sends a request to the API, with the token as a Bearer token when
// not "", and decodes a successful answer into out when not nil.
func (r *consoleRun) call(t testing.TB, method, path, token string, out any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && (resp.StatusCode < 300 || resp.StatusCode == http.StatusUnprocessableEntity) {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
	return resp.StatusCode, body
}

func (r *consoleRun) get(t testing.TB, path string, out any) (int, []byte) {
	t.Helper()
	return r.call(t, http.MethodGet, path, "", out)
}

func (r *consoleRun) post(t testing.TB, path, token string, out any) (int, []byte) {
	t.Helper()
	return r.call(t, http.MethodPost, path, token, out)
}

func (r *consoleRun) stages(t testing.TB) []engine.StageStatus {
	t.Helper()
	var out []engine.StageStatus
	if code, body := r.get(t, "/api/v1/stages", &out); code != http.StatusOK {
		t.Fatalf("GET /api/v1/stages: %d %s", code, body)
	}
	return out
}

func (r *consoleRun) stage(t testing.TB, p, s string) engine.StageStatus {
	t.Helper()
	for _, st := range r.stages(t) {
		if st.Pipeline == p && st.Stage == s {
			return st
		}
	}
	t.Fatalf("no stage %s/%s in /api/v1/stages", p, s)
	return engine.StageStatus{}
}

// waitRunning waits until every stage of pipeline p runs.
func (r *consoleRun) waitRunning(t testing.TB, p string, timeout time.Duration) {
	t.Helper()
	if !waitUntil(timeout, func() bool {
		n := 0
		for _, st := range r.stages(t) {
			if st.Pipeline == p {
				if st.State != engine.StateRunning {
					return false
				}
				n++
			}
		}
		return n > 0
	}) {
		t.Fatalf("the stages of %s are not all running: %+v\n%s", p, r.stages(t), r.proc.Stderr.String())
	}
}

// open starts a browser on the console at hash.
func (r *consoleRun) open(t *testing.T, hash string) context.Context {
	t.Helper()
	ctx := browser.New(t)
	r.do(t, ctx, chromedp.Navigate(r.url+"/"+hash))
	return ctx
}

func (r *consoleRun) do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v\nrunner:\n%s", err, lastLines(r.proc.Stderr.String(), 20))
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// rateJS is a stage node's rate (dir in or out) on the graph, as a number.
func rateJS(stage, dir string) string {
	return fmt.Sprintf(`parseFloat(document.querySelector('[data-stage="donut-orders/%s"] .rate-%s').textContent)`, stage, dir)
}

// saveConsoleToken types the token into the page's prompt.
func saveConsoleToken(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#token-save"))); err != nil {
		t.Fatal(err)
	}
	browser.WaitFor(t, ctx, "the token to be saved", `document.querySelector('#token-state').textContent === 'token set'`, waitPage)
}

// shot saves the window's view of the page as name in
// $CONVEYOR_SCREENSHOTS_DIR, or in a temporary folder.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CONVEYOR_SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := browser.ScreenshotView(ctx, filepath.Join(dir, name)); err != nil {
		t.Error(err)
	}
}

// replayCounts reads the two numbers of the page's replay result.
func replayCounts(t *testing.T, text string) [2]int {
	t.Helper()
	m := regexp.MustCompile(`(\d+)\D+(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("replay result %q", text)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return [2]int{a, b}
}

// fmtThousands writes n as the page does (en-US grouping).
func fmtThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// orderDonut is the donut of a donut-orders order, "" when the value is
// not one.
func orderDonut(value []byte) string {
	var v struct{ Donut string }
	if json.Unmarshal(value, &v) != nil {
		return ""
	}
	return v.Donut
}

func header(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// loadDonutOrders loads the demo file as the runner does.
func loadDonutOrders(t *testing.T) *pipeline.Config {
	t.Helper()
	reg := connectors.Registry{
		Sources: []connectors.SourceSpec{generate.Spec()},
		Sinks:   []connectors.SinkSpec{stdout.Spec(), file.SinkSpec()},
	}
	pipes, err := pipeline.Load([]string{"../configs/donut-orders.yaml"}, pipeline.Options{Kinds: reg.Kinds(), Lookup: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return pipes[0]
}

// endOffset is the end of partition 0 of topic; 0 when there is no topic.
func endOffset(t testing.TB, brokers, topic string) int64 {
	t.Helper()
	return kafkatest.EndOffsets(t, brokers, topic)[0]
}

// groupMembers is how many members the broker says group has; 0 for a
// group it does not know.
func groupMembers(t testing.TB, brokers, group string) int {
	t.Helper()
	admin, ctx, done := kafkatest.Admin(t, brokers, 30*time.Second)
	defer done()
	res, err := admin.DescribeConsumerGroups(ctx, []string{group})
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	if len(res.ConsumerGroupDescriptions) != 1 {
		t.Fatalf("describe group %s: %d answers", group, len(res.ConsumerGroupDescriptions))
	}
	switch g := res.ConsumerGroupDescriptions[0]; g.Error.Code() {
	case kafka.ErrNoError:
		return len(g.Members)
	case kafka.ErrGroupIDNotFound:
		return 0
	default:
		t.Fatalf("describe group %s: %v", group, g.Error)
		return 0
	}
}
