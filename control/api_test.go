package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// get reads a JSON answer into v, checking the status code.
func get[T any](t *testing.T, f *fixture, path string, wantCode int) T {
	t.Helper()
	res := f.do(t, http.MethodGet, path, "", "")
	return decode[T](t, res, wantCode)
}

func decode[T any](t *testing.T, res *http.Response, wantCode int) T {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	where := "response"
	if res.Request != nil {
		where = res.Request.Method + " " + res.Request.URL.String()
	}
	if res.StatusCode != wantCode {
		t.Fatalf("%s: status %d, want %d; body %s", where, res.StatusCode, wantCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json", where, ct)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: decode %s: %v", where, body, err)
	}
	return v
}

func TestStatus(t *testing.T) {
	f := newFixture(t, testToken)
	got := get[StatusInfo](t, f, "/api/v1/status", http.StatusOK)
	want := StatusInfo{Instance: "host-1", Version: "test", Started: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), Pipelines: []string{"donut-orders"}}
	if !equalJSON(got, want) {
		t.Errorf("status = %+v, want %+v", got, want)
	}
	ro := newFixture(t, "")
	if got := get[StatusInfo](t, ro, "/api/v1/status", http.StatusOK); !got.ReadOnly {
		t.Error("read_only = false with no token configured")
	}
}

func TestPipelines(t *testing.T) {
	f := newFixture(t, testToken)
	got := get[[]Pipeline](t, f, "/api/v1/pipelines", http.StatusOK)
	if len(got) != 1 {
		t.Fatalf("pipelines = %d, want 1", len(got))
	}
	p := got[0]
	if p.Name != "donut-orders" || p.File != "../configs/donut-orders.yaml" || p.Delivery != "at_least_once" || !p.BrokersEmbedded {
		t.Errorf("pipeline = %+v", p)
	}
	var names []string
	for _, st := range p.Stages {
		names = append(names, st.Stage)
	}
	if want := []string{"orders", "price", "route", "show-bulk", "show-rejects", "archive"}; !slices.Equal(names, want) {
		t.Errorf("stages = %v, want %v", names, want)
	}
}

func TestStages(t *testing.T) {
	f := newFixture(t, testToken)
	got := get[[]engine.StageStatus](t, f, "/api/v1/stages", http.StatusOK)
	if !equalJSON(got, f.stages.Status()) {
		t.Errorf("stages = %+v, want the run's status", got)
	}
}

// TestGraph compares the donut-orders graph with a golden file: the stages
// and topics runner plan shows, dynamic routes as writes.
func TestGraph(t *testing.T) {
	f := newFixture(t, testToken)
	res := f.do(t, http.MethodGet, "/api/v1/pipelines/donut-orders/graph", "", "")
	g := decode[Graph](t, res, http.StatusOK)
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "graph.golden.json", append(got, '\n'))

	// The route stage names the bulk topic only in its `to` step.
	route := g.Stages[slices.IndexFunc(g.Stages, func(s GraphStage) bool { return s.Name == "route" })]
	if !slices.Contains(route.Writes, GraphEdge{Topic: "donut-orders-bulk", Kind: "dynamic"}) {
		t.Errorf("route writes %v, want donut-orders-bulk (dynamic)", route.Writes)
	}
	get[errorBody](t, f, "/api/v1/pipelines/nope/graph", http.StatusNotFound)
}

func TestStageDetail(t *testing.T) {
	f := newFixture(t, testToken)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f.server.history.sample(t0, f.stages.Status())
	f.stages.update(t, "donut-orders", "price", func(s *engine.StageStatus) { s.In, s.Out, s.Lag = 20, 18, 4 })
	f.server.history.sample(t0.Add(2*time.Second), f.stages.Status())

	got := get[StageDetail](t, f, "/api/v1/pipelines/donut-orders/stages/price", http.StatusOK)
	if got.Status.Stage != "price" || got.Status.In != 20 || got.Status.Config == "" {
		t.Errorf("status = %+v", got.Status)
	}
	want := []Sample{{Time: t0.Add(2 * time.Second), InPerS: 10, OutPerS: 9, Lag: 4}}
	if !equalJSON(got.History, want) {
		t.Errorf("history = %+v, want %+v", got.History, want)
	}
	for _, path := range []string{"/api/v1/pipelines/donut-orders/stages/nope", "/api/v1/pipelines/nope/stages/price"} {
		e := get[errorBody](t, f, path, http.StatusNotFound)
		if !strings.Contains(e.Error, "no such stage") {
			t.Errorf("%s: error %q", path, e.Error)
		}
	}
}

