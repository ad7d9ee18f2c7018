package serde

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/record"
)

const (
	testUser     = "alice"
	testPassword = "s3cr3t-pa55word"
)

// fakeRegistry speaks the parts of the Confluent REST API the client uses,
// requires basic auth, and can be made unavailable. It echoes the
// credentials in its 422 errors, as a careless proxy might, to show they
// are redacted.
type fakeRegistry struct {
	mu       sync.Mutex
	down     int    // HTTP status while unavailable, 0 when up
	downBody string // the body sent meanwhile
	auth     string // the Authorization header to require
	schemas  map[int]fakeSchema
	subjects map[string][]int // subject -> ids, by version
	nextID   int
	level    map[string]string // "" is the global level
	requests int
	compat   bool // what the compatibility test answers
	// noAllVersions makes the test against all versions a 404, as a
	// registry without it; tested records the versions tested against.
	noAllVersions bool
	tested        []string
}

type fakeSchema struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{
		auth:     "Basic " + basicAuth(testUser, testPassword),
		schemas:  map[int]fakeSchema{},
		subjects: map[string][]int{},
		nextID:   100,
		level:    map[string]string{"": "NONE"},
		compat:   true,
	}
}

func basicAuth(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
}

func (f *fakeRegistry) setDown(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.downBody = status, body
}

var (
	reSchemaID = regexp.MustCompile(`^/schemas/ids/(\d+)$`)
	reVersions = regexp.MustCompile(`^/subjects/([^/]+)/versions(?:/(latest|\d+))?$`)
	reConfig   = regexp.MustCompile(`^/config(?:/([^/]+))?$`)
	reCompat   = regexp.MustCompile(`^/compatibility/subjects/([^/]+)/versions(?:/(\d+))?$`)
)

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.down != 0 {
		w.WriteHeader(f.down)
		_, _ = w.Write([]byte(f.downBody))
		return
	}
	fail := func(status, code int, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
	}
	if got := r.Header.Get("Authorization"); got != f.auth {
		fail(401, 40101, "unauthorized")
		return
	}
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	path := strings.TrimPrefix(r.URL.Path, "/apis/ccompat/v7")
	switch m := []string(nil); {
	case r.Method == "GET" && reSchemaID.MatchString(path):
		m = reSchemaID.FindStringSubmatch(path)
		id, _ := strconv.Atoi(m[1])
		s, ok := f.schemas[id]
		if !ok {
			fail(404, 40403, "Schema "+m[1]+" not found")
			return
		}
		reply(s)
	case reVersions.MatchString(path):
		m = reVersions.FindStringSubmatch(path)
		subject, version := m[1], m[2]
		ids := f.subjects[subject]
		switch {
		case r.Method == "POST" && version == "":
			var s fakeSchema
			if err := json.NewDecoder(r.Body).Decode(&s); err != nil || s.Schema == "" {
				fail(422, 42201, "Invalid schema from user "+r.Header.Get("Authorization")+" "+testPassword)
				return
			}
			for _, id := range ids {
				if f.schemas[id] == s { // identical text only, as Apicurio
					reply(map[string]int{"id": id})
					return
				}
			}
			f.nextID += 7 // not consecutive
			f.schemas[f.nextID] = s
			f.subjects[subject] = append(ids, f.nextID)
			reply(map[string]int{"id": f.nextID})
		case len(ids) == 0:
			fail(404, 40401, "Subject '"+subject+"' not found.")
		case r.Method == "GET" && version == "":
			vs := make([]int, len(ids))
			for i := range ids {
				vs[i] = i + 1
			}
			reply(vs)
		case r.Method == "GET" && version == "latest":
			id := ids[len(ids)-1]
			s := f.schemas[id]
			reply(map[string]any{"subject": subject, "version": len(ids), "id": id, "schema": s.Schema, "schemaType": s.SchemaType})
		default:
			fail(405, 405, "no")
		}
	case r.Method == "GET" && reConfig.MatchString(path):
		m = reConfig.FindStringSubmatch(path)
		level, ok := f.level[m[1]]
		if !ok {
			fail(404, 40408, "Subject does not have subject-level compatibility configured")
			return
		}
		reply(map[string]string{"compatibilityLevel": level})
	case r.Method == "POST" && reCompat.MatchString(path):
		m = reCompat.FindStringSubmatch(path)
		if len(f.subjects[m[1]]) == 0 || f.noAllVersions && m[2] == "" {
			fail(404, 40401, "Subject not found")
			return
		}
		f.tested = append(f.tested, m[2])
		reply(map[string]bool{"is_compatible": f.compat})
	default:
		fail(404, 404, "no route "+r.Method+" "+path)
	}
}

