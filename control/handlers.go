package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// Limits on list sizes a client may ask for.
const (
	defaultLimit = 100
	maxLimit     = 1000
	maxBody      = 64 << 10
)

// StatusInfo is GET /api/v1/status.
type StatusInfo struct {
	Instance  string    `json:"instance"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	Pipelines []string  `json:"pipelines"`
	// ReadOnly is true when no token is configured: POSTs answer 403.
	ReadOnly bool `json:"read_only"`
}

func (s *Server) getStatus(w http.ResponseWriter, _ *http.Request) {
	configs, _ := s.snapshot()
	names := []string{}
	for _, c := range configs {
		if c != nil {
			names = append(names, c.Name)
		}
	}
	s.mu.RLock()
	readOnly := !s.hasTok
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, StatusInfo{
		Instance: s.opts.Instance, Version: s.opts.Version, Started: s.opts.Started,
		Pipelines: names, ReadOnly: readOnly,
	})
}

// Pipeline is one pipeline with its stages' status.
type Pipeline struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Delivery string `json:"delivery"`
	// BrokersEmbedded: the pipeline runs on the in-process broker, whose
	// data is gone when the runner stops.
	BrokersEmbedded bool                 `json:"brokers_embedded"`
	Stages          []engine.StageStatus `json:"stages"`
}

func (s *Server) getPipelines(w http.ResponseWriter, _ *http.Request) {
	configs, _ := s.snapshot()
	status := s.opts.Stages.Status()
	out := []Pipeline{}
	for _, c := range configs {
		if c == nil {
			continue
		}
		p := Pipeline{
			Name: c.Name, File: c.File, Delivery: string(c.Delivery),
			BrokersEmbedded: c.Kafka.Brokers == "embedded",
			Stages:          []engine.StageStatus{},
		}
		for _, st := range status {
			if st.Pipeline == c.Name {
				p.Stages = append(p.Stages, st)
			}
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getStages(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, nonNil(s.opts.Stages.Status()))
}

func (s *Server) getGraph(w http.ResponseWriter, r *http.Request) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, pipelineGraph(g, c.Name))
}

// StageDetail is GET /api/v1/pipelines/{p}/stages/{s}.
type StageDetail struct {
	Status  engine.StageStatus `json:"status"`
	History []Sample           `json:"history"`
}

func (s *Server) getStage(w http.ResponseWriter, r *http.Request) {
	st, err := s.stageStatus(r.PathValue("p"), r.PathValue("s"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, StageDetail{Status: st, History: s.history.of(st.Pipeline, st.Stage)})
}

func (s *Server) postPause(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, http.StatusOK, func(p, st string) error { return s.opts.Stages.Pause(p, st) })
}

func (s *Server) postResume(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, http.StatusOK, func(p, st string) error { return s.opts.Stages.Resume(p, st) })
}

func (s *Server) postRestart(w http.ResponseWriter, r *http.Request) {
	// A restart drains the stage; a client that gives up waiting must not
	// leave it half done.
	ctx := context.WithoutCancel(r.Context())
	s.control(w, r, http.StatusAccepted, func(p, st string) error { return s.opts.Stages.Restart(ctx, p, st) })
}

// control does something to a stage and answers with its status after.
func (s *Server) control(w http.ResponseWriter, r *http.Request, code int, do func(p, s string) error) {
	p, name := r.PathValue("p"), r.PathValue("s")
	if err := do(p, name); err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.stageStatus(p, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, code, st)
}

func (s *Server) postReload(w http.ResponseWriter, r *http.Request) {
	if s.opts.Reloader == nil {
		writeError(w, http.StatusServiceUnavailable, "this runner cannot reload its pipeline files")
		return
	}
	report, err := s.opts.Reloader.Reload(context.WithoutCancel(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func (s *Server) getTopics(w http.ResponseWriter, r *http.Request) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	cl, ok := s.cluster(w, r, c)
	if !ok {
		return
	}
	names := pipelineTopics(g, c.Name)
	topics, err := cl.Topics(r.Context(), names)
	if err != nil {
		s.fail(w, r, fmt.Errorf("pipeline %s: topics: %w", c.Name, err))
		return
	}
	for i := range topics {
		if t := g.Topic(topics[i].Name); t != nil {
			topics[i].Internal = t.Internal()
		}
		topics[i].Partitions = nonNil(topics[i].Partitions)
	}
	writeJSON(w, http.StatusOK, nonNil(topics))
}

func (s *Server) getRecords(w http.ResponseWriter, r *http.Request) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	topic := r.PathValue("t")
	if !slices.Contains(pipelineTopics(g, c.Name), topic) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pipeline %s has no topic %q", c.Name, topic))
		return
	}
	q, err := recordQuery(topic, r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cl, ok := s.cluster(w, r, c)
	if !ok {
		return
	}
	page, err := cl.Records(r.Context(), q)
	if err != nil {
		s.fail(w, r, fmt.Errorf("topic %s: records: %w", topic, err))
		return
	}
	page.Records = nonNil(page.Records)
	for i := range page.Records {
		rec := &page.Records[i]
		rec.Headers = nonNil(rec.Headers)
		if !q.Raw {
			rec.RawKey, rec.RawValue = nil, nil
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getGroups(w http.ResponseWriter, r *http.Request) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	cl, ok := s.cluster(w, r, c)
	if !ok {
		return
	}
	groups, err := cl.Groups(r.Context(), pipelineGroups(g, c.Name))
	if err != nil {
		s.fail(w, r, fmt.Errorf("pipeline %s: groups: %w", c.Name, err))
		return
	}
	writeJSON(w, http.StatusOK, nonNil(groups))
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	id := r.PathValue("g")
	if !slices.Contains(pipelineGroups(g, c.Name), id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pipeline %s has no consumer group %q", c.Name, id))
		return
	}
	cl, ok := s.cluster(w, r, c)
	if !ok {
		return
	}
	group, err := cl.Group(r.Context(), id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("group %s: %w", id, err))
		return
	}
	group.Members, group.Offsets = nonNil(group.Members), nonNil(group.Offsets)
	for i := range group.Members {
		group.Members[i].Assignment = nonNil(group.Members[i].Assignment)
	}
	writeJSON(w, http.StatusOK, group)
}

// DeadLetterTopic is a dead-letter topic the pipeline's stages write.
type DeadLetterTopic struct {
	Topic  string   `json:"topic"`
	Stages []string `json:"stages"`
	// Records in the topic now; -1 when the cluster is not browsed.
	Records int64 `json:"records"`
}

func (s *Server) getDeadLetterTopics(w http.ResponseWriter, r *http.Request) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	out := pipelineDeadLetters(g, c.Name)
	if len(out) > 0 && s.opts.Cluster != nil {
		cl, ok := s.cluster(w, r, c)
		if !ok {
			return
		}
		names := make([]string, len(out))
		for i, d := range out {
			names[i] = d.Topic
		}
		topics, err := cl.Topics(r.Context(), names)
		if err != nil {
			s.fail(w, r, fmt.Errorf("pipeline %s: dead-letter topics: %w", c.Name, err))
			return
		}
		for i := range out {
			out[i].Records = 0 // not created yet: nothing dead-lettered
			for _, t := range topics {
				if t.Name == out[i].Topic {
					out[i].Records = t.Records
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// deadLetterTopic checks the path names one of the pipeline's dead-letter
// topics.
func (s *Server) deadLetterTopic(w http.ResponseWriter, r *http.Request) (*pipeline.Config, string, bool) {
	c, g, ok := s.pipeline(w, r)
	if !ok {
		return nil, "", false
	}
	topic := r.PathValue("t")
	if !slices.ContainsFunc(pipelineDeadLetters(g, c.Name), func(d DeadLetterTopic) bool { return d.Topic == topic }) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no stage of pipeline %s sends dead letters to %q", c.Name, topic))
		return nil, "", false
	}
	return c, topic, true
}

func (s *Server) getLetters(w http.ResponseWriter, r *http.Request) {
	c, topic, ok := s.deadLetterTopic(w, r)
	if !ok {
		return
	}
	limit, err := limitParam(r.URL.Query().Get("limit"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	dl, ok := s.deadLetters(w, r, c)
	if !ok {
		return
	}
	letters, err := dl.Letters(r.Context(), topic, limit)
	if err != nil {
		s.fail(w, r, fmt.Errorf("dead letters of %s: %w", topic, err))
		return
	}
	for i := range letters {
		letters[i].Headers = nonNil(letters[i].Headers)
	}
	writeJSON(w, http.StatusOK, nonNil(letters))
}

func (s *Server) postReplay(w http.ResponseWriter, r *http.Request) {
	c, topic, ok := s.deadLetterTopic(w, r)
	if !ok {
		return
	}
	var req ReplayRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.To == "" {
		s.fail(w, r, badQuery("replay needs \"to\": the topic the dead letters go to"))
		return
	}
	req.From = topic
	dl, ok := s.deadLetters(w, r, c)
	if !ok {
		return
	}
	// Like a restart, a replay runs to its end once asked for: each batch
	// is a transaction, and a cut one is simply not replayed.
	res, err := dl.Replay(context.WithoutCancel(r.Context()), req)
	if err != nil {
		s.fail(w, r, fmt.Errorf("replay %s to %s: %w", topic, req.To, err))
		return
	}
	res.DryRun = req.DryRun
	writeJSON(w, http.StatusOK, res)
}

// decodeBody reads a JSON body into v, strictly.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badQuery("the request needs a JSON body")
		}
		return badQuery("request body: %w", err)
	}
	return nil
}

func limitParam(v string) (int, error) {
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badQuery("limit %q: want a number from 1 to %d", v, maxLimit)
	}
	return n, nil
}

// nonNil makes empty lists [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
