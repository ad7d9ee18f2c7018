package serde

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"golang.org/x/sync/singleflight"

	"github.com/conveyor-dev/conveyor/internal/redact"
)

// ErrNotFound marks an unknown schema id or subject (the registry's 404).
var ErrNotFound = errors.New("not found in the schema registry")

// errUnusable marks a registered schema this package cannot use (an
// unsupported feature, or text that does not parse).
var errUnusable = errors.New("unusable schema")

// RegistryConfig says where the schema registry is and how to log in.
type RegistryConfig struct {
	// URL is the registry's base URL (several may be given, comma
	// separated), e.g. http://registry:8081 or, for Apicurio,
	// http://registry:8080/apis/ccompat/v7. A mock:// URL is an in-process
	// registry for tests, empty at the start and private to one Registry
	// value: two Registries with the same mock URL share nothing.
	URL string
	// Username and Password log in with HTTP basic auth.
	Username, Password string
	// BearerToken logs in with a static bearer token instead.
	BearerToken string
}

// Registry is a Confluent-compatible schema registry client: it caches
// parsed schemas by id, and waits out an unreachable registry. It is safe
// for concurrent use.
//
// Unavailability (refused or dropped connections, timeouts, HTTP 408, 429
// and 5xx) is retried with backoff until the call's context ends; Health
// says why meanwhile, and a warning is logged at most every 30 seconds. A
// 404 returns at once, wrapping ErrNotFound; so do other answers (a 409 or
// 422 about the schema, a 401). Errors and logs never hold the password or
// token.
type Registry struct {
	client  schemaregistry.Client
	log     *slog.Logger
	secrets []string
	mock    bool

	// sem lets one request at a time into the client: its REST layer
	// writes the auth header into a map shared by all requests. Schemas
	// are cached, so requests are few.
	sem chan struct{}

	ids    sync.Map // int -> payloadSchema
	flight singleflight.Group

	mu       sync.Mutex
	health   error
	lastWarn time.Time
	down     bool

	// Retry pacing; tests shorten it.
	retryInitial, retryMax, warnEvery time.Duration
}

// Timeouts of one request, short enough that a hung registry is noticed
// and retried.
const (
	registryConnectTimeout = 10 * time.Second
	registryRequestTimeout = 30 * time.Second
)

// NewRegistry makes a client for the registry at cfg.URL. It does not
// contact the registry: the first call does.
func NewRegistry(cfg RegistryConfig, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.URL == "" {
		return nil, errors.New("schema registry url: empty")
	}
	secrets := []string{cfg.Password, cfg.BearerToken}
	var urlUser bool
	for raw := range strings.SplitSeq(cfg.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("schema registry url: %s", redact.Secrets(err.Error(), secrets...))
		}
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, base64.StdEncoding.EncodeToString([]byte(u.User.String())))
			urlUser = true
		}
		switch u.Scheme {
		case "http", "https", "mock":
		default:
			return nil, fmt.Errorf("schema registry url %q: want http://, https:// or mock://", redact.Secrets(u.Redacted(), secrets...))
		}
	}
	if cfg.BearerToken != "" && (cfg.Username != "" || cfg.Password != "") {
		return nil, errors.New("schema registry: give either a username and password or a bearer token, not both")
	}

	conf := schemaregistry.NewConfig(cfg.URL)
	switch {
	case cfg.Username != "" || cfg.Password != "":
		// The header's encoding of the password is as secret as it.
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)))
		conf.BasicAuthUserInfo = cfg.Username + ":" + cfg.Password
		conf.BasicAuthCredentialsSource = "USER_INFO"
	case cfg.BearerToken != "":
		conf.BearerAuthToken = cfg.BearerToken
		conf.BearerAuthCredentialsSource = "STATIC_TOKEN"
	case urlUser:
		conf.BasicAuthCredentialsSource = "URL"
	}
	// We retry, with the caller's context; the client's own retries
	// would sleep past it.
	conf.MaxRetries = 0
	conf.HTTPClient = &http.Client{
		Transport: unavailableTransport{base: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: registryConnectTimeout}).DialContext,
			TLSHandshakeTimeout: registryConnectTimeout,
			MaxIdleConnsPerHost: 2,
		}},
		Timeout: registryRequestTimeout,
	}
	client, err := schemaregistry.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %s", redact.Secrets(err.Error(), secrets...))
	}
	return &Registry{
		client:       client,
		log:          log,
		secrets:      secrets,
		mock:         strings.HasPrefix(cfg.URL, "mock://"),
		sem:          make(chan struct{}, 1),
		retryInitial: 250 * time.Millisecond,
		retryMax:     30 * time.Second,
		warnEvery:    30 * time.Second,
	}, nil
}

// unavailableTransport turns responses that mean "try again later" into
// errors, whatever their body: the client would otherwise try to read a
// proxy's HTML 502 page as a registry error and report a JSON syntax
// error.
type unavailableTransport struct{ base http.RoundTripper }

// statusError is an HTTP status that means the registry is unavailable.
type statusError struct {
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
}

