// Package httpsink is a sink that sends records to an HTTP endpoint (a
// webhook, a REST API): one request per record, or batches as a JSON array
// or NDJSON, with retries on 429, 5xx and network errors, and a record the
// endpoint rejects for good (another 4xx) handed to on_error.
//
// It uses net/http's client alone: it pools connections and takes a
// context per request, and the retry decisions (which statuses, Retry-After,
// which records of a batch are done) are the sink's own, so a retrying
// client library would only add a policy to override.
package httpsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/internal/printable"
	"github.com/conveyor-dev/conveyor/internal/redact"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Spec declares the http sink.
func Spec() connectors.SinkSpec {
	return connectors.SinkSpec{
		Spec: connectors.Spec{
			Name: "http",
			Doc: "Sends records to an HTTP endpoint with POST or PUT: one request per record, or batches as a JSON array or NDJSON. " +
				"429, 408, 5xx answers and network errors are retried with backoff (Retry-After honoured); another 4xx sends the request's records to on_error. " +
				"Offsets are committed only once every record of a batch got a 2xx or went to on_error: at least once.",
			Config: Config{},
			Example: "url_expr: '\"https://api.example.com/users/\" + to_string(user_id)'\n" +
				"method: PUT\nauth: bearer\nbearer_token: ${API_TOKEN}\nheaders: {X-Source: conveyor}\n",
			Caps: connectors.Capabilities{Describe: []connectors.Detail{{Option: "url", Format: "%s"}, {Option: "url_expr", Format: "URL from %s"}}},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return New(c, env) },
	}
}

// Sink sends records over HTTP.
type Sink struct {
	s       *settings
	client  *http.Client
	secrets []string
	log     *slog.Logger
	// inFlight holds a token per request under way: max_in_flight bounds
	// them across the sink.
	inFlight chan struct{}

	// mu serialises Write: the state below belongs to the batch being
	// written.
	mu      sync.Mutex
	machine *expression.Machine
	env     expression.Env
	// delivered and rejected remember the records of a batch that got a
	// 2xx or a final 4xx, across the stage's retries of that batch: the
	// stage writes a batch again without a rejected record (see
	// connectors.RecordError), and a record already delivered is not sent
	// twice for it.
	delivered map[*record.Record]bool
	rejected  map[*record.Record]error
}

// New checks the config; it connects to nothing.
func New(c pipeline.Connector, env connectors.Env) (*Sink, error) {
	s, err := parse(c, env)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = s.maxInFlight
	return &Sink{
		s: s,
		client: &http.Client{
			Transport: transport,
			// A redirect answered to a POST would turn it into a GET:
			// the 3xx is reported instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		secrets:   s.secrets(),
		log:       log,
		inFlight:  make(chan struct{}, s.maxInFlight),
		machine:   expression.Options{Vars: s.vars}.NewMachine(),
		delivered: map[*record.Record]bool{},
		rejected:  map[*record.Record]error{},
	}, nil
}

// BatchSize lets the stage read enough records to keep max_in_flight
// requests of batch_size records busy; single requests take the stage's
// default.
func (k *Sink) BatchSize() int {
	if k.s.body == bodySingle {
		return 0
	}
	return k.s.batchSize * k.s.maxInFlight
}

// FlushInterval is flush_interval.
func (k *Sink) FlushInterval() time.Duration { return k.s.flushInterval }

// Close lets idle connections go.
func (k *Sink) Close() error {
	k.client.CloseIdleConnections()
	return nil
}

// request is one HTTP request and the records it carries.
type request struct {
	url    string
	header http.Header // from headers_expr; nil without
	recs   []*record.Record
	body   []byte
}

// Write sends every record of batch not yet delivered and returns once
// each got a 2xx or a final rejection. A rejected record comes back as a
// *connectors.RecordError (the first, in batch order; the stage writes the
// batch again without it, and the next comes back at once without a
// request). A request that still fails after max_retries makes Write fail:
// the stage retries the batch, and commits nothing meanwhile.
func (k *Sink) Write(ctx context.Context, batch []*record.Record) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keepOnly(batch)
	if err := k.nextRejected(batch); err != nil {
		return err
	}
	reqs := k.plan(batch)

	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	started := 0
send:
	for i, rq := range reqs {
		select {
		case k.inFlight <- struct{}{}:
		case <-ctx.Done():
			break send
		}
		started++
		wg.Go(func() {
			defer func() { <-k.inFlight }()
			errs[i] = k.send(ctx, rq)
		})
	}
	wg.Wait()

	var failed error
	nFailed := len(reqs) - started
	for i, rq := range reqs[:started] {
		var perm *permanentError
		switch err := errs[i]; {
		case err == nil:
			for _, r := range rq.recs {
				k.delivered[r] = true
			}
		case errors.As(err, &perm):
			for _, r := range rq.recs {
				k.rejected[r] = perm.err
			}
		default:
			nFailed++
			if failed == nil {
				failed = err
			}
		}
	}
	if err := k.nextRejected(batch); err != nil {
		return err
	}
	if nFailed > 0 {
		if failed == nil {
			failed = ctx.Err()
		}
		return fmt.Errorf("%d of %d requests not delivered: %w", nFailed, len(reqs), failed)
	}
	clear(k.delivered)
	return nil
}

