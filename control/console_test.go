package control

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/browser"
)

// The console's tests drive a headless Chromium against the API over
// fakes. Set CONVEYOR_SCREENSHOTS to a folder to keep their screenshots.

const waitUI = 15 * time.Second

// open starts a browser on the fixture's console at hash.
func (f *fixture) open(t *testing.T, hash string) context.Context {
	t.Helper()
	ctx := browser.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(f.http.URL+"/"+hash)); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CONVEYOR_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := browser.Screenshot(ctx, filepath.Join(dir, name)); err != nil {
		t.Error(err)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// saveToken types the token into the header's prompt.
func saveToken(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#token-save")))
	browser.WaitFor(t, ctx, "the token to be saved", `document.querySelector('#token-state').textContent === 'token set'`, waitUI)
}

// TestConsoleGraph: the pipeline view shows every stage and topic of
// donut-orders, laid out left to right from the source to the sinks.
func TestConsoleGraph(t *testing.T) {
	f := newFixture(t, testToken)
	f.stages.update(t, "donut-orders", "archive", func(s *engine.StageStatus) {
		s.State, s.Reason = engine.StateRetrying, "file: permission denied"
	})
	ctx := f.open(t, "#/")
	stages := []string{"orders", "price", "route", "show-bulk", "show-rejects", "archive"}
	for _, s := range stages {
		browser.WaitFor(t, ctx, "stage "+s, fmt.Sprintf(`document.querySelector('[data-stage="donut-orders/%s"] .state').textContent !== '…'`, s), waitUI)
	}
	for _, topic := range []string{"donut-orders", "donut-orders-priced", "donut-orders-bulk", "donut-orders-retail", "donut-orders-dlq"} {
		if n := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll('[data-topic="%s"]').length`, topic)); n != 1 {
			t.Errorf("topic %s: %d nodes, want 1", topic, n)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-stage]').length`); n != len(stages) {
		t.Errorf("%d stage nodes, want %d", n, len(stages))
	}
	for s, want := range map[string]string{"price": "running", "archive": "retrying"} {
		if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('[data-stage="donut-orders/%s"] .state').textContent`, s)); got != want {
			t.Errorf("%s state = %q, want %q", s, got, want)
		}
	}
	// Left to right: the source, its topic, the transform reading it, ...,
	// the sinks last.
	left := func(sel string) float64 {
		return eval[float64](t, ctx, `document.querySelector('`+sel+`').getBoundingClientRect().left`)
	}
	order := []string{`[data-stage="donut-orders/orders"]`, `[data-topic="donut-orders"]`, `[data-stage="donut-orders/price"]`,
		`[data-topic="donut-orders-priced"]`, `[data-stage="donut-orders/route"]`, `[data-topic="donut-orders-bulk"]`, `[data-stage="donut-orders/show-bulk"]`}
	for i := 1; i < len(order); i++ {
		if a, b := left(order[i-1]), left(order[i]); a >= b {
			t.Errorf("%s (x=%v) is not left of %s (x=%v)", order[i-1], a, order[i], b)
		}
	}
	screenshot(t, ctx, "console-pipeline.png")

	// A topic node leads to its records.
	do(t, ctx, chromedp.Click(chromedp.CSS(`[data-topic="donut-orders-priced"]`)))
	browser.WaitFor(t, ctx, "the topic page", `location.hash === '#/topic/donut-orders/donut-orders-priced' && document.querySelector('#records')`, waitUI)
}

// TestConsoleRates: a stage's records/s follow its counters, on the graph
// and on the stage page.
func TestConsoleRates(t *testing.T) {
	f := newFixture(t, testToken)
	f.runSampler(t)
	ctx := f.open(t, "#/")
	rateIn := `document.querySelector('[data-stage="donut-orders/price"] .rate-in').textContent`
	browser.WaitFor(t, ctx, "the graph", rateIn+` === '0'`, waitUI)

	stop := f.moveCounters(t, "price", 50)
	browser.WaitFor(t, ctx, "price's in rate to rise", `parseFloat(`+rateIn+`) > 0`, waitUI)
	if out := eval[string](t, ctx, `document.querySelector('[data-stage="donut-orders/price"] .rate-out').textContent`); out == "" {
		t.Error("no out rate")
	}
	// Other stages did not move.
	if got := eval[string](t, ctx, `document.querySelector('[data-stage="donut-orders/route"] .rate-in').textContent`); got != "0" {
		t.Errorf("route's in rate = %q, want 0", got)
	}

	do(t, ctx, chromedp.Navigate(f.http.URL+"/#/stage/donut-orders/price"))
	browser.WaitFor(t, ctx, "the stage page's rate", `parseFloat(document.querySelector('#stage-in').textContent) > 0`, waitUI)
	browser.WaitFor(t, ctx, "the rate chart", `document.querySelectorAll('#rate-chart polyline').length === 2`, waitUI)
	stop()
	browser.WaitFor(t, ctx, "the rate to fall back to 0", `document.querySelector('#stage-in').textContent === '0'`, waitUI)
}

// moveCounters adds n to a stage's in and out counters every 100ms until
// stopped.
func (f *fixture) moveCounters(t *testing.T, stage string, n int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = f.stages.set("donut-orders", stage, func(s *engine.StageStatus) { s.In += n; s.Out += n - 1 })
			}
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			close(done)
			<-finished
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestConsoleStagePage: state, counters, partitions with their owner,
// errors with the record's coordinates, and the config.
func TestConsoleStagePage(t *testing.T) {
	f := newFixture(t, testToken)
	f.stages.update(t, "donut-orders", "price", func(s *engine.StageStatus) {
		s.In, s.DeadLettered, s.Lag = 1234, 7, 3
		s.Partitions = []engine.PartitionStatus{{Topic: "donut-orders", Partition: 0, Lag: 3}}
		s.Errors = []engine.StageError{{Time: time.Date(2025, 6, 1, 12, 0, 5, 0, time.UTC), Message: "quantity must be positive", Step: "assert", Action: "dead_letter", Topic: "donut-orders", Partition: 0, Offset: 41}}
	})
	f.cluster.groups["donut-orders.price"] = Group{Group: "donut-orders.price", State: "Stable",
		Members: []GroupMember{
			{MemberID: "m-1", ClientID: "donut-orders", Host: "/10.0.0.7", InstanceID: "host-1", Assignment: []PartitionRef{{Topic: "donut-orders", Partition: 0}}},
			{MemberID: "m-2", ClientID: "donut-orders", Host: "/10.0.0.8", InstanceID: "host-2", Assignment: []PartitionRef{{Topic: "donut-orders", Partition: 1}}},
		},
		Offsets: []GroupOffset{{Topic: "donut-orders", Partition: 0, Committed: 10, End: 13, Lag: 3}, {Topic: "donut-orders", Partition: 1, Committed: 5, End: 5, Lag: 0}},
	}
	ctx := f.open(t, "#/stage/donut-orders/price")
	browser.WaitFor(t, ctx, "the stage's state", `document.querySelector('#stage-state').textContent === 'running'`, waitUI)
	browser.WaitFor(t, ctx, "the partitions and owners", `document.querySelectorAll('#stage-partitions tbody tr').length === 2`, waitUI)
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#stage-partitions tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ').trim())`)
	want := []string{"donut-orders 0 3 host-1 @ /10.0.0.7 this runner", "donut-orders 1 0 host-2 @ /10.0.0.8"}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("partitions = %q, want %q", rows, want)
	}
	errText := eval[string](t, ctx, `document.querySelector('#stage-errors tbody').innerText`)
	for _, s := range []string{"donut-orders[0]@41", "quantity must be positive", "dead_letter", "assert"} {
		if !strings.Contains(errText, s) {
			t.Errorf("errors table %q lacks %q", errText, s)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector('#stage-config').textContent`); got != "price:\n  password: [redacted]\n" {
		t.Errorf("config = %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#count-in').textContent`); got != "1,234" {
		t.Errorf("in counter = %q", got)
	}
	screenshot(t, ctx, "console-stage.png")
}

// TestConsolePause: the pause button needs the token, sends it as a Bearer
// token, and the page shows the stage paused; resume brings it back.
func TestConsolePause(t *testing.T) {
	f := newFixture(t, testToken)
	ctx := f.open(t, "#/stage/donut-orders/price")
	browser.WaitFor(t, ctx, "the stage page", `document.querySelector('#stage-state').textContent === 'running'`, waitUI)

	// Without the token: refused, and the page says why.
	do(t, ctx, chromedp.Click(chromedp.CSS("#pause")))
	browser.WaitFor(t, ctx, "the refusal", `!document.querySelector('#notice').hidden && document.querySelector('#notice').textContent.includes('token')`, waitUI)
	if st, _ := f.stages.stageOf("donut-orders", "price"); st.State != engine.StateRunning {
		t.Fatalf("paused without a token: %s", st.State)
	}

	saveToken(t, ctx, testToken)
	do(t, ctx, chromedp.Click(chromedp.CSS("#pause")))
	browser.WaitFor(t, ctx, "the stage to show paused", `document.querySelector('#stage-state').textContent === 'paused'`, waitUI)
	if st, _ := f.stages.stageOf("donut-orders", "price"); st.State != engine.StatePaused {
		t.Errorf("fake run: price is %s, want paused", st.State)
	}
	screenshot(t, ctx, "console-paused.png")
	do(t, ctx, chromedp.Navigate(f.http.URL+"/#/"))
	browser.WaitFor(t, ctx, "the graph to show paused", `document.querySelector('[data-stage="donut-orders/price"] .state').textContent === 'paused'`, waitUI)

	do(t, ctx, chromedp.Navigate(f.http.URL+"/#/stage/donut-orders/price"))
	browser.WaitFor(t, ctx, "resume to be enabled", `!document.querySelector('#resume').disabled`, waitUI)
	do(t, ctx, chromedp.Click(chromedp.CSS("#resume")))
	browser.WaitFor(t, ctx, "the stage to run again", `document.querySelector('#stage-state').textContent === 'running'`, waitUI)
}

func (f *fakeStages) stageOf(p, s string) (engine.StageStatus, bool) {
	for _, st := range f.Status() {
		if st.Pipeline == p && st.Stage == s {
			return st, true
		}
	}
	return engine.StageStatus{}, false
}

// TestConsoleTopic: the topic page shows the records, raw bytes on demand,
// and following picks up a record written after the page loaded.
func TestConsoleTopic(t *testing.T) {
	f := newFixture(t, testToken)
	f.cluster.produce("donut-orders-priced", 0, map[string]any{"donut": "glazed", "qty": 3})
	f.cluster.produce("donut-orders-priced", 1, map[string]any{"donut": "maple", "qty": 30})
	ctx := f.open(t, "#/topic/donut-orders/donut-orders-priced")
	browser.WaitFor(t, ctx, "two records", `document.querySelectorAll('#records tr.record').length === 2`, waitUI)
	first := eval[string](t, ctx, `document.querySelector('#records tr.record[data-partition="0"][data-offset="0"]').innerText`)
	for _, s := range []string{"glazed", "tampa", "priced-by: conveyor"} {
		if !strings.Contains(first, s) {
			t.Errorf("record row %q lacks %q", first, s)
		}
	}

	do(t, ctx, chromedp.Click(chromedp.CSS("#raw")))
	browser.WaitFor(t, ctx, "raw bytes", `document.querySelector('#records').innerText.includes('dGFtcGE=')`, waitUI) // base64 of the key "tampa"

	do(t, ctx, chromedp.Click(chromedp.CSS("#follow")))
	// Let a follow poll find nothing new first.
	f.cluster.waitQueries(t, 2)
	f.cluster.produce("donut-orders-priced", 1, map[string]any{"donut": "cronut", "qty": 12})
	browser.WaitFor(t, ctx, "the new record", `document.querySelector('#records tr.record[data-partition="1"][data-offset="1"]').innerText.includes('cronut')`, waitUI)
	if n := eval[int](t, ctx, `document.querySelectorAll('#records tr.record').length`); n != 3 {
		t.Errorf("%d rows after following, want 3 (no duplicates)", n)
	}
	screenshot(t, ctx, "console-topic.png")

	// A where filter goes to the API; a bad one shows its error.
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#where"), "bad"), chromedp.Click(chromedp.CSS("#load")))
	browser.WaitFor(t, ctx, "the filter's error", `document.querySelector('#notice').textContent.includes('unknown name bad')`, waitUI)
}

// waitQueries waits until the cluster has been asked for records n more
// times than when called.
func (c *fakeCluster) waitQueries(t *testing.T, n int) {
	t.Helper()
	c.mu.Lock()
	start := len(c.queries)
	c.mu.Unlock()
	deadline := time.Now().Add(waitUI)
	for {
		c.mu.Lock()
		got := len(c.queries) - start
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page asked for records %d times, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleReplay: dead letters with their errors; a replay previews
// (dry run), then replays on confirmation.
func TestConsoleReplay(t *testing.T) {
	f := newFixture(t, testToken)
	part, off := int32(2), int64(40)
	f.letters.letters = []Letter{
		{Partition: 0, Offset: 0, Value: map[string]any{"qty": -1}, Headers: []Header{{Key: "conveyor.error.message", Value: "quantity must be positive"}},
			Error: &LetterError{Pipeline: "donut-orders", Stage: "price", Step: "assert", Message: "quantity must be positive", Topic: "donut-orders", Partition: &part, Offset: &off}},
		{Partition: 0, Offset: 1, Value: map[string]any{"donut": "cronut"},
			Error: &LetterError{Pipeline: "donut-orders", Stage: "price", Step: "assert", Message: "not on the menu", Topic: "donut-orders", Partition: &part, Offset: &off}},
	}
	ctx := f.open(t, "#/deadletters/donut-orders/donut-orders-dlq")
	browser.WaitFor(t, ctx, "the letters", `document.querySelectorAll('#letters tr.letter').length === 2`, waitUI)
	text := eval[string](t, ctx, `document.querySelector('#letters').innerText`)
	for _, s := range []string{"quantity must be positive", "not on the menu", "donut-orders[2]@40", "cronut"} {
		if !strings.Contains(text, s) {
			t.Errorf("letters table lacks %q", s)
		}
	}
	if to := eval[string](t, ctx, `document.querySelector('#replay-to').value`); to != "donut-orders" {
		t.Errorf("replay-to = %q, want the letters' source topic", to)
	}
	if eval[bool](t, ctx, `document.querySelector('#replay-confirm').disabled`) != true {
		t.Error("confirm is enabled before a preview")
	}
	saveToken(t, ctx, testToken)
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#replay-where"), "not on the menu"), chromedp.Click(chromedp.CSS("#replay-preview")))
	browser.WaitFor(t, ctx, "the preview", `document.querySelector('#replay-result').textContent === 'would replay 1, skip 1'`, waitUI)
	if f.letters.replayed != 0 {
		t.Fatal("the preview replayed")
	}
	browser.WaitFor(t, ctx, "confirm to be enabled", `!document.querySelector('#replay-confirm').disabled`, waitUI)
	screenshot(t, ctx, "console-deadletters.png")
	do(t, ctx, chromedp.Click(chromedp.CSS("#replay-confirm")))
	browser.WaitFor(t, ctx, "the replay", `document.querySelector('#replay-result').textContent === 'replayed 1, skipped 1'`, waitUI)

	want := []ReplayRequest{
		{From: "donut-orders-dlq", To: "donut-orders", Where: "not on the menu", DryRun: true},
		{From: "donut-orders-dlq", To: "donut-orders", Where: "not on the menu", DryRun: false},
	}
	if got := f.letters.calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("replays = %+v, want %+v", got, want)
	}
}

// TestConsoleGroupsAndTopics: the groups page shows members, assignment
// and offsets; the topics page lists the pipeline's topics.
func TestConsoleGroupsAndTopics(t *testing.T) {
	f := newFixture(t, testToken)
	f.cluster.groups["donut-orders.route"] = Group{Group: "donut-orders.route", State: "Stable",
		Members: []GroupMember{{MemberID: "m-9", ClientID: "donut-orders", Host: "/10.0.0.9", InstanceID: "host-9", Assignment: []PartitionRef{{Topic: "donut-orders-priced", Partition: 4}}}},
		Offsets: []GroupOffset{{Topic: "donut-orders-priced", Partition: 4, Committed: 17, End: 20, Lag: 3}},
	}
	f.cluster.produce("donut-orders", 0, "x")
	ctx := f.open(t, "#/groups/donut-orders")
	browser.WaitFor(t, ctx, "the group", `document.querySelector('[data-group="donut-orders.route"]')`, waitUI)
	text := eval[string](t, ctx, `document.querySelector('[data-group="donut-orders.route"]').innerText`)
	for _, s := range []string{"Stable", "m-9", "host-9", "donut-orders-priced[4]", "17", "20"} {
		if !strings.Contains(text, s) {
			t.Errorf("group section %q lacks %q", text, s)
		}
	}
	do(t, ctx, chromedp.Navigate(f.http.URL+"/#/topics/donut-orders"))
	browser.WaitFor(t, ctx, "the topics", `document.querySelector('#topics tr[data-topic="donut-orders"]')`, waitUI)
	if got := eval[string](t, ctx, `document.querySelector('#topics tr[data-topic="donut-orders"]').innerText.replace(/\s+/g, ' ')`); !strings.Contains(got, "donut-orders 2 1") {
		t.Errorf("topic row = %q, want name, 2 partitions, 1 record", got)
	}
}