func TestStageControl(t *testing.T) {
	f := newFixture(t, testToken)
	post := func(path string, code int) engine.StageStatus {
		t.Helper()
		return decode[engine.StageStatus](t, f.do(t, http.MethodPost, path, testToken, ""), code)
	}
	if st := post("/api/v1/pipelines/donut-orders/stages/price/pause", http.StatusOK); st.State != engine.StatePaused || st.Stage != "price" {
		t.Errorf("after pause: %+v", st)
	}
	if st := post("/api/v1/pipelines/donut-orders/stages/price/resume", http.StatusOK); st.State != engine.StateRunning {
		t.Errorf("after resume: %+v", st)
	}
	if st := post("/api/v1/pipelines/donut-orders/stages/route/restart", http.StatusAccepted); st.Restarts != 1 || st.State != engine.StateStarting {
		t.Errorf("after restart: %+v", st)
	}
	if !slices.Equal(f.stages.restarts, []string{"donut-orders/route"}) {
		t.Errorf("restarts = %v", f.stages.restarts)
	}
	for _, action := range []string{"pause", "resume", "restart"} {
		res := f.do(t, http.MethodPost, "/api/v1/pipelines/donut-orders/stages/nope/"+action, testToken, "")
		if e := decode[errorBody](t, res, http.StatusNotFound); !strings.Contains(e.Error, "no such stage") {
			t.Errorf("%s unknown stage: %q", action, e.Error)
		}
	}
}

// TestAuth: every POST needs the token; no reads do.
func TestAuth(t *testing.T) {
	posts := []struct {
		path, body string
		ok         int
	}{
		{"/api/v1/pipelines/donut-orders/stages/price/pause", "", http.StatusOK},
		{"/api/v1/pipelines/donut-orders/stages/price/resume", "", http.StatusOK},
		{"/api/v1/pipelines/donut-orders/stages/price/restart", "", http.StatusAccepted},
		{"/api/v1/reload", "", http.StatusOK},
		{"/api/v1/pipelines/donut-orders/deadletters/donut-orders-dlq/replay", `{"to":"donut-orders","dry_run":true}`, http.StatusOK},
	}
	readOnly := newFixture(t, "")
	f := newFixture(t, testToken)
	for _, p := range posts {
		t.Run(p.path, func(t *testing.T) {
			e := decode[errorBody](t, readOnly.do(t, http.MethodPost, p.path, testToken, p.body), http.StatusForbidden)
			if !strings.Contains(e.Error, "read-only") || !strings.Contains(e.Error, TokenEnv) {
				t.Errorf("no token configured: %q, want read-only naming %s", e.Error, TokenEnv)
			}
			for _, tok := range []string{"", "wrong", testToken + "x", strings.ToUpper(testToken)} {
				res := f.do(t, http.MethodPost, p.path, tok, p.body)
				decode[errorBody](t, res, http.StatusUnauthorized)
				if res.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
			// A token sent another way than Bearer does not count.
			req, _ := http.NewRequest(http.MethodPost, f.http.URL+p.path, strings.NewReader(p.body))
			req.Header.Set("Authorization", "Basic "+testToken)
			res, err := f.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("Basic auth: %d, want 401", res.StatusCode)
			}
			if res := f.do(t, http.MethodPost, p.path, testToken, p.body); res.StatusCode != p.ok {
				b, _ := io.ReadAll(res.Body)
				t.Errorf("right token: %d %s, want %d", res.StatusCode, b, p.ok)
			}
		})
	}
	// Reads are open even on a runner with a token.
	for _, path := range []string{"/api/v1/status", "/api/v1/pipelines", "/api/v1/stages", "/api/v1/pipelines/donut-orders/topics"} {
		if res := f.do(t, http.MethodGet, path, "", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %d", path, res.StatusCode)
		}
	}
	// SetToken takes effect at once.
	f.server.SetToken("rotated")
	if res := f.do(t, http.MethodPost, posts[0].path, testToken, ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("old token after SetToken: %d, want 401", res.StatusCode)
	}
	if res := f.do(t, http.MethodPost, posts[0].path, "rotated", ""); res.StatusCode != http.StatusOK {
		t.Errorf("new token after SetToken: %d, want 200", res.StatusCode)
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t, testToken)
	f.reloader.report = engine.ReloadReport{Unchanged: []string{"donut-orders/orders"}, Restarted: []string{"donut-orders/price"}, Added: []string{}, Removed: []string{}}
	got := decode[engine.ReloadReport](t, f.do(t, http.MethodPost, "/api/v1/reload", testToken, ""), http.StatusOK)
	if !equalJSON(got, f.reloader.report) {
		t.Errorf("report = %+v", got)
	}

	invalid := []string{"configs/donut-orders.yaml:12:3: transforms.price.to: unknown key \"tx\""}
	f.reloader.err = &InvalidConfig{Errors: invalid}
	e := decode[errorBody](t, f.do(t, http.MethodPost, "/api/v1/reload", testToken, ""), http.StatusUnprocessableEntity)
	if !slices.Equal(e.Errors, invalid) || !strings.Contains(e.Error, "unchanged") {
		t.Errorf("422 body = %+v", e)
	}
	f.reloader.err = errors.New("broker gone")
	decode[errorBody](t, f.do(t, http.MethodPost, "/api/v1/reload", testToken, ""), http.StatusInternalServerError)

	f.server.opts.Reloader = nil
	decode[errorBody](t, f.do(t, http.MethodPost, "/api/v1/reload", testToken, ""), http.StatusServiceUnavailable)
}

