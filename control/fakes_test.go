package control

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/connectors/stdout"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
)

const testToken = "s3cret-token"

// registry is the runner's connector registry (runner/registry.go).
func registry() connectors.Registry {
	return connectors.Registry{
		Sources: []connectors.SourceSpec{generate.Spec(), file.SourceSpec(), sqlsource.Spec()},
		Sinks:   []connectors.SinkSpec{stdout.Spec(), file.SinkSpec(), sqlsink.Spec()},
	}
}

// donutOrders loads the demo pipeline as the runner would, with no
// environment (every ${VAR:-default} takes its default).
func donutOrders(t testing.TB) []*pipeline.Config {
	t.Helper()
	pipes, err := pipeline.Load([]string{"../configs/donut-orders.yaml"}, pipeline.Options{
		Kinds:  registry().Kinds(),
		Lookup: func(string) (string, bool) { return "", false },
	})
	if err != nil {
		t.Fatalf("load donut-orders: %v", err)
	}
	return pipes
}

// fakeStages is a run whose stages' counters the test moves.
type fakeStages struct {
	mu       sync.Mutex
	stages   []engine.StageStatus
	restarts []string
}

func newFakeStages(pipes []*pipeline.Config) *fakeStages {
	f := &fakeStages{}
	started := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, p := range pipes {
		add := func(name, kind, connector string, from []string, to string, group string) {
			f.stages = append(f.stages, engine.StageStatus{
				Pipeline: p.Name, Stage: name, Kind: kind, Connector: connector, Delivery: "at_least_once",
				Group: group, From: from, To: to, State: engine.StateRunning, Started: started, Lag: -1,
				Config: name + ":\n  password: [redacted]\n",
			})
		}
		for _, s := range p.Sources {
			add(s.Name, "source", s.Connector.Kind, nil, s.To, "")
		}
		for _, s := range p.Transforms {
			add(s.Name, "transform", "", s.From, s.To, s.Group)
		}
		for _, s := range p.Sinks {
			add(s.Name, "sink", s.Connector.Kind, s.From, "", s.Group)
		}
	}
	return f
}

func (f *fakeStages) Status() []engine.StageStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]engine.StageStatus, len(f.stages))
	copy(out, f.stages)
	return out
}

// update changes one stage; it fails the test for a stage it lacks.
func (f *fakeStages) update(t testing.TB, p, s string, fn func(*engine.StageStatus)) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.stages {
		if f.stages[i].Pipeline == p && f.stages[i].Stage == s {
			fn(&f.stages[i])
			return
		}
	}
	t.Fatalf("fake run has no stage %s/%s", p, s)
}

func (f *fakeStages) set(p, s string, fn func(*engine.StageStatus)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.stages {
		if f.stages[i].Pipeline == p && f.stages[i].Stage == s {
			fn(&f.stages[i])
			return nil
		}
	}
	return fmt.Errorf("stage %s/%s: %w", p, s, engine.ErrNoStage)
}

func (f *fakeStages) Pause(p, s string) error {
	return f.set(p, s, func(st *engine.StageStatus) { st.State = engine.StatePaused })
}

func (f *fakeStages) Resume(p, s string) error {
	return f.set(p, s, func(st *engine.StageStatus) { st.State = engine.StateRunning })
}

func (f *fakeStages) Restart(_ context.Context, p, s string) error {
	return f.set(p, s, func(st *engine.StageStatus) {
		st.State, st.Restarts = engine.StateStarting, st.Restarts+1
		f.restarts = append(f.restarts, p+"/"+s)
	})
}

type fakeReloader struct {
	report engine.ReloadReport
	err    error
	calls  int
}

func (f *fakeReloader) Reload(context.Context) (engine.ReloadReport, error) {
	f.calls++
	return f.report, f.err
}

// fakeCluster holds topics and records in memory.
type fakeCluster struct {
	mu      sync.Mutex
	records map[string][]Record // by topic, in offset order per partition
	groups  map[string]Group
	queries []RecordQuery
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{records: map[string][]Record{}, groups: map[string]Group{}}
}

func (c *fakeCluster) produce(topic string, partition int32, value any) Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var offset int64
	for _, r := range c.records[topic] {
		if r.Partition == partition {
			offset = r.Offset + 1
		}
	}
	r := Record{
		Topic: topic, Partition: partition, Offset: offset, Timestamp: time.Date(2025, 6, 1, 12, 0, int(offset), 0, time.UTC),
		Key: "tampa", Value: value, Headers: []Header{{Key: "priced-by", Value: "conveyor"}},
		RawKey: []byte("tampa"), RawValue: fmt.Appendf(nil, "%v", value),
	}
	c.records[topic] = append(c.records[topic], r)
	return r
}