func (t unavailableTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
		_ = resp.Body.Close()
		return nil, &statusError{code: c, retryAfter: after}
	}
	return resp, nil
}

// Health is nil when the last call reached the registry (or none was
// made yet), else why it did not: the registry is unreachable, or it
// refused our credentials.
func (r *Registry) Health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health
}

// outcome is how a call to the client went.
type outcome int

const (
	reached     outcome = iota // any answer from the registry but the ones below
	notFound                   // 404
	refused                    // 401 or 403
	unavailable                // not reached, or it said to try later
)

func (r *Registry) classify(err error) outcome {
	var se *statusError
	var re *rest.Error
	var ue *url.Error
	switch {
	case err == nil:
		return reached
	case errors.As(err, &se):
		return unavailable
	case errors.As(err, &re):
		switch {
		case re.Code == 404 || re.Code/100 == 404:
			return notFound
		case re.Code == 401 || re.Code == 403 || re.Code/100 == 401 || re.Code/100 == 403:
			return refused
		case re.Code >= 500 && re.Code < 600 || re.Code/100 >= 500 && re.Code/100 < 600:
			return unavailable
		}
		return reached
	case errors.As(err, &ue):
		if r.mock {
			// The mock's errors are url.Errors saying "Subject Not Found".
			if strings.Contains(strings.ToLower(ue.Err.Error()), "not found") {
				return notFound
			}
			return reached
		}
		return unavailable // a transport failure: refused, reset, timed out, DNS
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unavailable
	}
	return reached
}

// call runs one client call, letting ctx end the wait though the client
// takes none: an abandoned request finishes in the background within the
// request timeout.
func (r *Registry) call(ctx context.Context, fn func() error) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-r.sem }()
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs fn, retrying while the registry is unavailable. what names the
// request in errors and logs.
func (r *Registry) do(ctx context.Context, what string, fn func() error) error {
	var last error // the last unavailability, for the error when ctx ends
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = r.retryInitial, r.retryMax
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := r.call(ctx, fn)
		if ctx.Err() != nil && err == ctx.Err() {
			return struct{}{}, backoff.Permanent(err)
		}
		switch r.classify(err) {
		case reached:
			r.setHealth(nil)
			if err != nil {
				return struct{}{}, backoff.Permanent(r.wrap(what, nil, err))
			}
			return struct{}{}, nil
		case notFound:
			r.setHealth(nil)
			return struct{}{}, backoff.Permanent(r.wrap(what, ErrNotFound, err))
		case refused:
			err = r.wrap(what, nil, err)
			r.setHealth(err)
			return struct{}{}, backoff.Permanent(err)
		}
		last = r.wrap(what, ErrUnavailable, err)
		r.setHealth(last)
		var se *statusError
		if errors.As(err, &se) && se.retryAfter > 0 {
			return struct{}{}, backoff.RetryAfter(int(min(se.retryAfter, r.retryMax) / time.Second))
		}
		return struct{}{}, last
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(error, time.Duration) {
		r.warn(last)
	}))
	if err != nil && ctx.Err() != nil && last != nil {
		// Waited for the registry until ctx ended: both are the reason.
		return fmt.Errorf("%w (waiting since: %w)", ctx.Err(), last)
	}
	return err
}

// wrap makes the error of a call: what failed, the kind (a sentinel, or
// nil) and the client's message with secrets taken out.
func (r *Registry) wrap(what string, kind error, err error) error {
	msg := redact.Secrets(err.Error(), r.secrets...)
	if kind == nil {
		return fmt.Errorf("schema registry: %s: %s", what, msg)
	}
	return fmt.Errorf("schema registry: %s: %w: %s", what, kind, msg)
}

func (r *Registry) setHealth(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && r.down {
		r.log.Info("schema registry reachable again")
	}
	r.health = err
	r.down = err != nil
}

// warn logs an unavailability, at most every warnEvery.
func (r *Registry) warn(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil || time.Since(r.lastWarn) < r.warnEvery {
		return
	}
	r.lastWarn = time.Now()
	r.log.Warn("schema registry unavailable, retrying", "err", err.Error())
}

func schemaInfo(s Schema) schemaregistry.SchemaInfo {
	info := schemaregistry.SchemaInfo{Schema: s.Text()}
	if s.Format() != Avro {
		// Avro is the default, and some registries predate the field.
		info.SchemaType = s.Format().SchemaType()
	}
	return info
}

func formatOf(schemaType string) (Format, error) {
	switch strings.ToUpper(schemaType) {
	case "", "AVRO":
		return Avro, nil
	case "JSON":
		return JSONSchema, nil
	case "PROTOBUF":
		return Protobuf, nil
	}
	return "", fmt.Errorf("unknown schema type %q", schemaType)
}

// ByID returns the schema with the given id; parsed schemas are cached.
func (r *Registry) ByID(ctx context.Context, id int) (Schema, error) {
	return r.byID(ctx, id)
}

func (r *Registry) byID(ctx context.Context, id int) (payloadSchema, error) {
	for {
		s, err := r.fetchID(ctx, id)
		// The fetch ran with another caller's ctx, which ended: ours
		// has not, so we fetch again.
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue
		}
		return s, err
	}
}