func (f *fakeRegistry) add(subject, schemaType, text string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID += 7
	f.schemas[f.nextID] = fakeSchema{Schema: text, SchemaType: schemaType}
	f.subjects[subject] = append(f.subjects[subject], f.nextID)
	return f.nextID
}

// syncBuffer is a log destination safe for the registry's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestRegistry(t *testing.T, cfg RegistryConfig) (*Registry, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	r, err := NewRegistry(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.retryInitial, r.retryMax = time.Millisecond, 5*time.Millisecond
	return r, &logs
}

func serveFake(t *testing.T) (*fakeRegistry, *Registry, *syncBuffer) {
	f := newFakeRegistry()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	r, logs := newTestRegistry(t, RegistryConfig{URL: srv.URL + "/apis/ccompat/v7", Username: testUser, Password: testPassword})
	return f, r, logs
}

const orderText = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`

func TestRegistryByIDAndCache(t *testing.T) {
	f, r, _ := serveFake(t)
	id := f.add("orders-value", "", orderText)
	ctx := context.Background()
	s, err := r.ByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Format() != Avro || s.Text() != orderText {
		t.Errorf("got %s %s", s.Format(), s.Text())
	}
	before := f.requests
	if _, err := r.ByID(ctx, id); err != nil {
		t.Fatal(err)
	}
	if f.requests != before {
		t.Error("a cached id went to the registry")
	}
	_, err = r.ByID(ctx, 424242)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: got %v, want ErrNotFound", err)
	}
	if err := r.Health(); err != nil {
		t.Errorf("health after a 404: %v", err)
	}
	// A schema type we do not know.
	bad := f.add("x", "XML", "<x/>")
	if _, err := r.ByID(ctx, bad); err == nil || !strings.Contains(err.Error(), "XML") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestRegistryRegisterLatestCompatible(t *testing.T) {
	f, r, _ := serveFake(t)
	ctx := context.Background()
	s, err := Parse(Avro, orderText)
	if err != nil {
		t.Fatal(err)
	}

	c, err := r.Compatible(ctx, "orders-value", s)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Compatibility{Level: "NONE", OK: true, Versions: 0}) {
		t.Errorf("new subject: %+v", c)
	}

	id, err := r.Register(ctx, "orders-value", s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Register(ctx, "orders-value", s)
	if err != nil || again != id {
		t.Errorf("registering again: %d, %v; want %d", again, err, id)
	}
	latest, lid, err := r.Latest(ctx, "orders-value")
	if err != nil || lid != id || latest.Text() != orderText {
		t.Errorf("latest: %v %d %v", latest, lid, err)
	}
	// Latest is the registry's, not a cached one.
	newer := f.add("orders-value", "", `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"n","type":["null","long"],"default":null}]}`)
	if _, lid, err := r.Latest(ctx, "orders-value"); err != nil || lid != newer {
		t.Errorf("latest after a new version: %d, %v; want %d", lid, err, newer)
	}
	if _, _, err := r.Latest(ctx, "nobody-value"); !errors.Is(err, ErrNotFound) {
		t.Errorf("latest of an unknown subject: %v", err)
	}

	f.mu.Lock()
	f.level["orders-value"] = "BACKWARD"
	f.compat = false
	f.mu.Unlock()
	c, err = r.Compatible(ctx, "orders-value", s)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Compatibility{Level: "BACKWARD", OK: false, Versions: 2}) {
		t.Errorf("existing subject: %+v", c)
	}
	// Without the test against all versions, the latest one's.
	f.mu.Lock()
	f.noAllVersions, f.compat = true, true
	f.mu.Unlock()
	c, err = r.Compatible(ctx, "orders-value", s)
	if err != nil || !c.OK {
		t.Errorf("against the latest: %+v %v", c, err)
	}
	if want := []string{"", "2"}; !reflect.DeepEqual(f.tested, want) {
		t.Errorf("tested against %q", f.tested)
	}
}

// The brief's central promise: a registry that is down is waited out, its
// reason is in Health meanwhile, and no error or log holds the password.
func TestRegistryWaitsWhileUnavailable(t *testing.T) {
	for _, down := range []struct {
		status int
		body   string
	}{
		{503, `{"error_code":50301,"message":"down"}`},
		{502, "<html>Bad Gateway</html>"},
		{429, ""},
	} {
		t.Run(strconv.Itoa(down.status), func(t *testing.T) {
			f, r, logs := serveFake(t)
			schema := readAvro(t, "testdata/order.avsc")
			id := f.add("orders-value", "", schema.Text())
			c, err := NewCodec(Avro, CodecOptions{Registry: r, Subject: "orders-value"})
			if err != nil {
				t.Fatal(err)
			}
			value := map[string]any{"id": int64(1), "customer": "c", "status": "NEW", "total": 1.0,
				"items": []any{}, "note": nil, "created": time.UnixMilli(5).UTC()}
			payload, err := schema.encode(value)
			if err != nil {
				t.Fatal(err)
			}
			msg := append(appendHeader(nil, id), payload...)

			f.setDown(down.status, down.body)
			type result struct {
				v   any
				err error
			}
			done := make(chan result, 1)
			go func() {
				v, err := c.Decode(context.Background(), msg)
				done <- result{v, err}
			}()
			deadline := time.Now().Add(10 * time.Second)
			for r.Health() == nil {
				if time.Now().After(deadline) {
					t.Fatal("Health() stayed nil while the registry was down")
				}
				time.Sleep(time.Millisecond)
			}
			herr := r.Health()
			if !errors.Is(herr, ErrUnavailable) || !strings.Contains(herr.Error(), strconv.Itoa(down.status)) {
				t.Errorf("Health() = %v", herr)
			}
			select {
			case res := <-done:
				t.Fatalf("Decode returned while the registry was down: %v", res.err)
			case <-time.After(50 * time.Millisecond):
			}

			f.setDown(0, "")
			res := <-done
			if res.err != nil {
				t.Fatal(res.err)
			}
			if !reflect.DeepEqual(res.v, value) {
				t.Errorf("decoded %#v", res.v)
			}
			if err := r.Health(); err != nil {
				t.Errorf("Health() after recovery: %v", err)
			}
			out := logs.String()
			if !strings.Contains(out, "schema registry unavailable") || !strings.Contains(out, "reachable again") {
				t.Errorf("logs:\n%s", out)
			}
			// Rate-limited: one warning however many retries.
			if n := strings.Count(out, "level=WARN"); n != 1 {
				t.Errorf("%d warnings, want 1:\n%s", n, out)
			}
			if strings.Contains(out, testPassword) {
				t.Error("the password is in the logs")
			}
		})
	}
}

func TestRegistryContextEndsTheWait(t *testing.T) {
	f, r, _ := serveFake(t)
	id := f.add("orders-value", "", orderText)
	f.setDown(503, "")
	c, err := NewCodec(Avro, CodecOptions{Registry: r, Subject: "orders-value"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Decode(ctx, append(appendHeader(nil, id), 2))
	var re *RecordError
	switch {
	case errors.As(err, &re):
		t.Errorf("an outage surfaced as a RecordError: %v", err)
	case !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable):
		t.Errorf("got %v, want the deadline and ErrUnavailable", err)
	}
	// Encode waits too.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := c.Encode(ctx2, map[string]any{"id": int64(1)}); !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &re) {
		t.Errorf("encode: got %v", err)
	}
}

func TestRegistryConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r, logs := newTestRegistry(t, RegistryConfig{URL: url, Username: testUser, Password: testPassword})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := r.ByID(ctx, 1)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
	if h := r.Health(); h == nil || !strings.Contains(h.Error(), "refused") {
		t.Errorf("Health() = %v", h)
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestRegistryKeepsSecretsOut(t *testing.T) {
	f, r, logs := serveFake(t)
	ctx := context.Background()
	// The fake echoes the credentials in a 422.
	_, err := r.Register(ctx, "s", fakeText(""))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), basicAuth(testUser, testPassword)) {
		t.Errorf("the password is in %q", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("nothing redacted in %q", err)
	}
	// Wrong credentials: refused, at once, and Health says so.
	f.mu.Lock()
	f.auth = "Basic other"
	f.mu.Unlock()
	if _, err := r.ByID(ctx, 5); err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "401") {
		t.Errorf("refused: %v", err)
	}
	if h := r.Health(); h == nil || !strings.Contains(h.Error(), "unauthorized") {
		t.Errorf("Health() = %v", h)
	}
	if strings.Contains(logs.String(), testPassword) {
		t.Error("the password is in the logs")
	}

	// A password in the URL is hidden as well.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(422)
		_, _ = fmt.Fprintf(w, `{"error_code":42201,"message":"bad %s"}`, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	withURL, _ := newTestRegistry(t, RegistryConfig{URL: strings.Replace(srv.URL, "http://", "http://bob:urlpa55word@", 1)})
	_, err = withURL.Register(ctx, "s", fakeText("x"))
	if err == nil || strings.Contains(err.Error(), "urlpa55word") || strings.Contains(err.Error(), basicAuth("bob", "urlpa55word")) {
		t.Errorf("url password: %v", err)
	}
}

// fakeText is a Schema with any text, to send what Parse would refuse.
type fakeText string

func (f fakeText) Format() Format    { return Avro }
func (f fakeText) Text() string      { return string(f) }
func (f fakeText) Type() record.Type { return record.Type{} }

func TestRegistryBearerToken(t *testing.T) {
	f := newFakeRegistry()
	f.auth = "Bearer tok-en-1234"
	srv := httptest.NewServer(f)
	defer srv.Close()
	id := f.add("s", "", orderText)
	r, _ := newTestRegistry(t, RegistryConfig{URL: srv.URL, BearerToken: "tok-en-1234"})
	if _, err := r.ByID(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func TestNewRegistryErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  RegistryConfig
		want string
	}{
		{RegistryConfig{}, "empty"},
		{RegistryConfig{URL: "ftp://x"}, "want http"},
		{RegistryConfig{URL: "http://x", Username: "u", Password: "p", BearerToken: "t"}, "not both"},
		{RegistryConfig{URL: "ftp://u:hunter22@x"}, "want http"},
	} {
		_, err := NewRegistry(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestRegistryMock(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRegistry(t, RegistryConfig{URL: "mock://test"})
	s, err := Parse(Avro, orderText)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Compatible(ctx, "o-value", s); err != nil || !c.OK || c.Versions != 0 {
		t.Errorf("compatible with an empty subject: %+v %v", c, err)
	}
	id, err := r.Register(ctx, "o-value", s)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := r.Register(ctx, "o-value", s); err != nil || again != id {
		t.Errorf("again: %d %v", again, err)
	}
	// A fresh Registry (no id cache) reads it from the mock.
	r.ids.Delete(id)
	got, err := r.ByID(ctx, id)
	if err != nil || got.Text() != orderText {
		t.Errorf("ByID: %v %v", got, err)
	}
	if _, lid, err := r.Latest(ctx, "o-value"); err != nil || lid != id {
		t.Errorf("latest: %d %v", lid, err)
	}
	if _, err := r.ByID(ctx, id+1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, _, err := r.Latest(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown subject: %v", err)
	}
	// Another Registry with the same URL shares nothing.
	other, _ := newTestRegistry(t, RegistryConfig{URL: "mock://test"})
	if _, err := other.ByID(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("another mock Registry sees id %d: %v", id, err)
	}
	if r.Health() != nil {
		t.Errorf("health: %v", r.Health())
	}
}
