package httpsink

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Config is the `http:` block of a sink, as written in the pipeline file.
type Config struct {
	URL           string                   `yaml:"url" defaultdoc:"none" example:"https://api.example.com/events" doc:"the URL every request goes to; set url or url_expr"`
	URLExpr       *pipeline.Expr           `yaml:"url_expr" defaultdoc:"none" example:"\"https://api.example.com/users/\" + to_string(user_id)" doc:"an expression over the record giving its URL; in batched bodies records with the same URL and headers share a request"`
	Method        string                   `yaml:"method" default:"POST" enum:"POST,PUT" enumof:"method" doc:"the HTTP method"`
	Body          string                   `yaml:"body" default:"single" enum:"single,json_array,ndjson" enumof:"body" doc:"single: one request per record, its value as JSON; json_array: a JSON array of values per request; ndjson: one value per line per request (application/x-ndjson)"`
	BatchSize     int                      `yaml:"batch_size" default:"100" doc:"batched bodies: most records per request"`
	BatchBytes    pipeline.Size            `yaml:"batch_bytes" default:"1MiB" doc:"batched bodies: most bytes of values per request (a larger record goes alone)"`
	FlushInterval pipeline.Duration        `yaml:"flush_interval" default:"10ms" doc:"how long the stage waits to fill a batch before it sends what it has"`
	Headers       map[string]string        `yaml:"headers" defaultdoc:"none" example:"{X-Source: conveyor}" doc:"headers of every request; Content-Type defaults to application/json (application/x-ndjson for ndjson)"`
	HeadersExpr   map[string]pipeline.Expr `yaml:"headers_expr" defaultdoc:"none" example:"{X-Request-Id: _key}" doc:"headers from expressions over the record; a null result leaves the header out"`
	Auth          string                   `yaml:"auth" default:"none" enum:"none,basic,bearer" enumof:"auth" doc:"none, basic (username and password) or bearer (bearer_token); credentials never appear in logs or errors"`
	Username      string                   `yaml:"username" defaultdoc:"none" doc:"auth: basic: the user name"`
	Password      string                   `yaml:"password" defaultdoc:"none" example:"${API_PASSWORD}" doc:"auth: basic: the password"`
	BearerToken   string                   `yaml:"bearer_token" defaultdoc:"none" example:"${API_TOKEN}" doc:"auth: bearer: the token sent as Authorization: Bearer TOKEN"`
	Timeout       pipeline.Duration        `yaml:"timeout" default:"10s" doc:"longest wait for one request's answer, body included; a timeout is retried"`
	MaxInFlight   int                      `yaml:"max_in_flight" default:"8" doc:"most requests under way at once"`
	MaxRetries    int                      `yaml:"max_retries" default:"5" doc:"retries of a request after 429, 408, 5xx or a network error, with exponential backoff and jitter, before the stage takes the write as failed and retries it itself (committing nothing meanwhile)"`
	RetryInitial  pipeline.Duration        `yaml:"retry_initial" default:"100ms" doc:"first backoff between retries"`
	RetryMax      pipeline.Duration        `yaml:"retry_max" default:"10s" doc:"longest backoff between retries; a Retry-After answer (seconds or an HTTP date) is waited for instead, up to max_retry_after"`
	MaxRetryAfter pipeline.Duration        `yaml:"max_retry_after" default:"5m" doc:"longest Retry-After honoured; a longer one is cut to this"`
}

// Body formats.
const (
	bodySingle    = "single"
	bodyJSONArray = "json_array"
	bodyNDJSON    = "ndjson"
)

// header is one header computed from the record.
type header struct {
	name string
	prog *expression.Program
}

// settings is a checked config.
type settings struct {
	url           string
	urlProg       *expression.Program
	method        string
	body          string
	batchSize     int
	batchBytes    int64
	flushInterval time.Duration
	headers       http.Header
	headerProgs   []header
	auth          string
	username      string
	password      string
	token         string
	timeout       time.Duration
	maxInFlight   int
	maxRetries    int
	retryInitial  time.Duration
	retryMax      time.Duration
	maxRetryAfter time.Duration
	vars          map[string]any
}

