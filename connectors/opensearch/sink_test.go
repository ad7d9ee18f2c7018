package opensearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// newSink builds a sink from a YAML block with short retry waits.
func newSink(t *testing.T, block string) *Sink {
	t.Helper()
	s, err := build(block)
	if err != nil {
		t.Fatal(err)
	}
	s.retryWait = time.Millisecond
	return s
}

func build(block string) (*Sink, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(block), &n); err != nil {
		return nil, err
	}
	return New(pipeline.Connector{Node: n.Content[0], Path: "sinks.s.opensearch"}, connectors.Env{})
}

var ts = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func rec(offset int64, key string, value any) *record.Record {
	r := &record.Record{Topic: "rewards", Partition: 0, Offset: offset, Timestamp: ts, Value: value}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// writeAll does with a batch what the stage does: a record the sink refuses
// goes to on_error (here: into rejected, by its index in batch) and the rest
// is written again; any other error is retried, up to tries times.
func writeAll(t *testing.T, s *Sink, batch []*record.Record, tries int) (map[int]error, error) {
	t.Helper()
	recs := slices.Clone(batch)
	idx := make([]int, len(batch))
	for i := range idx {
		idx[i] = i
	}
	rejected := map[int]error{}
	var err error
	for range tries {
		err = s.Write(context.Background(), recs)
		var re *connectors.RecordError
		if errors.As(err, &re) {
			rejected[idx[re.Index]] = re.Err
			recs = slices.Delete(recs, re.Index, re.Index+1)
			idx = slices.Delete(idx, re.Index, re.Index+1)
			if len(recs) == 0 {
				return rejected, nil
			}
			continue
		}
		if err == nil {
			return rejected, nil
		}
	}
	return rejected, err
}

// sentCount counts how often each item (action/index/id) was sent.
func sentCount(reqs [][]string) map[string]int {
	n := map[string]int{}
	for _, r := range reqs {
		for _, it := range r {
			n[it]++
		}
	}
	return n
}

func TestMappingErrorsGoToTheirRecords(t *testing.T) {
	f := newFakeNode(t)
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards}", f.srv.URL))
	batch := []*record.Record{
		rec(0, "a", map[string]any{"points": int64(1)}),
		rec(1, "b", map[string]any{"points": "many"}), // conflicts with the mapping
		rec(2, "c", map[string]any{"points": int64(3)}),
		rec(3, "d", map[string]any{"points": true}), // conflicts too
		rec(4, "e", map[string]any{"points": int64(5)}),
	}
	rejected, err := writeAll(t, s, batch, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 2 || rejected[1] == nil || rejected[3] == nil {
		t.Fatalf("rejected %v, want records 1 and 3", rejected)
	}
	for i, err := range rejected {
		if !strings.Contains(err.Error(), "mapper_parsing_exception") || !strings.Contains(err.Error(), "[points]") {
			t.Errorf("record %d: error %q does not give the item's reason", i, err)
		}
	}
	for _, id := range []string{"a", "c", "e"} {
		if _, _, ok := f.doc("rewards", id); !ok {
			t.Errorf("document %s missing", id)
		}
	}
	// The stage wrote the batch again after each refused record: the
	// documents already written are not sent again.
	for item, n := range sentCount(f.requests()) {
		if n != 1 {
			t.Errorf("%s sent %d times, want once", item, n)
		}
	}
}

func TestRetriesOnlyFailingItems(t *testing.T) {
	f := newFakeNode(t)
	f.status = func(n int, _, _, id string) int {
		switch {
		case n == 0 && id == "b":
			return http.StatusTooManyRequests
		case n <= 1 && id == "d":
			return http.StatusServiceUnavailable
		}
		return 0
	}
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards}", f.srv.URL))
	var batch []*record.Record
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		batch = append(batch, rec(int64(i), k, map[string]any{"n": int64(i)}))
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	want := [][]string{
		{"index/rewards/a", "index/rewards/b", "index/rewards/c", "index/rewards/d", "index/rewards/e"},
		{"index/rewards/b", "index/rewards/d"},
		{"index/rewards/d"},
	}
	if fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", reqs, want)
	}
	if f.count() != 5 {
		t.Errorf("%d documents, want 5", f.count())
	}
}

