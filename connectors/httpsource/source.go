// Package httpsource is a source that listens for records over HTTP: a
// client POSTs one JSON value, a JSON array or NDJSON, and gets 200 only
// once every record of the request is acknowledged by Kafka, so a 200 means
// the records are durable and a client that retries anything else loses
// nothing (it may write a record twice: at least once).
package httpsource

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Config is the `http:` block of a source.
type Config struct {
	Listen      pipeline.ListenAddr `yaml:"listen" default:"127.0.0.1:8080" doc:"host:port to listen on; loopback unless a host says otherwise (an empty host or 0.0.0.0 is every interface, and logs a warning)"`
	Path        string              `yaml:"path" default:"/" doc:"the URL path records are POSTed to; other paths answer 404, other methods 405"`
	Token       string              `yaml:"token" example:"${INGEST_TOKEN}" doc:"when set, a request must carry Authorization: Bearer TOKEN, or gets 401; compared in constant time, never logged"`
	TLSCertFile string              `yaml:"tls_cert_file" example:"server.crt" doc:"serve HTTPS with this certificate (PEM; with tls_key_file)"`
	TLSKeyFile  string              `yaml:"tls_key_file" example:"server.key" doc:"the certificate's private key (PEM)"`
	MaxBody     pipeline.Size       `yaml:"max_body" default:"10MiB" doc:"the largest request body; a larger one gets 413"`
	MaxInFlight int                 `yaml:"max_in_flight" default:"10000" doc:"records accepted but not yet acknowledged by Kafka; a request that would go over gets 503 with Retry-After (one request is always let in, however large)"`
	MaxRequests int                 `yaml:"max_requests" default:"256" doc:"requests handled at once; more get 503 with Retry-After"`
	RetryAfter  pipeline.Duration   `yaml:"retry_after" default:"1s" doc:"the Retry-After of a 503"`
	AckTimeout  pipeline.Duration   `yaml:"ack_timeout" default:"30s" doc:"how long a request waits for Kafka's acknowledgement before it gets 503; its records may still be written, so a retry may repeat them"`
}

// Spec declares the http source.
func Spec() connectors.SourceSpec {
	return connectors.SourceSpec{
		Spec: connectors.Spec{
			Name: "http",
			Doc: "Records POSTed over HTTP: one JSON value, a JSON array (one record per element) or NDJSON (one per line), " +
				"told apart by Content-Type (application/json, application/x-ndjson) or by looking at the body. " +
				"The answer is 200 only once every record of the request is acknowledged by Kafka; " +
				"a request with a bad record gets 400 naming each (index, line, reason) and nothing of it is written; " +
				"under backpressure 503 with Retry-After. Retrying anything but 200 and 400 loses nothing, and may repeat records.",
			Config:  Config{},
			Example: "listen: 127.0.0.1:8080\npath: /orders\ntoken: ${INGEST_TOKEN}\n",
			Caps:    connectors.Capabilities{Describe: []connectors.Detail{{Option: "listen", Format: "listening on %s"}}},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) { return New(c, env) },
	}
}

// New checks the config; the address is bound when the stage starts.
func New(c pipeline.Connector, env connectors.Env) (*Source, error) {
	var cfg Config
	var errs pipeline.Errors
	errs.Add(c.Pos, c.Path, pipeline.Decode(c, env.Lookup, &cfg))
	if !strings.HasPrefix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, "{} \t") {
		errs.Addf(c.Pos, c.Path+".path", "must start with / and hold no spaces or braces, got %q", cfg.Path)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		errs.Addf(c.Pos, c.Path+".tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	for key, n := range map[string]int64{"max_body": int64(cfg.MaxBody), "max_in_flight": int64(cfg.MaxInFlight), "max_requests": int64(cfg.MaxRequests)} {
		if n < 1 {
			errs.Addf(c.Pos, c.Path+"."+key, "must be at least 1")
		}
	}
	if cfg.AckTimeout <= 0 {
		errs.Addf(c.Pos, c.Path+".ack_timeout", "must be positive")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	drain := env.Drain
	if drain <= 0 {
		drain = pipeline.DefaultShutdownTimeout
	}
	return &Source{cfg: cfg, log: log, drain: drain}, nil
}

// Source is the http source. Each start (Open, Read, Close) serves anew.
type Source struct {
	cfg   Config
	log   *slog.Logger
	drain time.Duration

	mu sync.Mutex
	ep *endpoint // the running server, set by Open
}

// Open binds the address, so a taken port fails the start.
func (s *Source) Open(context.Context) error {
	ep, err := listen(s.cfg, s.log)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ep = ep
	s.mu.Unlock()
	return nil
}

// Addr is the address the source listens on (with port 0, the port
// chosen), nil before Open.
func (s *Source) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep == nil {
		return nil
	}
	return s.ep.ln.Addr()
}

