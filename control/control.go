// Package control serves the control API under /api/v1/ and the web
// console at /: the stages of a live run and their status, pause, resume
// and restart, config reload, and read-only views of the pipelines'
// topics, records, consumer groups and dead letters, with dead-letter
// replay.
//
// Reads are open. Every POST needs "Authorization: Bearer <token>"; with no
// token configured the API is read-only. Nothing it answers holds a secret:
// stage configs come redacted from the engine and broker settings are never
// shown.
package control

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/conveyor-dev/conveyor/control/console"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/pipeline/graph"
)

// TokenEnv is the environment variable the runner reads the console token
// from; read-only answers name it.
const TokenEnv = "CONVEYOR_CONSOLE_TOKEN"

// Defaults for Options.
const (
	DefaultSampleEvery   = time.Second
	DefaultHistoryWindow = 5 * time.Minute
)

// Options configure a Server.
type Options struct {
	Instance string    // this runner's instance id
	Version  string    // the runner's version
	Started  time.Time // when the run started
	// Token is what POSTs must present as a Bearer token; "" makes the API
	// read-only.
	Token string

	Stages   Stages   // required
	Reloader Reloader // nil: reload answers 503
	// Configs are the loaded pipelines; Connectors describes their
	// connectors to the stage graph (the runner's registry).
	Configs    []*pipeline.Config
	Connectors graph.Connectors
	// Cluster and DeadLetters give a pipeline's cluster browser and
	// dead-letter reader; nil answers 503 on the routes that need them.
	Cluster     func(p *pipeline.Config) (Cluster, error)
	DeadLetters func(p *pipeline.Config) (DeadLetters, error)

	Log *slog.Logger
	// SampleEvery is how often Run samples stage counters for the stage
	// history, HistoryWindow how much of it is kept.
	SampleEvery   time.Duration
	HistoryWindow time.Duration
}

// Server is the control API and the console. It is an http.Handler; Run
// keeps the stage history.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	history *history
	api     []string // "METHOD /path" of every API route, for the docs test

	mu      sync.RWMutex
	configs []*pipeline.Config
	graph   *graph.Graph
	token   [sha256.Size]byte
	hasTok  bool
}

// New makes a Server. Call Run to keep stage history.
func New(o Options) *Server {
	o.SampleEvery = cmp.Or(o.SampleEvery, DefaultSampleEvery)
	o.HistoryWindow = cmp.Or(o.HistoryWindow, DefaultHistoryWindow)
	s := &Server{
		opts:    o,
		log:     cmp.Or(o.Log, slog.New(slog.DiscardHandler)),
		mux:     http.NewServeMux(),
		history: newHistory(int(o.HistoryWindow / o.SampleEvery)),
	}
	s.SetConfigs(o.Configs)
	s.SetToken(o.Token)
	s.routes()
	return s
}

// SetConfigs replaces the pipelines after a reload.
func (s *Server) SetConfigs(configs []*pipeline.Config) {
	g := graph.Build(configs, s.opts.Connectors)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs, s.graph = configs, g
}

// SetToken replaces the token mutating calls need; "" makes the API
// read-only. Only a hash is kept, so comparisons take the same time
// whatever the length of what is presented.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.hasTok = sha256.Sum256([]byte(token)), token != ""
}

// Run samples the stages' counters every SampleEvery for the history the
// stage endpoint serves, until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.SampleEvery)
	defer t.Stop()
	s.history.sample(time.Now(), s.opts.Stages.Status())
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.history.sample(now, s.opts.Stages.Status())
		}
	}
}