func TestFailedRequestIsRetried(t *testing.T) {
	f := newFakeNode(t)
	f.reqStatus = func(n int) int {
		if n < 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards}", f.srv.URL))
	batch := []*record.Record{rec(0, "a", map[string]any{"n": int64(0)}), rec(1, "b", map[string]any{"n": int64(1)})}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got := len(f.requests()); got != 3 || f.count() != 2 {
		t.Errorf("%d requests and %d documents, want 3 and 2", got, f.count())
	}
}

// TestRetriesRunOut: when items keep failing the batch goes back to the
// stage with a plain error (nothing committed); its next Write sends only
// the items not yet done.
func TestRetriesRunOut(t *testing.T) {
	f := newFakeNode(t)
	healthy := false
	f.status = func(_ int, _, _, id string) int {
		if id == "b" && !healthy {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards, max_retries: 2}", f.srv.URL))
	batch := []*record.Record{rec(0, "a", map[string]any{"n": int64(0)}), rec(1, "b", map[string]any{"n": int64(1)})}
	err := s.Write(context.Background(), batch)
	var re *connectors.RecordError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("Write = %v, want a transient error", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q does not say what failed", err)
	}
	if got := len(f.requests()); got != 3 {
		t.Errorf("%d requests, want 3 (1 + 2 retries)", got)
	}
	f.mu.Lock()
	healthy = true
	f.mu.Unlock()
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if last := reqs[len(reqs)-1]; fmt.Sprint(last) != "[index/rewards/b]" {
		t.Errorf("the batch written again sent %v, want only b", last)
	}
	if f.count() != 2 {
		t.Errorf("%d documents, want 2", f.count())
	}
}

func TestExternalVersionConflictIsDone(t *testing.T) {
	f := newFakeNode(t)
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards, version: offset}", f.srv.URL))
	if err := s.Write(context.Background(), []*record.Record{rec(100, "u1", map[string]any{"points": int64(100)})}); err != nil {
		t.Fatal(err)
	}
	// A replay of older records after a crash: conflicts, counted as done.
	replay := []*record.Record{rec(50, "u1", map[string]any{"points": int64(50)}), rec(100, "u1", map[string]any{"points": int64(100)})}
	rejected, err := writeAll(t, s, replay, 3)
	if err != nil || len(rejected) > 0 {
		t.Fatalf("replay: rejected %v, error %v", rejected, err)
	}
	src, v, _ := f.doc("rewards", "u1")
	if src["points"] != float64(100) || v != 100 {
		t.Errorf("document %v version %d, want points 100 at version 100", src, v)
	}
	if err := s.Write(context.Background(), []*record.Record{rec(150, "u1", map[string]any{"points": int64(150)})}); err != nil {
		t.Fatal(err)
	}
	if src, v, _ := f.doc("rewards", "u1"); src["points"] != float64(150) || v != 150 {
		t.Errorf("document %v version %d, want points 150 at version 150", src, v)
	}
	// A null key cannot be versioned: on_error.
	rejected, err = writeAll(t, s, []*record.Record{rec(151, "", map[string]any{"points": int64(1)})}, 3)
	if err != nil || rejected[0] == nil {
		t.Errorf("a null key: rejected %v, error %v; want it rejected", rejected, err)
	}
}

func TestVersionConflictWithoutVersioningIsRetried(t *testing.T) {
	f := newFakeNode(t)
	f.status = func(n int, _, _, _ string) int {
		if n == 0 {
			return http.StatusConflict
		}
		return 0
	}
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards, action: upsert}", f.srv.URL))
	if err := s.Write(context.Background(), []*record.Record{rec(1, "u1", map[string]any{"a": int64(1)})}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := f.doc("rewards", "u1"); !ok || len(f.requests()) != 2 {
		t.Errorf("document written %v after %d requests, want written after 2", ok, len(f.requests()))
	}
}