func TestTopics(t *testing.T) {
	f := newFixture(t, testToken)
	f.cluster.produce("donut-orders", 0, map[string]any{"qty": 1})
	f.cluster.produce("donut-orders", 1, map[string]any{"qty": 2})
	f.cluster.produce("donut-orders", 1, map[string]any{"qty": 3})
	f.cluster.produce("some-other-pipelines-topic", 0, "x")
	got := get[[]Topic](t, f, "/api/v1/pipelines/donut-orders/topics", http.StatusOK)
	want := []Topic{{Name: "donut-orders", Records: 3, Partitions: []TopicPartition{
		{Partition: 0, End: 1, Records: 1, Leader: 1}, {Partition: 1, End: 2, Records: 2, Leader: 1},
	}}}
	if !equalJSON(got, want) {
		t.Errorf("topics = %+v, want %+v", got, want)
	}
	get[errorBody](t, f, "/api/v1/pipelines/nope/topics", http.StatusNotFound)
}

func TestRecords(t *testing.T) {
	f := newFixture(t, testToken)
	first := f.cluster.produce("donut-orders", 0, map[string]any{"qty": 1.0})
	f.cluster.produce("donut-orders", 1, map[string]any{"qty": 2.0})
	base := "/api/v1/pipelines/donut-orders/topics/donut-orders/records"

	page := get[RecordPage](t, f, base+"?from=beginning&limit=1", http.StatusOK)
	if len(page.Records) != 1 || page.Next != "0=1,1=0" {
		t.Fatalf("page = %+v", page)
	}
	r := page.Records[0]
	if r.RawKey != nil || r.RawValue != nil || !equalJSON(r.Value, first.Value) || r.Key != "tampa" || len(r.Headers) != 1 {
		t.Errorf("record = %+v (raw bytes must not show without raw=true)", r)
	}
	// Following: from=next resumes after what was read.
	page = get[RecordPage](t, f, base+"?from=next:"+page.Next, http.StatusOK)
	if len(page.Records) != 1 || page.Records[0].Partition != 1 || page.Next != "0=1,1=1" {
		t.Errorf("next page = %+v", page)
	}
	page = get[RecordPage](t, f, base+"?from=beginning&raw=true&limit=1", http.StatusOK)
	if string(page.Records[0].RawKey) != "tampa" {
		t.Errorf("raw key = %q, want tampa", page.Records[0].RawKey)
	}

	// What the API hands the cluster for each from.
	queries := map[string]RecordQuery{
		"?from=end":                              {From: FromEnd, Limit: defaultLimit},
		"":                                       {From: FromEnd, Limit: defaultLimit},
		"?from=offset:42&partition=1&limit=5":    {From: FromOffset, Offset: 42, Partition: ptr(int32(1)), Limit: 5},
		"?from=time:2025-06-01T12:00:00Z":        {From: FromTime, Time: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), Limit: defaultLimit},
		"?from=next:0=3,5=9&where=qty%20%3E%201": {From: FromNext, Next: map[int32]int64{0: 3, 5: 9}, Where: "qty > 1", Limit: defaultLimit},
	}
	for params, want := range queries {
		f.cluster.queries = nil
		get[RecordPage](t, f, base+params, http.StatusOK)
		want.Topic = "donut-orders"
		if len(f.cluster.queries) != 1 || !equalJSON(f.cluster.queries[0], want) {
			t.Errorf("%q: query %+v, want %+v", params, f.cluster.queries, want)
		}
	}

	for _, params := range []string{
		"?from=middle", "?from=offset:x", "?from=offset:-1", "?from=time:yesterday", "?from=next:0", "?from=next:a=1",
		"?from=beginning:3", "?limit=0", "?limit=1001", "?limit=x", "?partition=-1", "?partition=a", "?raw=maybe",
		"?where=bad",
	} {
		e := get[errorBody](t, f, base+params, http.StatusBadRequest)
		if e.Error == "" {
			t.Errorf("%s: empty error", params)
		}
	}
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/topics/not-ours/records", http.StatusNotFound)
	// A topic of the pipeline the cluster does not have (not created yet).
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/topics/donut-orders-bulk/records", http.StatusNotFound)
}