func (r *Registry) fetchID(ctx context.Context, id int) (payloadSchema, error) {
	if s, ok := r.ids.Load(id); ok {
		return s.(payloadSchema), nil
	}
	// One fetch per id however many records wait for it.
	v, err, _ := r.flight.Do(strconv.Itoa(id), func() (any, error) {
		if s, ok := r.ids.Load(id); ok {
			return s, nil
		}
		var info schemaregistry.SchemaInfo
		err := r.do(ctx, fmt.Sprintf("schema id %d", id), func() error {
			subject := ""
			if r.mock {
				// The mock files ids under their subject.
				svs, err := r.client.GetSubjectsAndVersionsByID(id)
				if err != nil {
					return err
				}
				subject = svs[0].Subject
			}
			var err error
			info, err = r.client.GetBySubjectAndID(subject, id)
			return err
		})
		if err != nil {
			return nil, err
		}
		s, err := parseInfo(info)
		if err != nil {
			return nil, fmt.Errorf("schema registry: schema id %d: %w: %w", id, errUnusable, err)
		}
		r.ids.Store(id, s)
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(payloadSchema), nil
}

func parseInfo(info schemaregistry.SchemaInfo) (payloadSchema, error) {
	f, err := formatOf(info.SchemaType)
	if err != nil {
		return nil, err
	}
	if len(info.References) > 0 {
		return nil, fmt.Errorf("%s schema with references: not supported", f)
	}
	return parse(f, info.Schema)
}

// Latest returns the latest version of subject's schema and its id.
func (r *Registry) Latest(ctx context.Context, subject string) (Schema, int, error) {
	s, id, err := r.latest(ctx, subject)
	if err != nil {
		return nil, 0, err
	}
	return s, id, nil
}

func (r *Registry) latest(ctx context.Context, subject string) (payloadSchema, int, error) {
	var md schemaregistry.SchemaMetadata
	err := r.do(ctx, "latest schema of subject "+subject, func() error {
		// The client keeps "latest" forever; we want the registry's.
		if err := r.client.ClearLatestCaches(); err != nil {
			return err
		}
		var err error
		md, err = r.client.GetLatestSchemaMetadata(subject)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if s, ok := r.ids.Load(md.ID); ok {
		return s.(payloadSchema), md.ID, nil
	}
	s, err := parseInfo(md.SchemaInfo)
	if err != nil {
		return nil, 0, fmt.Errorf("schema registry: subject %s version %d (id %d): %w: %w", subject, md.Version, md.ID, errUnusable, err)
	}
	r.ids.Store(md.ID, s)
	return s, md.ID, nil
}

// Register registers s under subject and returns its id; a schema already
// registered there (as the same text) keeps its id.
func (r *Registry) Register(ctx context.Context, subject string, s Schema) (int, error) {
	var id int
	err := r.do(ctx, "register a "+string(s.Format())+" schema under subject "+subject, func() (err error) {
		id, err = r.client.Register(subject, schemaInfo(s), false)
		return err
	})
	if err != nil {
		return 0, err
	}
	if ps, ok := s.(payloadSchema); ok {
		r.ids.LoadOrStore(id, ps)
	}
	return id, nil
}

// Compatibility is what the registry says of a schema against a subject.
type Compatibility struct {
	Level    string // the subject's compatibility level, else the global one; "" if neither is known
	OK       bool   // the schema may be registered under the subject
	Versions int    // how many versions the subject has
}

// Compatible asks the registry whether s may be registered under subject.
// A subject with no versions takes any schema. (The mock:// registry
// cannot test compatibility: against a subject with versions it fails.)
func (r *Registry) Compatible(ctx context.Context, subject string, s Schema) (Compatibility, error) {
	var c Compatibility
	var versions []int
	err := r.do(ctx, "versions of subject "+subject, func() (err error) {
		versions, err = r.client.GetAllVersions(subject)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, err
	}
	c.Versions = len(versions)

	var level schemaregistry.Compatibility
	err = r.do(ctx, "compatibility level of subject "+subject, func() (err error) {
		level, err = r.client.GetCompatibility(subject)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		err = r.do(ctx, "global compatibility level", func() (err error) {
			level, err = r.client.GetDefaultCompatibility()
			return err
		})
	}
	switch {
	case err == nil:
		c.Level = level.String()
	case !errors.Is(err, ErrNotFound):
		return c, err
	}

	if c.Versions == 0 {
		c.OK = true
		return c, nil
	}
	info := schemaInfo(s)
	err = r.do(ctx, "test compatibility with subject "+subject, func() (err error) {
		c.OK, err = r.client.TestSubjectCompatibility(subject, info)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		// A registry without the test against all versions: test against
		// the latest.
		latest := versions[len(versions)-1]
		err = r.do(ctx, "test compatibility with subject "+subject, func() (err error) {
			c.OK, err = r.client.TestCompatibility(subject, latest, info)
			return err
		})
	}
	if err != nil {
		return c, err
	}
	return c, nil
}