// keepOnly forgets records that are not in batch: a new batch, not a retry.
func (k *Sink) keepOnly(batch []*record.Record) {
	if len(k.delivered) == 0 && len(k.rejected) == 0 {
		return
	}
	in := make(map[*record.Record]bool, len(batch))
	for _, r := range batch {
		in[r] = true
	}
	for r := range k.delivered {
		if !in[r] {
			delete(k.delivered, r)
		}
	}
	for r := range k.rejected {
		if !in[r] {
			delete(k.rejected, r)
		}
	}
}

// nextRejected returns the first record of batch rejected for good, as a
// RecordError, and forgets it (the stage drops it from the batch).
func (k *Sink) nextRejected(batch []*record.Record) error {
	if len(k.rejected) == 0 {
		return nil
	}
	for i, r := range batch {
		if err, ok := k.rejected[r]; ok {
			delete(k.rejected, r)
			return &connectors.RecordError{Index: i, Err: err}
		}
	}
	return nil
}

// plan builds the requests for the records of batch that are not yet
// delivered or rejected. A record whose URL or headers cannot be computed
// is rejected.
func (k *Sink) plan(batch []*record.Record) []*request {
	var reqs []*request
	open := map[string]*request{} // batched bodies: the request filling up per URL and headers
	size := map[*request]int64{}
	for _, r := range batch {
		if k.delivered[r] {
			continue
		}
		if _, ok := k.rejected[r]; ok {
			continue
		}
		u, h, value, err := k.prepare(r)
		if err != nil {
			k.rejected[r] = err
			continue
		}
		if k.s.body == bodySingle {
			reqs = append(reqs, &request{url: u, header: h, recs: []*record.Record{r}, body: value})
			continue
		}
		key := k.groupKey(u, h)
		rq := open[key]
		if rq != nil && (len(rq.recs) >= k.s.batchSize || size[rq]+int64(len(value)) > k.s.batchBytes) {
			rq = nil
		}
		if rq == nil {
			rq = &request{url: u, header: h}
			open[key] = rq
			reqs = append(reqs, rq)
			if k.s.body == bodyJSONArray {
				rq.body = append(rq.body, '[')
			}
		}
		if k.s.body == bodyJSONArray {
			if len(rq.recs) > 0 {
				rq.body = append(rq.body, ',')
			}
			rq.body = append(rq.body, value...)
		} else {
			rq.body = append(append(rq.body, value...), '\n')
		}
		rq.recs = append(rq.recs, r)
		size[rq] += int64(len(value))
	}
	if k.s.body == bodyJSONArray {
		for _, rq := range reqs {
			rq.body = append(rq.body, ']')
		}
	}
	return reqs
}

// groupKey identifies the requests records may share: same URL, same
// headers (written in name order).
func (k *Sink) groupKey(u string, h http.Header) string {
	var b strings.Builder
	b.WriteString(u)
	for _, hp := range k.s.headerProgs {
		b.WriteString("\x00" + hp.name + "\x00" + strings.Join(h[hp.name], "\x00"))
	}
	return b.String()
}