// parse decodes and checks the block without touching the network; every
// problem is reported at once.
func parse(c pipeline.Connector, env connectors.Env) (*settings, error) {
	var cfg Config
	var errs pipeline.Errors
	if err := pipeline.Decode(c, env.Lookup, &cfg); err != nil {
		return nil, err // the checks below would repeat it
	}
	opts := expression.Options{Vars: env.Vars}
	at := func(key string) (pipeline.Pos, string) { return position(c, key), c.Path + "." + key }
	add := func(key, format string, args ...any) {
		pos, path := at(key)
		errs.Addf(pos, path, format, args...)
	}
	s := &settings{
		url: cfg.URL, method: cfg.Method, body: cfg.Body, batchSize: cfg.BatchSize, batchBytes: int64(cfg.BatchBytes),
		flushInterval: time.Duration(cfg.FlushInterval), auth: cfg.Auth, username: cfg.Username, password: cfg.Password,
		token: cfg.BearerToken, timeout: time.Duration(cfg.Timeout), maxInFlight: cfg.MaxInFlight, maxRetries: cfg.MaxRetries,
		retryInitial: time.Duration(cfg.RetryInitial), retryMax: time.Duration(cfg.RetryMax),
		maxRetryAfter: time.Duration(cfg.MaxRetryAfter), vars: env.Vars, headers: http.Header{},
	}
	switch {
	case cfg.URL != "" && cfg.URLExpr != nil:
		add("url", "set url or url_expr, not both")
	case cfg.URLExpr != nil:
		if cfg.URLExpr.Src != "" {
			p, err := expression.Compile(*cfg.URLExpr, opts, expression.Any)
			if err != nil {
				errs.Add(cfg.URLExpr.Pos, cfg.URLExpr.Path, err)
			}
			s.urlProg = p
		}
	case cfg.URL != "":
		if err := checkURL(cfg.URL); err != nil {
			add("url", "%v", err)
		}
	default:
		add("url", "set url (a fixed URL) or url_expr (an expression over the record)")
	}
	for name, v := range cfg.Headers {
		s.headers.Set(name, v)
	}
	for name, e := range cfg.HeadersExpr {
		if e.Src == "" {
			continue // pipeline.Decode reported it
		}
		p, err := expression.Compile(e, opts, expression.Any)
		if err != nil {
			errs.Add(e.Pos, e.Path, err)
			continue
		}
		s.headerProgs = append(s.headerProgs, header{name: http.CanonicalHeaderKey(name), prog: p})
	}
	sort.Slice(s.headerProgs, func(i, j int) bool { return s.headerProgs[i].name < s.headerProgs[j].name })
	if s.headers.Get("Content-Type") == "" {
		s.headers.Set("Content-Type", "application/json")
		if cfg.Body == bodyNDJSON {
			s.headers.Set("Content-Type", "application/x-ndjson")
		}
	}
	switch cfg.Auth {
	case "basic":
		if cfg.Username == "" {
			add("username", "auth: basic needs username")
		}
	case "bearer":
		if cfg.BearerToken == "" {
			add("bearer_token", "auth: bearer needs bearer_token")
		}
	default:
		if cfg.Username != "" || cfg.Password != "" || cfg.BearerToken != "" {
			add("auth", "credentials are set but auth is none: set auth: basic or auth: bearer")
		}
	}
	if cfg.Auth != "none" && (s.headers.Get("Authorization") != "" || slices.ContainsFunc(s.headerProgs, func(h header) bool { return h.name == "Authorization" })) {
		add("auth", "auth: %s sets the Authorization header; do not set it in headers too", cfg.Auth)
	}
	positive := func(key string, v int64) {
		if v < 1 {
			add(key, "must be at least 1")
		}
	}
	positive("batch_size", int64(cfg.BatchSize))
	positive("batch_bytes", int64(cfg.BatchBytes))
	positive("max_in_flight", int64(cfg.MaxInFlight))
	positive("timeout", int64(cfg.Timeout))
	positive("retry_initial", int64(cfg.RetryInitial))
	if cfg.RetryMax < cfg.RetryInitial {
		add("retry_max", "must be at least retry_initial (%s)", time.Duration(cfg.RetryInitial))
	}
	if cfg.MaxRetries < 0 {
		add("max_retries", "must not be negative")
	}
	if cfg.FlushInterval < 0 {
		add("flush_interval", "must not be negative")
	}
	if cfg.MaxRetryAfter < 0 {
		add("max_retry_after", "must not be negative")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// position is where key's value is in the block, or the block's position
// when key is absent.
func position(c pipeline.Connector, key string) pipeline.Pos {
	if n := c.Node; n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				v := n.Content[i+1]
				return pipeline.Pos{File: c.Pos.File, Line: v.Line, Col: v.Column}
			}
		}
	}
	return c.Pos
}

// checkURL accepts absolute http and https URLs.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q: want an http:// or https:// URL", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", u.Redacted())
	}
	return nil
}

// secrets lists what is redacted from errors: the credentials, the
// passwords of URLs, and the values of headers whose names say they hold
// one (X-Api-Key, Cookie, ...).
func (s *settings) secrets() []string {
	out := []string{s.password, s.token}
	if u, err := url.Parse(s.url); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
		}
	}
	for name, vs := range s.headers {
		if secretHeader(name) {
			out = append(out, vs...)
		}
	}
	return out
}

func secretHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "key", "token", "secret", "pass", "cookie", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