func TestGroups(t *testing.T) {
	f := newFixture(t, testToken)
	f.cluster.groups["donut-orders.price"] = Group{
		Group: "donut-orders.price", State: "Stable",
		Members: []GroupMember{{MemberID: "m-1", ClientID: "donut-orders", Host: "/10.0.0.7", InstanceID: "host-1",
			Assignment: []PartitionRef{{Topic: "donut-orders", Partition: 0}}}},
		Offsets: []GroupOffset{{Topic: "donut-orders", Partition: 0, Committed: 10, End: 15, Lag: 5}},
	}
	f.cluster.groups["elsewhere"] = Group{Group: "elsewhere"}

	list := get[[]GroupSummary](t, f, "/api/v1/pipelines/donut-orders/groups", http.StatusOK)
	if want := []GroupSummary{{Group: "donut-orders.price", State: "Stable", Members: 1, Lag: 5}}; !equalJSON(list, want) {
		t.Errorf("groups = %+v, want %+v", list, want)
	}
	g := get[Group](t, f, "/api/v1/pipelines/donut-orders/groups/donut-orders.price", http.StatusOK)
	if !equalJSON(g, f.cluster.groups["donut-orders.price"]) {
		t.Errorf("group = %+v", g)
	}
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/groups/elsewhere", http.StatusNotFound)
	// A group of the pipeline that the cluster does not know yet.
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/groups/donut-orders.route", http.StatusNotFound)
}

func TestDeadLetters(t *testing.T) {
	f := newFixture(t, testToken)
	part, off := int32(3), int64(77)
	f.letters.letters = []Letter{
		{Partition: 0, Offset: 0, Value: map[string]any{"qty": -1.0}, Headers: []Header{{Key: "conveyor.error.message", Value: "quantity must be positive"}},
			Error: &LetterError{Pipeline: "donut-orders", Stage: "price", Step: "assert", Message: "quantity must be positive", Topic: "donut-orders", Partition: &part, Offset: &off}},
		{Partition: 0, Offset: 1, Value: map[string]any{"donut": "cronut"},
			Error: &LetterError{Pipeline: "donut-orders", Stage: "price", Step: "assert", Message: "not on the menu", Topic: "donut-orders"}},
	}
	f.cluster.produce("donut-orders-dlq", 0, "a")
	f.cluster.produce("donut-orders-dlq", 0, "b")

	topics := get[[]DeadLetterTopic](t, f, "/api/v1/pipelines/donut-orders/deadletters", http.StatusOK)
	if want := []DeadLetterTopic{{Topic: "donut-orders-dlq", Stages: []string{"price"}, Records: 2}}; !equalJSON(topics, want) {
		t.Errorf("dead-letter topics = %+v, want %+v", topics, want)
	}
	letters := get[[]Letter](t, f, "/api/v1/pipelines/donut-orders/deadletters/donut-orders-dlq?limit=1", http.StatusOK)
	if !equalJSON(letters, []Letter{{Partition: 0, Offset: 0, Value: map[string]any{"qty": -1.0}, Headers: f.letters.letters[0].Headers, Error: f.letters.letters[0].Error}}) {
		t.Errorf("letters = %+v", letters)
	}
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/deadletters/donut-orders?limit=1", http.StatusNotFound)
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/deadletters/donut-orders-dlq?limit=-3", http.StatusBadRequest)

	replay := "/api/v1/pipelines/donut-orders/deadletters/donut-orders-dlq/replay"
	res := decode[ReplayResult](t, f.do(t, http.MethodPost, replay, testToken, `{"to":"donut-orders","where":"not on the menu","dry_run":true}`), http.StatusOK)
	if res != (ReplayResult{Replayed: 1, Skipped: 1, DryRun: true}) {
		t.Errorf("dry run = %+v", res)
	}
	res = decode[ReplayResult](t, f.do(t, http.MethodPost, replay, testToken, `{"to":"donut-orders","group":"g"}`), http.StatusOK)
	if res != (ReplayResult{Replayed: 2}) {
		t.Errorf("replay = %+v", res)
	}
	want := []ReplayRequest{
		{From: "donut-orders-dlq", To: "donut-orders", Where: "not on the menu", DryRun: true},
		{From: "donut-orders-dlq", To: "donut-orders", Group: "g"},
	}
	if got := f.letters.calls(); !slices.Equal(got, want) {
		t.Errorf("replays = %+v, want %+v", got, want)
	}
	for _, body := range []string{"", `{"where":"x"}`, `{"to":"t","dryrun":true}`, `{"to":`, `{"to":"donut-orders","where":"bad"}`} {
		decode[errorBody](t, f.do(t, http.MethodPost, replay, testToken, body), http.StatusBadRequest)
	}
	decode[errorBody](t, f.do(t, http.MethodPost, "/api/v1/pipelines/donut-orders/deadletters/donut-orders/replay", testToken, `{"to":"x"}`), http.StatusNotFound)
}

