package httpsink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// newSink builds a sink from a YAML block.
func newSink(t *testing.T, block string) *Sink {
	t.Helper()
	s, err := build(block)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func build(block string) (*Sink, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(block), &n); err != nil {
		return nil, err
	}
	return New(pipeline.Connector{Node: n.Content[0], Path: "sinks.out.http"}, connectors.Env{})
}

// recs makes n records with values {"id": i, "name": "user-i"}.
func recs(n int) []*record.Record {
	out := make([]*record.Record, n)
	for i := range out {
		out[i] = &record.Record{Topic: "users", Offset: int64(i), Key: fmt.Appendf(nil, "k%d", i),
			Value: map[string]any{"id": int64(i), "name": fmt.Sprintf("user-%d", i)}}
	}
	return out
}

// writeAll writes batch as the engine does: a record rejected for good is
// taken out (as on_error would) and the rest written again. It returns the
// rejections by record id and the last error.
func writeAll(ctx context.Context, s *Sink, batch []*record.Record) (map[int64]error, error) {
	rejected := map[int64]error{}
	batch = append([]*record.Record(nil), batch...)
	for {
		err := s.Write(ctx, batch)
		var re *connectors.RecordError
		if !errors.As(err, &re) {
			return rejected, err
		}
		rejected[batch[re.Index].Value.(map[string]any)["id"].(int64)] = re.Err
		batch = append(batch[:re.Index], batch[re.Index+1:]...)
		if len(batch) == 0 {
			return rejected, nil
		}
	}
}

// server is a test endpoint that records what reaches it; handle decides
// the answer (nil: 200).
type server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
	handle   func(w http.ResponseWriter, r *http.Request, body []byte) bool // true: answered
}

type seen struct {
	method, path string
	header       http.Header
	body         []byte
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte) bool) *server {
	s := &server{handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, seen{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		if s.handle != nil && s.handle(w, r, body) {
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.requests...)
}

// ids lists the record ids in a request body of any format.
func ids(t *testing.T, body []byte) []int64 {
	t.Helper()
	var out []int64
	add := func(b []byte) {
		var v struct{ ID int64 }
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		out = append(out, v.ID)
	}
	switch {
	case bytes.HasPrefix(body, []byte("[")):
		var arr []json.RawMessage
		if err := json.Unmarshal(body, &arr); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		for _, b := range arr {
			add(b)
		}
	default:
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			add(sc.Bytes())
		}
	}
	return out
}

// deliveries counts how often each id reached the server with a 2xx
// answer, given which attempts failed.
func count(t *testing.T, reqs []seen) map[int64]int {
	n := map[int64]int{}
	for _, r := range reqs {
		for _, id := range ids(t, r.body) {
			n[id]++
		}
	}
	return n
}

func TestSingleRequestsWithTemplatedURLHeadersAndBearer(t *testing.T) {
	srv := newServer(t, nil)
	s := newSink(t, fmt.Sprintf(`
url_expr: '%q + "/users/" + to_string(id)'
method: PUT
auth: bearer
bearer_token: tok-123456
headers: {X-Source: conveyor}
headers_expr: {X-Key: _key, X-None: missing_field}
`, srv.URL))
	if err := s.Write(context.Background(), recs(3)); err != nil {
		t.Fatal(err)
	}
	got := srv.seen()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	paths := map[string]bool{}
	for _, r := range got {
		paths[r.path] = true
		id := ids(t, r.body)[0]
		if r.method != http.MethodPut {
			t.Errorf("method %s", r.method)
		}
		if r.path != fmt.Sprintf("/users/%d", id) {
			t.Errorf("path %s for id %d", r.path, id)
		}
		if h := r.header.Get("Authorization"); h != "Bearer tok-123456" {
			t.Errorf("Authorization %q", h)
		}
		if h := r.header.Get("X-Source"); h != "conveyor" {
			t.Errorf("X-Source %q", h)
		}
		if h := r.header.Get("X-Key"); h != fmt.Sprintf("k%d", id) {
			t.Errorf("X-Key %q for id %d", h, id)
		}
		if _, ok := r.header["X-None"]; ok {
			t.Errorf("a null header was sent")
		}
		if h := r.header.Get("Content-Type"); h != "application/json" {
			t.Errorf("Content-Type %q", h)
		}
		if want := fmt.Sprintf(`{"id":%d,"name":"user-%d"}`, id, id); string(r.body) != want {
			t.Errorf("body %s, want %s", r.body, want)
		}
	}
	if len(paths) != 3 {
		t.Errorf("paths %v, want 3 distinct", paths)
	}
}

func TestBasicAuth(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if u, p, ok := r.BasicAuth(); !ok || u != "ann" || p != "pw-secret-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	s := newSink(t, "{url: "+srv.URL+", auth: basic, username: ann, password: pw-secret-1}")
	if err := s.Write(context.Background(), recs(2)); err != nil {
		t.Fatal(err)
	}
}

func TestBatchedBodies(t *testing.T) {
	for _, tc := range []struct{ body, contentType string }{
		{"json_array", "application/json"},
		{"ndjson", "application/x-ndjson"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			srv := newServer(t, nil)
			s := newSink(t, fmt.Sprintf("{url: %s/bulk, body: %s, batch_size: 3}", srv.URL, tc.body))
			if err := s.Write(context.Background(), recs(7)); err != nil {
				t.Fatal(err)
			}
			got := srv.seen()
			var sizes []int
			n := count(t, got)
			for _, r := range got {
				sizes = append(sizes, len(ids(t, r.body)))
				if h := r.header.Get("Content-Type"); h != tc.contentType {
					t.Errorf("Content-Type %q", h)
				}
				if r.path != "/bulk" || r.method != http.MethodPost {
					t.Errorf("%s %s", r.method, r.path)
				}
			}
			if len(got) != 3 {
				t.Errorf("request sizes %v, want 3 requests (3, 3, 1)", sizes)
			}
			for id := range int64(7) {
				if n[id] != 1 {
					t.Errorf("id %d sent %d times", id, n[id])
				}
			}
		})
	}
}

