// Package file reads and writes JSON lines files: a source that emits one
// record per line (or reads standard input) and a sink that appends one
// value per line.
package file

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/conveyor-dev/conveyor/config"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/record"
)

// SourceConfig is the `file:` block of a source.
type SourceConfig struct {
	// Path is the file to read; "-" reads standard input.
	Path string `yaml:"path" conf:"required"`
	// Batch is the most lines handed to the stage at once.
	Batch int `yaml:"batch"`
	// MaxLine is the longest line accepted (a size such as 1MiB).
	MaxLine config.Size `yaml:"max_line"`
}

// Source reads a file line by line. Each non-empty line becomes a record
// whose value the stage's format decodes (JSON by default). It has no cursor
// yet: a restarted runner reads the file from the start again.
type Source struct {
	cfg   SourceConfig
	stdin io.Reader
}

// NewSource checks the config; the file is opened when the stage starts.
func NewSource(c config.Connector, env engine.Env) (*Source, error) {
	var cfg SourceConfig
	if err := config.Decode(c, env.Lookup, &cfg); err != nil {
		return nil, err
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = 1 << 20
	}
	return &Source{cfg: cfg, stdin: os.Stdin}, nil
}

// Read emits the file's lines until EOF or ctx ends.
func (s *Source) Read(ctx context.Context, emit engine.Emit) error {
	in := s.stdin
	if s.cfg.Path != "-" {
		f, err := os.Open(s.cfg.Path)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		defer f.Close()
		in = f
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), int(s.cfg.MaxLine))
	var line int64
	batch := make([]*record.Record, 0, s.cfg.Batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := emit(ctx, batch, nil)
		batch = make([]*record.Record, 0, s.cfg.Batch)
		return err
	}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		batch = append(batch, &record.Record{Raw: append([]byte(nil), b...), Offset: line})
		if len(batch) >= s.cfg.Batch {
			if err := flush(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %w", s.cfg.Path, line+1, err)
	}
	return flush()
}