func TestUnknownRoutes(t *testing.T) {
	f := newFixture(t, testToken)
	for _, path := range []string{"/api/v1/nope", "/api/v2/status", "/api/v1/pipelines/donut-orders/nope"} {
		get[errorBody](t, f, path, http.StatusNotFound)
	}
	if res := f.do(t, http.MethodGet, "/api/v1/reload", "", ""); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/v1/reload: %d, want 405", res.StatusCode)
	}
}

func TestConsoleServed(t *testing.T) {
	f := newFixture(t, testToken)
	for path, want := range map[string]string{"/": `<script src="app.js"`, "/app.js": "hashchange", "/style.css": ".node"} {
		res := f.do(t, http.MethodGet, path, "", "")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET %s: %d, body lacks %q", path, res.StatusCode, want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

// TestNoSecrets: broker settings never show, whatever the route.
func TestNoSecrets(t *testing.T) {
	f := newFixture(t, testToken)
	pipes := donutOrders(t)
	pipes[0].Kafka.Config["sasl.password"] = "hunter2-broker-secret"
	pipes[0].Kafka.Brokers = "broker-host-secret:9092"
	f.server.SetConfigs(pipes)
	f.cluster.produce("donut-orders", 0, "x")
	for _, path := range []string{
		"/api/v1/status", "/api/v1/pipelines", "/api/v1/stages", "/api/v1/pipelines/donut-orders/graph",
		"/api/v1/pipelines/donut-orders/stages/price", "/api/v1/pipelines/donut-orders/topics",
		"/api/v1/pipelines/donut-orders/deadletters", "/api/v1/pipelines/donut-orders/groups",
	} {
		res := f.do(t, http.MethodGet, path, "", "")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
		for _, secret := range []string{"hunter2", "broker-host-secret", testToken} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("GET %s shows %q: %s", path, secret, body)
			}
		}
	}
}

// TestSetConfigsConcurrent: reloads replace the pipelines while requests
// run (go test -race).
func TestSetConfigsConcurrent(t *testing.T) {
	f := newFixture(t, testToken)
	pipes := donutOrders(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20 {
			f.server.SetConfigs(pipes)
			f.server.SetToken(testToken)
		}
	})
	for range 20 {
		get[Graph](t, f, "/api/v1/pipelines/donut-orders/graph", http.StatusOK)
		get[[]Pipeline](t, f, "/api/v1/pipelines", http.StatusOK)
	}
	wg.Wait()
	// After a reload that drops the pipeline, it is gone.
	f.server.SetConfigs(nil)
	get[errorBody](t, f, "/api/v1/pipelines/donut-orders/graph", http.StatusNotFound)
	if got := get[StatusInfo](t, f, "/api/v1/status", http.StatusOK); len(got.Pipelines) != 0 {
		t.Errorf("pipelines after SetConfigs(nil) = %v", got.Pipelines)
	}
}

func ptr[T any](v T) *T { return &v }

// equalJSON compares two values as the API would show them.
func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}

// TestDocsAPI: docs/api.md has a section for every route.
func TestDocsAPI(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Stages: &fakeStages{}, Connectors: registry()})
	if len(s.api) < 16 {
		t.Fatalf("only %d routes", len(s.api))
	}
	for _, route := range s.api {
		if !bytes.Contains(doc, []byte("### `"+route+"`")) {
			t.Errorf("docs/api.md lacks a section \"### `%s`\"", route)
		}
	}
}
