package httpsource

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// emitted is one batch the source handed to the (fake) stage.
type emitted struct {
	recs []*record.Record
	ack  connectors.Ack
}

// server is a started http source whose stage is the test: each batch
// arrives on batches, and the test acknowledges it (or not).
type server struct {
	src     *Source
	url     string
	batches chan emitted
	cancel  context.CancelFunc
	done    chan error
	logs    *bytes.Buffer
	client  *http.Client
}

// start builds the source from its block (listen defaults to a free
// loopback port) and runs Read until the test ends.
func start(t *testing.T, block string) *server {
	t.Helper()
	return startDraining(t, block, 5*time.Second)
}

// startDraining is start with the given drain period.
func startDraining(t *testing.T, block string, drain time.Duration) *server {
	t.Helper()
	if !strings.Contains(block, "listen:") {
		block = "listen: 127.0.0.1:0\n" + block
	}
	logs := &bytes.Buffer{}
	src, err := connector(block, logs, drain)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &server{src: src, batches: make(chan emitted, 100), done: make(chan error, 1), logs: logs, client: &http.Client{}}
	scheme := "http"
	if src.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	s.url = scheme + "://" + src.Addr().String() + src.cfg.Path
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		s.done <- src.Read(ctx, func(ctx context.Context, b []*record.Record, cursor []byte) error {
			if cursor != nil {
				t.Errorf("emit with a cursor %q", cursor)
			}
			s.batches <- emitted{recs: b, ack: connectors.AckOf(ctx)}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		_ = src.Close()
	})
	return s
}

func connector(block string, logs io.Writer, drain time.Duration) (*Source, error) {
	indented := "      " + strings.ReplaceAll(strings.TrimSpace(block), "\n", "\n      ")
	cfg := "pipeline: h\nkafka: {brokers: embedded}\nsources:\n  s:\n    http:\n" + indented + "\n    to: t\n"
	p, err := pipeline.Parse("p.yaml", []byte(cfg), pipeline.Options{Kinds: pipeline.Kinds{Sources: []string{"http"}}})
	if err != nil {
		return nil, err
	}
	return New(p.Sources[0].Connector, connectors.Env{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Drain: drain})
}

// answer is an HTTP answer as read.
type response struct {
	status int
	header http.Header
	body   reply
	err    error
}

func (s *server) post(contentType, body string, header ...string) response {
	req, err := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	if err != nil {
		return response{err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	a := response{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			a.err = fmt.Errorf("answer %q: %w", raw, err)
		}
	}
	return a
}

// postAsync posts in the background.
func (s *server) postAsync(contentType, body string, header ...string) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- s.post(contentType, body, header...) }()
	return ch
}

// next waits for the stage to get a batch.
func (s *server) next(t *testing.T) emitted {
	t.Helper()
	select {
	case b := <-s.batches:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch reached the stage")
		return emitted{}
	}
}

func (s *server) noBatch(t *testing.T) {
	t.Helper()
	select {
	case b := <-s.batches:
		t.Fatalf("a batch of %d records reached the stage", len(b.recs))
	default:
	}
}

func wait(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		return response{}
	}
}

// notYet checks that no answer came while the records are unacknowledged.
func notYet(t *testing.T, ch <-chan response) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("answered %d before Kafka acknowledged the records", a.status)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestAnswersOnlyAfterAck: the 200 comes after the batch's ack, not when it
// is handed on, and carries the count; the records are the body's values.
func TestAnswersOnlyAfterAck(t *testing.T) {
	s := start(t, "path: /in")
	ch := s.postAsync("application/x-ndjson", "{\"id\": 1}\n{\"id\": 2}\n")
	b := s.next(t)
	if len(b.recs) != 2 || b.recs[0].Value.(map[string]any)["id"] != int64(1) || b.recs[1].Timestamp.IsZero() {
		t.Fatalf("batch %+v", b.recs)
	}
	notYet(t, ch)
	b.ack(nil)
	a := wait(t, ch)
	if a.err != nil || a.status != http.StatusOK || a.body.Accepted == nil || *a.body.Accepted != 2 {
		t.Fatalf("answer %+v, want 200 accepted 2", a)
	}
}

// TestFailedAckIs503: a batch Kafka did not take is answered 503 with
// Retry-After, so the client sends it again.
func TestFailedAckIs503(t *testing.T) {
	s := start(t, "retry_after: 3s")
	ch := s.postAsync("application/json", `[{"id": 1}]`)
	s.next(t).ack(errors.New("deliver to t: broker down"))
	a := wait(t, ch)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "3" || !strings.Contains(a.body.Error, "broker down") {
		t.Fatalf("answer %+v, want 503 Retry-After 3 naming the error", a)
	}
}