// prepare computes a record's URL, headers and body.
func (k *Sink) prepare(r *record.Record) (string, http.Header, []byte, error) {
	k.env.Reset(r)
	u := k.s.url
	if k.s.urlProg != nil {
		v, err := k.machine.Run(k.s.urlProg, &k.env)
		if err != nil {
			return "", nil, nil, fmt.Errorf("url_expr: %w", err)
		}
		if v == nil {
			return "", nil, nil, errors.New("url_expr: the URL is null")
		}
		if u, err = expression.Text(v); err != nil {
			return "", nil, nil, fmt.Errorf("url_expr: %w", err)
		}
		if err := checkURL(u); err != nil {
			return "", nil, nil, fmt.Errorf("url_expr: %w", err)
		}
	}
	var h http.Header
	for _, hp := range k.s.headerProgs {
		v, err := k.machine.Run(hp.prog, &k.env)
		if err != nil {
			return "", nil, nil, fmt.Errorf("headers_expr %s: %w", hp.name, err)
		}
		if v == nil {
			continue
		}
		s, err := expression.Text(v)
		if err != nil {
			return "", nil, nil, fmt.Errorf("headers_expr %s: %w", hp.name, err)
		}
		if h == nil {
			h = http.Header{}
		}
		h.Set(hp.name, s)
	}
	value, err := record.JSON.Encode(r.Value)
	if err != nil {
		return "", nil, nil, fmt.Errorf("encode the value as JSON: %w", err)
	}
	if value == nil {
		value = []byte("null") // a tombstone
	}
	return u, h, value, nil
}

// permanentError is an answer that retrying will not change: the request's
// records go to on_error with err.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryError is a failure worth retrying; after, when set, is how long the
// server asked to wait (Retry-After).
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// send makes rq, retrying with exponential backoff and jitter (or the
// server's Retry-After) up to max_retries times.
func (k *Sink) send(ctx context.Context, rq *request) error {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     k.s.retryInitial,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         k.s.retryMax,
	}
	b.Reset()
	for attempt := 0; ; attempt++ {
		err := k.attempt(ctx, rq)
		var retry *retryError
		if !errors.As(err, &retry) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= k.s.maxRetries {
			return fmt.Errorf("after %d retries: %w", attempt, err)
		}
		wait := b.NextBackOff()
		if retry.after > 0 {
			wait = min(retry.after, k.s.maxRetryAfter)
		}
		k.log.Debug("http request failed; retrying", "error", err, "wait", wait, "records", len(rq.recs))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// excerptLen is how much of an error answer's body errors quote.
const excerptLen = 256

// attempt makes rq once.
func (k *Sink) attempt(ctx context.Context, rq *request) error {
	actx, cancel := context.WithTimeout(ctx, k.s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, k.s.method, rq.url, bytes.NewReader(rq.body))
	if err != nil {
		return &permanentError{k.scrub(fmt.Errorf("build %s request: %w", k.s.method, err))}
	}
	for name, vs := range k.s.headers {
		req.Header[name] = vs
	}
	for name, vs := range rq.header {
		req.Header[name] = vs
	}
	switch k.s.auth {
	case "basic":
		req.SetBasicAuth(k.s.username, k.s.password)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+k.s.token)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(ue.URL)
		}
		return &retryError{err: k.scrub(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read on so the connection is reused; the answer is not needed.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, excerptLen+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	err = k.scrub(&StatusError{Method: k.s.method, URL: redactURL(rq.url), Status: resp.StatusCode, Body: bodyExcerpt(excerpt)})
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500 {
		return &retryError{err: err, after: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return &permanentError{err}
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Method string
	URL    string // without credentials
	Status int
	Body   string // the start of the answer's body, control characters escaped
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// bodyExcerpt quotes the start of an answer's body, one line.
func bodyExcerpt(b []byte) string {
	cut := len(b) > excerptLen
	if cut {
		b = b[:excerptLen]
	}
	s := string(printable.Append(nil, bytes.TrimSpace(b)))
	if cut {
		s += "..."
	}
	return s
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURL drops a URL's password and query values, which may carry
// tokens, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for key := range q {
			q[key] = []string{redact.Mark}
		}
		u.RawQuery = strings.ReplaceAll(q.Encode(), url.QueryEscape(redact.Mark), redact.Mark)
	}
	return u.Redacted()
}

// scrub removes the credentials from err's message.
func (k *Sink) scrub(err error) error {
	msg := err.Error()
	clean := redact.Secrets(msg, k.secrets...)
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