func (c *fakeCluster) Topics(_ context.Context, names []string) ([]Topic, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Topic
	for _, name := range names {
		recs, ok := c.records[name]
		if !ok {
			continue
		}
		ends := map[int32]int64{}
		for _, r := range recs {
			ends[r.Partition] = r.Offset + 1
		}
		t := Topic{Name: name}
		for p := range int32(2) {
			t.Partitions = append(t.Partitions, TopicPartition{Partition: p, End: ends[p], Records: ends[p], Leader: 1})
			t.Records += ends[p]
		}
		out = append(out, t)
	}
	return out, nil
}

// Records serves from=beginning and from=next (the two the console uses by
// default); where "bad" is a bad expression.
func (c *fakeCluster) Records(_ context.Context, q RecordQuery) (RecordPage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, q)
	if q.Where == "bad" {
		return RecordPage{}, &QueryError{Err: fmt.Errorf("--where %q: unknown name bad", q.Where)}
	}
	recs, ok := c.records[q.Topic]
	if !ok {
		return RecordPage{}, fmt.Errorf("topic %s: %w", q.Topic, ErrNotFound)
	}
	next := map[int32]int64{0: 0, 1: 0}
	if q.From == FromEnd {
		for _, r := range recs {
			next[r.Partition] = r.Offset + 1
		}
		return RecordPage{Next: FormatNext(next)}, nil
	}
	for p, o := range q.Next {
		next[p] = o
	}
	var page RecordPage
	for _, r := range recs {
		if r.Offset < next[r.Partition] || len(page.Records) >= q.Limit {
			continue
		}
		page.Records = append(page.Records, r)
		next[r.Partition] = r.Offset + 1
	}
	sort.SliceStable(page.Records, func(i, j int) bool { return page.Records[i].Timestamp.Before(page.Records[j].Timestamp) })
	page.Next = FormatNext(next)
	return page, nil
}

func (c *fakeCluster) Groups(_ context.Context, ids []string) ([]GroupSummary, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []GroupSummary
	for _, id := range ids {
		if g, ok := c.groups[id]; ok {
			var lag int64
			for _, o := range g.Offsets {
				lag += o.Lag
			}
			out = append(out, GroupSummary{Group: id, State: g.State, Members: len(g.Members), Lag: lag})
		}
	}
	return out, nil
}

func (c *fakeCluster) Group(_ context.Context, id string) (Group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[id]
	if !ok {
		return Group{}, fmt.Errorf("group %s: %w", id, ErrNotFound)
	}
	return g, nil
}

// fakeDeadLetters keeps letters and records replays.
type fakeDeadLetters struct {
	mu       sync.Mutex
	letters  []Letter
	replays  []ReplayRequest
	replayed int
}

func (d *fakeDeadLetters) Letters(_ context.Context, _ string, limit int) ([]Letter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.letters[:min(limit, len(d.letters))], nil
}

// Replay replays the letters whose value mentions Where ("" all); a where
// of "bad" does not compile.
func (d *fakeDeadLetters) Replay(_ context.Context, r ReplayRequest) (ReplayResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replays = append(d.replays, r)
	if r.Where == "bad" {
		return ReplayResult{}, &QueryError{Err: fmt.Errorf("--where %q: unknown name bad", r.Where)}
	}
	res := ReplayResult{DryRun: r.DryRun}
	for _, l := range d.letters {
		if r.Where == "" || l.Error != nil && l.Error.Message == r.Where {
			res.Replayed++
		} else {
			res.Skipped++
		}
	}
	if !r.DryRun {
		d.replayed += res.Replayed
	}
	return res, nil
}

func (d *fakeDeadLetters) calls() []ReplayRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ReplayRequest(nil), d.replays...)
}

// fixture is a Server over fakes of the donut-orders run.
type fixture struct {
	stages   *fakeStages
	reloader *fakeReloader
	cluster  *fakeCluster
	letters  *fakeDeadLetters
	server   *Server
	http     *httptest.Server
}

func newFixture(t testing.TB, token string) *fixture {
	t.Helper()
	pipes := donutOrders(t)
	f := &fixture{
		stages:   newFakeStages(pipes),
		reloader: &fakeReloader{},
		cluster:  newFakeCluster(),
		letters:  &fakeDeadLetters{},
	}
	f.server = New(Options{
		Instance: "host-1", Version: "test", Started: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Token: token, Stages: f.stages, Reloader: f.reloader,
		Configs: pipes, Connectors: registry(),
		Cluster:     func(*pipeline.Config) (Cluster, error) { return f.cluster, nil },
		DeadLetters: func(*pipeline.Config) (DeadLetters, error) { return f.letters, nil },
	})
	f.http = httptest.NewServer(f.server)
	t.Cleanup(f.http.Close)
	return f
}

// do sends a request with an optional Bearer token.
func (f *fixture) do(t testing.TB, method, path, token, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

// runSampler runs the server's history sampler until the test ends.
func (f *fixture) runSampler(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.server.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sampler: %v", err)
		}
	})
}