// TestAckTimeoutIs503: no acknowledgement within ack_timeout is a 503 too.
func TestAckTimeoutIs503(t *testing.T) {
	s := start(t, "ack_timeout: 300ms")
	ch := s.postAsync("", `{"id": 1}`)
	b := s.next(t)
	a := wait(t, ch)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body.Error, "ack_timeout") {
		t.Fatalf("answer %+v, want 503 over ack_timeout", a)
	}
	b.ack(nil) // late: nobody listens, nothing blocks
	// The records were released: a request as large as max_in_flight
	// still gets in.
	ch = s.postAsync("", `{"id": 2}`)
	s.next(t).ack(nil)
	if a := wait(t, ch); a.status != http.StatusOK {
		t.Fatalf("answer %+v after a late ack", a)
	}
}

// TestBadRecordsRejectTheRequest: one bad record makes a 400 listing every
// bad one, and nothing of the request reaches the stage.
func TestBadRecordsRejectTheRequest(t *testing.T) {
	s := start(t, "")
	a := s.post("application/x-ndjson", "{\"id\": 1}\n{\"id\": \nnull\n{\"id\": 4}\n")
	if a.status != http.StatusBadRequest || len(a.body.Records) != 2 ||
		a.body.Records[0].Index != 1 || a.body.Records[0].Line != 2 || !strings.HasPrefix(a.body.Records[0].Reason, "not JSON") ||
		a.body.Records[1].Index != 2 || a.body.Records[1].Line != 3 || a.body.Records[1].Reason != "null is not a record" ||
		!strings.Contains(a.body.Error, "nothing of the request was written") {
		t.Fatalf("answer %+v", a)
	}
	if a := s.post("application/json", `{"id": `); a.status != http.StatusBadRequest || !strings.HasPrefix(a.body.Error, "the body is not JSON") {
		t.Fatalf("answer %+v", a)
	}
	var many strings.Builder
	for range 150 {
		many.WriteString("nope\n")
	}
	if a := s.post("application/x-ndjson", many.String()); a.status != http.StatusBadRequest || len(a.body.Records) != 100 || a.body.More != 50 {
		t.Fatalf("answer to 150 bad lines: %d, %d listed, %d more", a.status, len(a.body.Records), a.body.More)
	}
	s.noBatch(t)
}

// TestEmptyArrayIs200: nothing to write is answered at once.
func TestEmptyArrayIs200(t *testing.T) {
	s := start(t, "")
	if a := s.post("application/json", `[]`); a.status != http.StatusOK || a.body.Accepted == nil || *a.body.Accepted != 0 {
		t.Fatalf("answer %+v", a)
	}
	s.noBatch(t)
}

func TestBodyOverMaxBodyIs413(t *testing.T) {
	s := start(t, "max_body: 1KiB")
	a := s.post("application/json", `{"pad": "`+strings.Repeat("x", 2000)+`"}`)
	if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body.Error, "max_body (1024 bytes)") {
		t.Fatalf("answer %+v", a)
	}
	s.noBatch(t)
	ch := s.postAsync("application/json", `{"pad": "`+strings.Repeat("x", 1000)+`"}`)
	s.next(t).ack(nil)
	if a := wait(t, ch); a.status != http.StatusOK {
		t.Fatalf("a body under max_body: %+v", a)
	}
}

func TestContentEncodingIs415(t *testing.T) {
	s := start(t, "")
	if a := s.post("application/json", `{}`, "Content-Encoding", "gzip"); a.status != http.StatusUnsupportedMediaType {
		t.Fatalf("answer %+v", a)
	}
}

// TestToken: without the bearer token, or with another, 401; the token is
// never logged.
func TestToken(t *testing.T) {
	const token = "s3cret-t0ken"
	s := start(t, "token: "+token)
	for _, auth := range []string{"", "Bearer nope", "Basic " + token, "Bearer " + token + "x"} {
		a := s.post("", `{"id": 1}`, "Authorization", auth)
		if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: answer %+v, want 401", auth, a)
		}
	}
	s.noBatch(t)
	ch := s.postAsync("", `{"id": 1}`, "Authorization", "bearer "+token)
	s.next(t).ack(nil)
	if a := wait(t, ch); a.status != http.StatusOK {
		t.Fatalf("the right token: %+v", a)
	}
	if strings.Contains(s.logs.String(), token) {
		t.Fatalf("the token is in the log:\n%s", s.logs)
	}
}