// Read serves until ctx ends, handing each accepted request's records to
// emit as one batch; then it stops accepting and lets the requests in hand
// finish within the drain period (the pipeline's shutdown_timeout).
func (s *Source) Read(ctx context.Context, emit connectors.Emit) error {
	s.mu.Lock()
	ep := s.ep
	s.mu.Unlock()
	if ep == nil {
		return errors.New("read before open")
	}
	return ep.run(ctx, emit, s.drain)
}

// Close stops serving at once, if Read did not.
func (s *Source) Close() error {
	s.mu.Lock()
	ep := s.ep
	s.ep = nil
	s.mu.Unlock()
	if ep == nil {
		return nil
	}
	if err := ep.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close http server on %s: %w", ep.ln.Addr(), err)
	}
	return nil
}

// endpoint is one start's server and what its handlers share.
type endpoint struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	tls     bool
	token   *[sha256.Size]byte // nil: no token required
	batches chan batch         // handlers to Read, unbuffered
	slots   chan struct{}      // one per request being handled
	stop    chan struct{}      // closed when Read starts to drain

	mu       sync.Mutex
	inFlight int // records handed on and not yet acknowledged
}

// batch is one request's records and how to tell its handler they are
// durable.
type batch struct {
	recs []*record.Record
	ack  connectors.Ack
}

func listen(cfg Config, log *slog.Logger) (*endpoint, error) {
	ep := &endpoint{
		cfg: cfg, log: log,
		batches: make(chan batch), slots: make(chan struct{}, cfg.MaxRequests), stop: make(chan struct{}),
	}
	if cfg.Token != "" {
		sum := sha256.Sum256([]byte(cfg.Token))
		ep.token = &sum
	}
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ep.tls = true
	}
	if cfg.Listen.EveryInterface() {
		// ":8080" reads like "this machine only" but is every interface.
		log.Warn("http source listening on every network interface; give a host (127.0.0.1:PORT) to keep it local", "address", string(cfg.Listen))
	}
	ln, err := net.Listen("tcp", string(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	pattern := "POST " + cfg.Path
	if strings.HasSuffix(cfg.Path, "/") {
		pattern += "{$}" // this path only, not the tree below it
	}
	mux := http.NewServeMux()
	mux.Handle(pattern, ep)
	ep.ln = ln
	ep.srv = &http.Server{
		Handler: mux, TLSConfig: tlsCfg,
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if ep.tls {
		scheme = "https"
	}
	log.Info("accepting records", "url", scheme+"://"+ln.Addr().String()+cfg.Path, "token", cfg.Token != "")
	return ep, nil
}

// run serves and emits until ctx ends, then drains.
func (ep *endpoint) run(ctx context.Context, emit connectors.Emit, drain time.Duration) error {
	served := make(chan error, 1)
	go func() {
		if ep.tls {
			served <- ep.srv.ServeTLS(ep.ln, "", "")
		} else {
			served <- ep.srv.Serve(ep.ln)
		}
	}()
	for {
		select {
		case b := <-ep.batches:
			if ctx.Err() != nil {
				// Taken as the stop came: it goes out under the drain's
				// context, not the cancelled one.
				return ep.drain(ctx, emit, drain, &b)
			}
			if err := emit(connectors.WithAck(ctx, b.ack), b.recs, nil); err != nil {
				_ = ep.srv.Close()
				return err
			}
		case err := <-served:
			return fmt.Errorf("serve http on %s: %w", ep.ln.Addr(), err)
		case <-ctx.Done():
			return ep.drain(ctx, emit, drain, nil)
		}
	}
}

// drain stops accepting and hands on what requests in hand bring, until
// each is answered or the drain period is over; the stage's own drain then
// waits for the deliveries those answers wait on.
func (ep *endpoint) drain(ctx context.Context, emit connectors.Emit, period time.Duration, taken *batch) error {
	close(ep.stop)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), period)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- ep.srv.Shutdown(dctx) }()
	if taken != nil {
		if err := emit(connectors.WithAck(dctx, taken.ack), taken.recs, nil); err != nil {
			_ = ep.srv.Close()
			return err
		}
	}
	for {
		select {
		case b := <-ep.batches:
			if err := emit(connectors.WithAck(dctx, b.ack), b.recs, nil); err != nil {
				_ = ep.srv.Close()
				return err
			}
		case err := <-shut:
			if err != nil {
				// Requests still waiting lose their connection: their
				// clients retry, which repeats at most these records.
				ep.log.Warn("requests not answered within the drain period; closing their connections", "drain", period)
				_ = ep.srv.Close()
			}
			return nil
		}
	}
}