func TestVersionExpression(t *testing.T) {
	f := newFakeNode(t)
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards, version: expression, version_expression: updated_ms}", f.srv.URL))
	batch := []*record.Record{
		rec(1, "u1", map[string]any{"updated_ms": int64(2000), "p": int64(2)}),
		rec(2, "u1", map[string]any{"updated_ms": int64(1000), "p": int64(1)}), // older, arriving later
		rec(3, "u2", map[string]any{"p": int64(1)}),                            // no version: on_error
	}
	rejected, err := writeAll(t, s, batch, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || rejected[2] == nil {
		t.Errorf("rejected %v, want record 2 only", rejected)
	}
	if src, v, _ := f.doc("rewards", "u1"); src["p"] != float64(2) || v != 2000 {
		t.Errorf("document %v version %d, want the newer one (p 2, version 2000)", src, v)
	}
}

func TestTombstones(t *testing.T) {
	f := newFakeNode(t)
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards, version: offset}", f.srv.URL))
	if err := s.Write(context.Background(), []*record.Record{rec(1, "u1", map[string]any{"p": int64(1)}), rec(2, "u2", map[string]any{"p": int64(1)})}); err != nil {
		t.Fatal(err)
	}
	// u1 deleted; u3 was never there (404 is done); a replayed older
	// tombstone of u2 is a conflict, done, and leaves u2.
	if err := s.Write(context.Background(), []*record.Record{rec(3, "u1", nil), rec(4, "u3", nil), rec(0, "u2", nil)}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := f.doc("rewards", "u1"); ok {
		t.Error("u1 not deleted")
	}
	if _, _, ok := f.doc("rewards", "u2"); !ok {
		t.Error("an older tombstone deleted u2")
	}

	keep := newSink(t, fmt.Sprintf("{url: %s, index: rewards, delete_on_tombstone: false}", f.srv.URL))
	before := len(f.requests())
	if err := keep.Write(context.Background(), []*record.Record{rec(5, "u2", nil)}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := f.doc("rewards", "u2"); !ok || len(f.requests()) != before {
		t.Errorf("delete_on_tombstone false: a tombstone was sent (document there: %v)", ok)
	}
}

func TestIndexExpressionAndID(t *testing.T) {
	f := newFakeNode(t)
	s := newSink(t, fmt.Sprintf(`{url: %s, index_expression: '"rewards-" + format_time(_timestamp, "2006.01.02")', id: user_id}`, f.srv.URL))
	batch := []*record.Record{
		rec(1, "ignored", map[string]any{"user_id": int64(42), "p": int64(1)}),
		rec(2, "k", map[string]any{"p": int64(1)}), // no user_id: on_error
	}
	rejected, err := writeAll(t, s, batch, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || rejected[1] == nil || !strings.Contains(rejected[1].Error(), "id") {
		t.Errorf("rejected %v, want record 1 for its id", rejected)
	}
	if _, _, ok := f.doc("rewards-2026.12.01", "42"); !ok {
		t.Errorf("no document rewards-2026.12.01/42; sent %v", f.requests())
	}
}

func TestUpsertMergesAndNullKeyIndexes(t *testing.T) {
	f := newFakeNode(t)
	up := newSink(t, fmt.Sprintf("{url: %s, index: rewards, action: upsert}", f.srv.URL))
	for _, r := range []*record.Record{rec(1, "u1", map[string]any{"a": int64(1)}), rec(2, "u1", map[string]any{"b": int64(2)})} {
		if err := up.Write(context.Background(), []*record.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	if src, _, _ := f.doc("rewards", "u1"); src["a"] != float64(1) || src["b"] != float64(2) {
		t.Errorf("upserted document %v, want a and b", src)
	}
	// A value that is not an object is the record's error.
	rejected, err := writeAll(t, up, []*record.Record{rec(3, "u2", "text")}, 3)
	if err != nil || rejected[0] == nil {
		t.Errorf("a text value: rejected %v, error %v", rejected, err)
	}

	plain := newSink(t, fmt.Sprintf("{url: %s, index: logs}", f.srv.URL))
	if err := plain.Write(context.Background(), []*record.Record{rec(4, "", []byte(`{"msg":
"raw JSON bytes"}`))}); err != nil {
		t.Fatal(err)
	}
	if src, _, ok := f.doc("logs", "auto-1"); !ok || src["msg"] != "raw JSON bytes" {
		t.Errorf("a null key with action index: %v %v, want a document under an id OpenSearch picks", src, ok)
	}
}

func TestMaxBytesSplitsRequests(t *testing.T) {
	f := newFakeNode(t)
	s := newSink(t, fmt.Sprintf("{url: %s, index: rewards, max_bytes: 1024}", f.srv.URL))
	var batch []*record.Record
	for i := range 20 {
		batch = append(batch, rec(int64(i), fmt.Sprint("k", i), map[string]any{"pad": strings.Repeat("x", 200)}))
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) < 5 {
		t.Errorf("%d requests for 20 documents of over 200 bytes at most 1024 bytes each, want 5 or more", len(reqs))
	}
	if f.count() != 20 {
		t.Errorf("%d documents, want 20", f.count())
	}
}

func TestAuthHeaders(t *testing.T) {
	f := newFakeNode(t)
	basic := newSink(t, fmt.Sprintf("{url: %s, index: rewards, username: conveyor, password: s3cret}", f.srv.URL))
	bearer := newSink(t, fmt.Sprintf("{url: %s, index: rewards, token: t0ken}", f.srv.URL))
	inURL := newSink(t, fmt.Sprintf("{url: %s, index: rewards}", strings.Replace(f.srv.URL, "http://", "http://conveyor:s3cret@", 1)))
	for _, s := range []*Sink{basic, bearer, inURL} {
		if err := s.Write(context.Background(), []*record.Record{rec(1, "u1", map[string]any{"a": int64(1)})}); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	got := f.auth
	f.mu.Unlock()
	want := []string{"Basic Y29udmV5b3I6czNjcmV0", "Bearer t0ken", "Basic Y29udmV5b3I6czNjcmV0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Authorization %q, want %q", got, want)
	}
}

// TestSecretsNotInErrors: a server that quotes the request's
// Authorization header back in its error, a node that is down and a bad
// URL must not bring the password or token into an error.
func TestSecretsNotInErrors(t *testing.T) {
	f := newFakeNode(t)
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"bad credentials %s"},"status":401}`, r.Header.Get("Authorization"))
	}
	f.srv.Config.Handler = http.HandlerFunc(echo)
	down := newFakeNode(t)
	downURL := down.srv.URL
	down.srv.Close()

	for _, block := range []string{
		fmt.Sprintf("{url: %s, index: rewards, username: conveyor, password: s3cret, max_retries: 0}", f.srv.URL),
		fmt.Sprintf("{url: %s, index: rewards, token: s3cret, max_retries: 0}", f.srv.URL),
		fmt.Sprintf("{url: %s, index: rewards, max_retries: 0}", strings.Replace(downURL, "http://", "http://conveyor:s3cret@", 1)),
	} {
		s := newSink(t, block)
		err := s.Write(context.Background(), []*record.Record{rec(1, "u1", map[string]any{"a": int64(1)})})
		if err == nil {
			t.Fatalf("%s: no error", block)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "Y29udmV5b3I6czNjcmV0") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	_, err := build("{url: 'http://conveyor:s3cret@host:port', index: rewards}")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a bad URL: error %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"{index: rewards}", "url"},
		{"{url: 'http://x:9200', urls: ['http://y:9200'], index: rewards}", "not both"},
		{"{url: 'http://x:9200'}", "index"},
		{"{url: 'http://x:9200', index: Rewards}", "not an index name"},
		{"{url: 'http://x:9200', index: rewards, index_expression: '\"a\"'}", "not both"},
		{"{url: 'http://x:9200', index: rewards, action: upsert, version: offset}", "upsert"},
		{"{url: 'http://x:9200', index: rewards, version: expression}", "version_expression"},
		{"{url: 'ftp://x', index: rewards}", "http://"},
		{"{url: 'http://x:9200', index: rewards, username: u, password: p, token: t}", "not both"},
		{"{url: 'http://x:9200', index_expression: '1 +'}", "index_expression"},
	} {
		_, err := build(tc.block)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.block, err, tc.want)
		}
	}
	if _, err := build("{urls: ['http://x:9200', 'https://y:9200'], index: rewards, version: offset}"); err != nil {
		t.Errorf("a good block: %v", err)
	}
}