func TestBatchBytesAndGroupingByURL(t *testing.T) {
	srv := newServer(t, nil)
	// Each value is 26 bytes or so: 60 bytes hold two.
	s := newSink(t, fmt.Sprintf(`{url_expr: '%q + "/g" + to_string(id %% 2)', body: ndjson, batch_size: 100, batch_bytes: 60}`, srv.URL))
	if err := s.Write(context.Background(), recs(8)); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.seen() {
		got := ids(t, r.body)
		if len(got) > 2 {
			t.Errorf("request with %d records over batch_bytes", len(got))
		}
		for _, id := range got {
			if r.path != fmt.Sprintf("/g%d", id%2) {
				t.Errorf("id %d sent to %s", id, r.path)
			}
		}
	}
	if n := len(srv.seen()); n != 4 {
		t.Errorf("%d requests, want 4 (two URLs, two records each)", n)
	}
}

func TestRetries5xxAndTimeouts(t *testing.T) {
	var attempts sync.Map // id -> *atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, body []byte) bool {
		id := ids(t, body)[0]
		c, _ := attempts.LoadOrStore(id, new(atomic.Int32))
		switch c.(*atomic.Int32).Add(1) {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
			return true
		case 2:
			time.Sleep(time.Second) // beyond the timeout
		}
		return false
	})
	s := newSink(t, "{url: "+srv.URL+", timeout: 250ms, retry_initial: 1ms, retry_max: 5ms, max_retries: 3}")
	if err := s.Write(context.Background(), recs(5)); err != nil {
		t.Fatal(err)
	}
	for id := range int64(5) {
		c, _ := attempts.Load(id)
		if n := c.(*atomic.Int32).Load(); n != 3 {
			t.Errorf("id %d: %d attempts, want 3 (500, timeout, 200)", id, n)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var first atomic.Bool
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
		if !first.Swap(true) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	s := newSink(t, "{url: "+srv.URL+", retry_initial: 1ms, retry_max: 2ms}")
	start := time.Now()
	if err := s.Write(context.Background(), recs(1)); err != nil {
		t.Fatal(err)
	}
	// The backoff alone would retry within 2ms.
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before the 1s Retry-After", waited)
	}
	if n := len(srv.seen()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 0 ":                           0,
		"-4":                            0,
		"soon":                          0,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 09:00:00 GMT": 0, // past
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRejectedRecordsGoToOnErrorAlone(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, body []byte) bool {
		if id := ids(t, body)[0]; id == 2 || id == 4 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"user %d: name taken"}`, id)
			return true
		}
		return false
	})
	s := newSink(t, "{url: "+srv.URL+"/users}")
	rejected, err := writeAll(context.Background(), s, recs(6))
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 2 {
		t.Fatalf("rejected %v, want ids 2 and 4", rejected)
	}
	for _, id := range []int64{2, 4} {
		msg := fmt.Sprint(rejected[id])
		for _, want := range []string{"400 Bad Request", fmt.Sprintf(`user %d: name taken`, id), "POST " + srv.URL + "/users"} {
			if !strings.Contains(msg, want) {
				t.Errorf("id %d: error %q lacks %q", id, msg, want)
			}
		}
	}
	// Each record reached the server once: the engine's writes after a
	// rejection send none again.
	for id, n := range count(t, srv.seen()) {
		if n != 1 {
			t.Errorf("id %d sent %d times", id, n)
		}
	}
}

func TestRejectedBatchRejectsItsRecords(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, body []byte) bool {
		for _, id := range ids(t, body) {
			if id == 3 {
				http.Error(w, "bad batch", http.StatusUnprocessableEntity)
				return true
			}
		}
		return false
	})
	s := newSink(t, "{url: "+srv.URL+", body: json_array, batch_size: 2}")
	rejected, err := writeAll(context.Background(), s, recs(6))
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 2 || rejected[2] == nil || rejected[3] == nil {
		t.Fatalf("rejected %v, want ids 2 and 3 (the request holding 3)", rejected)
	}
	if !strings.Contains(rejected[2].Error(), "422") {
		t.Errorf("error %v", rejected[2])
	}
	if got := len(srv.seen()); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

func TestRetriesExhaustedFailTheWriteAndResumeWithoutDuplicates(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, body []byte) bool {
		if id := ids(t, body)[0]; id == 1 && down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	})
	s := newSink(t, "{url: "+srv.URL+", max_retries: 2, retry_initial: 1ms, retry_max: 2ms}")
	batch := recs(4)
	err := s.Write(context.Background(), batch)
	var re *connectors.RecordError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("Write = %v, want a transient error", err)
	}
	if !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "1 of 4 requests") {
		t.Errorf("error %q", err)
	}
	if n := count(t, srv.seen())[1]; n != 3 {
		t.Errorf("id 1 tried %d times, want 3 (max_retries 2)", n)
	}
	down.Store(false)
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	n := count(t, srv.seen())
	for id := range int64(4) {
		want := 1
		if id == 1 {
			want = 4
		}
		if n[id] != want {
			t.Errorf("id %d sent %d times, want %d", id, n[id], want)
		}
	}
}

func TestMaxInFlight(t *testing.T) {
	const limit = 3
	var cur, peak atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request, []byte) bool {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		// Hold the request until the limit is reached, or a while: a
		// sink that sends more at once shows a higher peak.
		deadline := time.Now().Add(200 * time.Millisecond)
		for cur.Load() < limit+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return false
	})
	s := newSink(t, fmt.Sprintf("{url: %s, max_in_flight: %d}", srv.URL, limit))
	if err := s.Write(context.Background(), recs(12)); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != limit {
		t.Errorf("peak of %d concurrent requests, want %d", p, limit)
	}
}

func TestSecretsRedacted(t *testing.T) {
	const token = "tok-very-secret-42"
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "denied for %s and %s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		return true
	})
	s := newSink(t, fmt.Sprintf("{url: '%s/x?api_key=%s', auth: bearer, bearer_token: %s, headers: {X-Api-Key: apikey-hidden-7}}", srv.URL, token, token))
	rejected, err := writeAll(context.Background(), s, recs(1))
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprint(rejected[0])
	if !strings.Contains(msg, "403") || !strings.Contains(msg, "denied for") || !strings.Contains(msg, "/x?api_key=[redacted]") {
		t.Fatalf("error %q", msg)
	}
	for _, secret := range []string{token, "apikey-hidden-7"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q shows %q", msg, secret)
		}
	}

	// A network error names the URL: without its query or password.
	srv.Close()
	s = newSink(t, fmt.Sprintf("{url: 'http://user:pw-hidden-9@%s/x?token=%s', max_retries: 0}", srv.Listener.Addr(), token))
	err = s.Write(context.Background(), recs(1))
	if err == nil {
		t.Fatal("Write to a closed server succeeded")
	}
	for _, secret := range []string{token, "pw-hidden-9"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows %q", err, secret)
		}
	}
}

func TestWriteStopsWithContext(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	s := newSink(t, "{url: "+srv.URL+", max_retries: 1000, retry_initial: 10ms, retry_max: 20ms}")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Write(ctx, recs(3)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Write = %v, want the context's error", err)
	}
}

func TestBadURLFromRecordIsRejected(t *testing.T) {
	srv := newServer(t, nil)
	s := newSink(t, fmt.Sprintf(`{url_expr: 'id == 1 ? "not a url" : %q'}`, srv.URL))
	rejected, err := writeAll(context.Background(), s, recs(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || !strings.Contains(fmt.Sprint(rejected[1]), "url_expr") {
		t.Errorf("rejected %v, want id 1 for its URL", rejected)
	}
	if n := len(srv.seen()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for block, want := range map[string]string{
		"{method: POST}": "set url",
		"{url: http://a, url_expr: '\"http://b\"'}": "not both",
		"{url: ftp://a}":                "http://",
		"{url: http://a, auth: bearer}": "needs bearer_token",
		"{url: http://a, auth: basic}":  "needs username",
		"{url: http://a, password: x}":  "auth is none",
		"{url: http://a, auth: bearer, bearer_token: t, headers: {Authorization: x}}": "Authorization",
		"{url: http://a, max_in_flight: 0}":                                           "at least 1",
		"{url: http://a, method: GET}":                                                "method",
		"{url: http://a, body: xml}":                                                  "body",
		"{url_expr: 'upper('}":                                                        "url_expr",
		"{url: http://a, retry_initial: 1s, retry_max: 10ms}":                         "retry_max",
	} {
		_, err := build(block)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", block, err, want)
		}
	}
	if _, err := build("{url: 'http://a', auth: basic, username: u, password: p}"); err != nil {
		t.Errorf("valid block: %v", err)
	}
}