// ServeHTTP takes one request's records, hands them on, and answers once
// Kafka acknowledged them.
func (ep *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ep.token != nil && !ep.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="conveyor"`)
		answer(w, http.StatusUnauthorized, reply{Error: "missing or wrong bearer token"})
		return
	}
	select {
	case ep.slots <- struct{}{}:
		defer func() { <-ep.slots }()
	default:
		ep.busy(w, "too many requests at once (max_requests)")
		return
	}
	if ep.stopping() {
		ep.busy(w, "the source is stopping")
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		answer(w, http.StatusUnsupportedMediaType, reply{Error: "Content-Encoding " + enc + " is not supported; send the body as it is"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(ep.cfg.MaxBody)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			answer(w, http.StatusRequestEntityTooLarge, reply{Error: fmt.Sprintf("the body is over max_body (%d bytes); nothing was written", tooLarge.Limit)})
			return
		}
		answer(w, http.StatusBadRequest, reply{Error: "read the body: " + err.Error()})
		return
	}
	vals, bad, err := parseBody(body, kindOf(r.Header.Get("Content-Type")))
	switch {
	case err != nil:
		answer(w, http.StatusBadRequest, reply{Error: err.Error() + "; nothing was written"})
		return
	case bad != nil:
		answer(w, http.StatusBadRequest, badReply(bad))
		return
	case len(vals) == 0:
		answer(w, http.StatusOK, reply{Accepted: new(int)})
		return
	}
	n := len(vals)
	if !ep.admit(n) {
		ep.busy(w, "max_in_flight records are waiting for Kafka")
		return
	}
	ep.handOn(w, r, vals)
}

// handOn hands the records to Read and answers when they are durable. The
// records were admitted; they are released when acknowledged or not handed
// on.
func (ep *endpoint) handOn(w http.ResponseWriter, r *http.Request, vals []any) {
	n := len(vals)
	now := time.Now()
	recs := make([]*record.Record, n)
	for i, v := range vals {
		recs[i] = &record.Record{Value: v, Timestamp: now}
	}
	done := make(chan error, 1)
	ack := func(err error) {
		ep.release(n)
		done <- err
	}
	timeout := time.NewTimer(time.Duration(ep.cfg.AckTimeout))
	defer timeout.Stop()
	select {
	case ep.batches <- batch{recs: recs, ack: ack}:
	case <-ep.stop:
		ep.release(n)
		ep.busy(w, "the source is stopping")
		return
	case <-timeout.C:
		ep.release(n)
		ep.busy(w, "the stage did not take the records within ack_timeout (paused or busy); nothing was written")
		return
	case <-r.Context().Done():
		ep.release(n)
		return
	}
	select {
	case err := <-done:
		if err != nil {
			ep.busy(w, "Kafka did not acknowledge the records: "+err.Error()+"; some may be written, so a retry may repeat them")
			return
		}
		answer(w, http.StatusOK, reply{Accepted: &n})
	case <-timeout.C:
		ep.busy(w, "Kafka did not acknowledge the records within ack_timeout; they may still be written, so a retry may repeat them")
	case <-r.Context().Done():
		// The client left; its records are written all the same.
	}
}

func (ep *endpoint) stopping() bool {
	select {
	case <-ep.stop:
		return true
	default:
		return false
	}
}

// authorized compares the bearer token in constant time (of equal-length
// digests, so not even the length leaks).
func (ep *endpoint) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(sum[:], ep.token[:]) == 1
}

// admit counts n records in flight unless that goes over max_in_flight;
// with nothing in flight any request is let in, so one larger than the
// bound is slow rather than refused for ever.
func (ep *endpoint) admit(n int) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.inFlight > 0 && ep.inFlight+n > ep.cfg.MaxInFlight {
		return false
	}
	ep.inFlight += n
	return true
}

func (ep *endpoint) release(n int) {
	ep.mu.Lock()
	ep.inFlight -= n
	ep.mu.Unlock()
}

// busy answers 503 with Retry-After: try again later, nothing lost.
func (ep *endpoint) busy(w http.ResponseWriter, why string) {
	secs := int((time.Duration(ep.cfg.RetryAfter) + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	answer(w, http.StatusServiceUnavailable, reply{Error: why})
}

// reply is every answer's body.
type reply struct {
	Accepted *int        `json:"accepted,omitempty"`
	Error    string      `json:"error,omitempty"`
	Records  []BadRecord `json:"records,omitempty"`
	// More counts bad records not listed.
	More int `json:"more,omitempty"`
}

// maxListed bounds the bad records a 400 lists.
const maxListed = 100

func badReply(bad []BadRecord) reply {
	rp := reply{Error: fmt.Sprintf("%d bad record(s); nothing of the request was written", len(bad)), Records: bad}
	if len(bad) > maxListed {
		rp.Records, rp.More = bad[:maxListed], len(bad)-maxListed
	}
	return rp
}

func answer(w http.ResponseWriter, status int, rp reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rp)
}
