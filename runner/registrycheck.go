package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/serde"
)

// registryTimeout bounds how long check waits for an unreachable registry.
const registryTimeout = 20 * time.Second

// registryTypes checks against a schema registry: topics without a schema
// file get their types from their subjects, and schemas that stages write
// must be compatible with what the subjects hold.
func (c *checkCmd) registryTypes(pipes []*pipeline.Config, log *slog.Logger, notes *[]string) pipeline.Errors {
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	cfg := serde.RegistryConfig{URL: c.Registry}
	for _, p := range pipes {
		if r := p.SchemaRegistry; r.URL == c.Registry {
			cfg.Username, cfg.Password, cfg.BearerToken = r.BasicAuth.Username, r.BasicAuth.Password, r.BearerToken
		}
	}
	reg, err := serde.NewRegistry(cfg, log)
	var errs pipeline.Errors
	if err != nil {
		errs.Add(pipeline.Pos{}, "", fmt.Errorf("--registry: %w", err))
		return errs
	}
	rc := &registryCheck{ctx: ctx, reg: reg, notes: notes}
	for _, p := range pipes {
		if err := rc.pipeline(p, &errs); err != nil {
			errs.Add(pipeline.Pos{}, "", fmt.Errorf("--registry %s: %w", c.Registry, err))
			break
		}
	}
	return errs
}

type registryCheck struct {
	ctx   context.Context
	reg   *serde.Registry
	notes *[]string
}

// pipeline checks one file's topics. A non-nil error is the registry
// failing, which ends the check.
func (rc *registryCheck) pipeline(p *pipeline.Config, errs *pipeline.Errors) error {
	type use struct {
		topic string
		stage *pipeline.Stage
	}
	var reads, writes []use
	for i := range p.Sources {
		s := &p.Sources[i]
		writes = append(writes, use{s.To, &s.Stage})
	}
	for i := range p.Transforms {
		t := &p.Transforms[i]
		for _, f := range t.From {
			reads = append(reads, use{f, &t.Stage})
		}
		for _, st := range t.Steps {
			switch {
			case st.Join != nil:
				reads = append(reads, use{st.Join.Table, &t.Stage})
			case st.JoinTable != nil:
				reads = append(reads, use{st.JoinTable.With, &t.Stage})
			}
		}
		writes = append(writes, use{t.To, &t.Stage})
	}
	for i := range p.Sinks {
		s := &p.Sinks[i]
		for _, f := range s.From {
			reads = append(reads, use{f, &s.Stage})
		}
	}
	for _, u := range reads {
		if !p.TopicFormat(u.topic, u.stage).Registered() || p.Topics[u.topic].Value != nil || p.HasValueType(u.topic) {
			continue
		}
		subject := serde.ValueSubject(u.topic)
		s, _, err := rc.reg.Latest(rc.ctx, subject)
		switch {
		case errors.Is(err, serde.ErrNotFound):
			*rc.notes = append(*rc.notes, fmt.Sprintf("%s: topic %s: subject %s is not registered: its fields are unchecked", p.File, u.topic, subject))
			continue
		case err != nil:
			return err
		}
		p.SetValueType(u.topic, s.Type())
	}
	checked := map[string]bool{}
	for _, u := range writes {
		decl := p.Topics[u.topic]
		if u.topic == "" || checked[u.topic] || decl.Value == nil || !p.TopicFormat(u.topic, u.stage).Registered() {
			continue
		}
		checked[u.topic] = true
		subject := serde.ValueSubject(u.topic)
		c, err := rc.reg.Compatible(rc.ctx, subject, decl.Value)
		if err != nil {
			return err
		}
		if !c.OK {
			path := "topics." + u.topic + ".value_schema"
			errs.Addf(p.Positions.Of(path, decl.Pos), path, "%s is not compatible with the %d version(s) registered for subject %s (compatibility %s): stage %s would fail to register it", decl.ValueSchema, c.Versions, subject, c.Level, u.stage.Name)
		}
	}
	return nil
}