// TestBackpressure: beyond max_in_flight unacknowledged records, or
// max_requests requests, a request gets 503 with Retry-After at once; it
// gets in again once the records are acknowledged.
func TestBackpressure(t *testing.T) {
	s := start(t, "max_in_flight: 3\nmax_requests: 2")
	first := s.postAsync("", `[1, 2]`)
	b1 := s.next(t)
	a := s.post("", `[3, 4]`) // 2 + 2 > 3
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" || !strings.Contains(a.body.Error, "max_in_flight") {
		t.Fatalf("over max_in_flight: %+v", a)
	}
	second := s.postAsync("", `5`) // 2 + 1 fits
	b2 := s.next(t)
	// Two requests wait: a third is over max_requests.
	if a := s.post("", `6`); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body.Error, "max_requests") {
		t.Fatalf("over max_requests: %+v", a)
	}
	s.noBatch(t)
	b1.ack(nil)
	b2.ack(nil)
	wait(t, first)
	wait(t, second)
	// A request larger than max_in_flight gets in when nothing else waits.
	ch := s.postAsync("", `[1, 2, 3, 4, 5]`)
	s.next(t).ack(nil)
	if a := wait(t, ch); a.status != http.StatusOK || *a.body.Accepted != 5 {
		t.Fatalf("a large request alone: %+v", a)
	}
}

func TestPathAndMethod(t *testing.T) {
	s := start(t, "path: /orders/")
	base := strings.TrimSuffix(s.url, "/orders/")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/orders/", http.StatusMethodNotAllowed},
		{http.MethodPost, "/", http.StatusNotFound},
		{http.MethodPost, "/orders/x", http.StatusNotFound},
		{http.MethodPost, "/orders", http.StatusTemporaryRedirect},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{}`))
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	s.noBatch(t)
}

// TestGracefulStop: once told to stop, the source takes no new
// connections, answers requests whose records are in hand once they are
// acknowledged, and Read returns.
func TestGracefulStop(t *testing.T) {
	s := start(t, "")
	ch := s.postAsync("", `{"id": 1}`)
	b := s.next(t)
	s.cancel()
	// The listener closes: a new connection is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", s.src.Addr().String())
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after the stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-s.done:
		t.Fatalf("Read returned (%v) with a request unanswered", err)
	default:
	}
	notYet(t, ch)
	b.ack(nil)
	if a := wait(t, ch); a.status != http.StatusOK {
		t.Fatalf("the request in hand: %+v", a)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after the last answer")
	}
}

// TestDrainPeriodEnds: a request still unacknowledged when the drain period
// ends loses its connection, and Read returns.
func TestDrainPeriodEnds(t *testing.T) {
	s := startDraining(t, "", 300*time.Millisecond)
	ch := s.postAsync("", `{"id": 1}`)
	s.next(t)
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return at the end of the drain period")
	}
	if a := wait(t, ch); a.err == nil {
		t.Fatalf("answer %+v, want a lost connection", a)
	}
}

// TestEveryInterfaceWarns like the metrics server.
func TestEveryInterfaceWarns(t *testing.T) {
	s := start(t, "listen: ':0'")
	if !strings.Contains(s.logs.String(), "every network interface") {
		t.Fatalf("no warning:\n%s", s.logs)
	}
	if l := start(t, ""); strings.Contains(l.logs.String(), "every network interface") {
		t.Fatalf("warned for loopback:\n%s", l.logs)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	s := start(t, fmt.Sprintf("tls_cert_file: %s\ntls_key_file: %s", filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")))
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatal(s.url)
	}
	s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ch := s.postAsync("", `{"id": 1}`)
	s.next(t).ack(nil)
	if a := wait(t, ch); a.status != http.StatusOK {
		t.Fatalf("answer %+v", a)
	}
	// Plain HTTP to the TLS port is refused.
	resp, err := http.Post(strings.Replace(s.url, "https", "http", 1), "", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for block, want := range map[string]string{
		"path: orders":         "must start with /",
		"tls_cert_file: c.pem": "go together",
		"max_in_flight: 0":     "max_in_flight: must be at least 1",
		"listen: nohost":       "invalid address",
		"ack_timeout: 0s":      "ack_timeout: must be positive",
	} {
		if _, err := connector(block, io.Discard, time.Second); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", block, err, want)
		}
	}
	src, err := connector("tls_cert_file: /nonexistent/c.pem\ntls_key_file: /nonexistent/k.pem\nlisten: 127.0.0.1:0", io.Discard, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "load TLS certificate") {
		t.Fatalf("Open: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("c.pem", "CERTIFICATE", der)
	write("k.pem", "EC PRIVATE KEY", kder)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