// ServeHTTP serves the API and the console.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	allow := map[string][]string{} // path pattern -> methods
	handle := func(method, path string, h http.HandlerFunc) {
		s.mux.HandleFunc(method+" "+path, h)
		allow[path] = append(allow[path], method)
		s.api = append(s.api, method+" "+path)
	}
	handle("GET", "/api/v1/status", s.getStatus)
	handle("GET", "/api/v1/pipelines", s.getPipelines)
	handle("GET", "/api/v1/stages", s.getStages)
	handle("GET", "/api/v1/pipelines/{p}/graph", s.getGraph)
	handle("GET", "/api/v1/pipelines/{p}/stages/{s}", s.getStage)
	handle("POST", "/api/v1/pipelines/{p}/stages/{s}/pause", s.mutating(s.postPause))
	handle("POST", "/api/v1/pipelines/{p}/stages/{s}/resume", s.mutating(s.postResume))
	handle("POST", "/api/v1/pipelines/{p}/stages/{s}/restart", s.mutating(s.postRestart))
	handle("POST", "/api/v1/reload", s.mutating(s.postReload))
	handle("GET", "/api/v1/pipelines/{p}/topics", s.getTopics)
	handle("GET", "/api/v1/pipelines/{p}/topics/{t}/records", s.getRecords)
	handle("GET", "/api/v1/pipelines/{p}/groups", s.getGroups)
	handle("GET", "/api/v1/pipelines/{p}/groups/{g}", s.getGroup)
	handle("GET", "/api/v1/pipelines/{p}/deadletters", s.getDeadLetterTopics)
	handle("GET", "/api/v1/pipelines/{p}/deadletters/{t}", s.getLetters)
	handle("POST", "/api/v1/pipelines/{p}/deadletters/{t}/replay", s.mutating(s.postReplay))
	// The same paths with another method: 405 in JSON, like every API error.
	for path, methods := range allow {
		allowed := strings.Join(methods, ", ")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+allowed)
		})
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	page := console.Handler()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// mutating lets a request through only with the configured token.
func (s *Server) mutating(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.RLock()
		want, has := s.token, s.hasTok
		s.mu.RUnlock()
		if !has {
			writeError(w, http.StatusForbidden, "read-only: no console token is configured; set "+TokenEnv+" (or console.token in a pipeline file) to allow changes")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="conveyor"`)
			writeError(w, http.StatusUnauthorized, "a valid token is needed: send Authorization: Bearer <token>")
			return
		}
		h(w, r)
	}
}

// snapshot is the pipelines and graph as of now.
func (s *Server) snapshot() ([]*pipeline.Config, *graph.Graph) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.configs, s.graph
}

// pipeline finds the pipeline named in the path, or answers 404.
func (s *Server) pipeline(w http.ResponseWriter, r *http.Request) (*pipeline.Config, *graph.Graph, bool) {
	name := r.PathValue("p")
	configs, g := s.snapshot()
	for _, c := range configs {
		if c != nil && c.Name == name {
			return c, g, true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no pipeline named %q", name))
	return nil, nil, false
}

func (s *Server) cluster(w http.ResponseWriter, r *http.Request, p *pipeline.Config) (Cluster, bool) {
	if s.opts.Cluster == nil {
		writeError(w, http.StatusServiceUnavailable, "this runner does not browse its cluster")
		return nil, false
	}
	c, err := s.opts.Cluster(p)
	if err != nil {
		s.fail(w, r, fmt.Errorf("pipeline %s: cluster: %w", p.Name, err))
		return nil, false
	}
	return c, true
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request, p *pipeline.Config) (DeadLetters, bool) {
	if s.opts.DeadLetters == nil {
		writeError(w, http.StatusServiceUnavailable, "this runner does not read dead letters")
		return nil, false
	}
	d, err := s.opts.DeadLetters(p)
	if err != nil {
		s.fail(w, r, fmt.Errorf("pipeline %s: dead letters: %w", p.Name, err))
		return nil, false
	}
	return d, true
}

// stageStatus is the status of one stage of the run.
func (s *Server) stageStatus(p, name string) (engine.StageStatus, error) {
	for _, st := range s.opts.Stages.Status() {
		if st.Pipeline == p && st.Stage == name {
			return st, nil
		}
	}
	return engine.StageStatus{}, fmt.Errorf("%s/%s: %w", p, name, engine.ErrNoStage)
}
