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
	// Value is evaluated once per record; `_offset` is the record's
	// sequence number, starting at 0.
	Value pipeline.Expr `yaml:"value" conf:"required"`
	// Rate limits records per second; unset means as fast as possible.
	Rate pipeline.Rate `yaml:"rate"`
	// Count stops the source after this many records; 0 runs forever.
	Count int64 `yaml:"count"`
	// Seed makes random built-ins (uuid, pick, int_between) repeatable.
	Seed int64 `yaml:"seed"`
	// Batch is the most records handed to the stage at once.
	Batch int `yaml:"batch"`
}

// Source generates records.
type Source struct {
	cfg   Config
	chain *transforms.Chain
}

// New checks the config and compiles the value expression.
func New(c pipeline.Connector, env connectors.Env) (*Source, error) {
	var cfg Config
	var errs pipeline.Errors
	errs.Add(c.Pos, c.Path, pipeline.Decode(c, env.Lookup, &cfg))
	if cfg.Count < 0 {
		errs.Addf(c.Pos, c.Path+".count", "must not be negative")
	}
	if cfg.Batch < 0 {
		errs.Addf(c.Pos, c.Path+".batch", "must not be negative")
	}
	if cfg.Batch == 0 {
		cfg.Batch = 500
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
