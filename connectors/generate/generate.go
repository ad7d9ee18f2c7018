// Package generate is a source that makes records from an expression: the
// datagen for demos, tests and benchmarks.
package generate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Config is the `generate:` block of a source.
type Config struct {
	Value pipeline.Expr `yaml:"value" conf:"required" example:"'{\"order_id\": uuid(), \"qty\": int_between(1, 24)}'" doc:"an expression evaluated for each record; _offset is the record's sequence number from 0; a record whose value fails goes to on_error"`
	Rate  pipeline.Rate `yaml:"rate" defaultdoc:"unlimited" example:"50/s" doc:"records per second"`
	Count int64         `yaml:"count" defaultdoc:"0 (forever)" example:"1000" doc:"stop after this many records"`
	Seed  int64         `yaml:"seed" defaultdoc:"random" example:"42" doc:"makes uuid, pick, int_between and float_between repeatable"`
	Batch int           `yaml:"batch" default:"500" doc:"most records handed to the stage at once"`
}

// Source generates records.
type Source struct {
	cfg   Config
	chain *transforms.Chain
}

// Spec declares the generate source.
func Spec() connectors.SourceSpec {
	return connectors.SourceSpec{
		Spec: connectors.Spec{
			Name:    "generate",
			Doc:     "Records from an expression, for demos, tests and benchmarks.",
			Config:  Config{},
			Example: "rate: 50/s\nseed: 42\nvalue: '{\"order_id\": uuid(), \"n\": _offset, \"qty\": int_between(1, 24)}'\n",
			Caps:    connectors.Capabilities{EndsWith: "count"},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) { return New(c, env) },
	}
}

// New checks the config and compiles the value expression.
func New(c pipeline.Connector, env connectors.Env) (*Source, error) {
	var cfg Config
	var errs pipeline.Errors
	errs.Add(c.Pos, c.Path, pipeline.Decode(c, env.Lookup, &cfg))
	if cfg.Count < 0 {
		errs.Addf(c.Pos, c.Path+".count", "must not be negative")
	}
	if cfg.Batch < 1 {
		errs.Addf(c.Pos, c.Path+".batch", "must be at least 1")
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	if cfg.Seed != 0 {
		rng = rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)))
	}
	var chain *transforms.Chain
	if cfg.Value.Src != "" {
		var err error
		chain, err = transforms.Compile([]pipeline.Step{{Kind: "map", Path: cfg.Value.Path, Pos: cfg.Value.Pos, Map: &cfg.Value}},
			expression.Options{Vars: env.Vars, Rand: rng})
		errs.Add(c.Pos, c.Path, err)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, chain: chain}, nil
}

// Read generates until Count records or ctx ends, pacing to Rate.
func (s *Source) Read(ctx context.Context, emit connectors.Emit) error {
	w := s.chain.NewWorker()
	start := time.Now()
	var seq int64
	batch := make([]*record.Record, 0, s.cfg.Batch)
	var outs []*record.Record
	for ctx.Err() == nil && (s.cfg.Count == 0 || seq < s.cfg.Count) {
		n := int64(s.cfg.Batch)
		if s.cfg.Rate > 0 {
			// Record seq is due at start + seq/rate.
			due := int64(float64(s.cfg.Rate)*time.Since(start).Seconds()) + 1 - seq
			if due <= 0 {
				next := start.Add(time.Duration(float64(seq) / float64(s.cfg.Rate) * float64(time.Second)))
				t := time.NewTimer(max(time.Until(next), time.Millisecond))
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
				continue
			}
			n = min(n, due)
		}
		if s.cfg.Count > 0 {
			n = min(n, s.cfg.Count-seq)
		}
		batch = batch[:0]
		now := time.Now()
		for range n {
			r := &record.Record{Offset: seq, Timestamp: now}
			var err error
			outs, err = w.Apply(r, outs[:0])
			if err != nil {
				// One bad record: the stage's on_error decides.
				var se *transforms.StepError
				if errors.As(err, &se) {
					err = se.Err // the value expression is not a step of the stage
				}
				r.Value, r.Err = nil, fmt.Errorf("generate record %d: value: %w", seq, err)
				outs = append(outs[:0], r)
			}
			batch = append(batch, outs...)
			seq++
		}
		if err := emit(ctx, batch, nil); err != nil {
			return err
		}
		batch = make([]*record.Record, 0, s.cfg.Batch)
	}
	return nil
}
