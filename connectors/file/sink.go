package file

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/conveyor-dev/conveyor/config"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/record"
)

// SinkConfig is the `file:` block of a sink.
type SinkConfig struct {
	// Path is the file to append to; it is created when missing.
	Path string `yaml:"path" conf:"required"`
	// Sync calls fsync after every batch so a batch is durable on disk before
	// its offsets are committed. On by default.
	Sync *bool `yaml:"sync"`
}

// Sink appends each record's value as one JSON line.
type Sink struct {
	cfg SinkConfig
	f   *os.File
	w   *bufio.Writer
}

// NewSink checks the config; the file is opened when the stage starts.
func NewSink(c config.Connector, env engine.Env) (*Sink, error) {
	var cfg SinkConfig
	if err := config.Decode(c, env.Lookup, &cfg); err != nil {
		return nil, err
	}
	if cfg.Sync == nil {
		on := true
		cfg.Sync = &on
	}
	return &Sink{cfg: cfg}, nil
}

// Open opens the file for appending.
func (s *Sink) Open(context.Context) error {
	f, err := os.OpenFile(s.cfg.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256*1024)
	return nil
}

// Write appends the batch and, with sync on, makes it durable.
func (s *Sink) Write(_ context.Context, batch []*record.Record) error {
	for i, r := range batch {
		b, err := record.JSON.Encode(r.Value)
		if err != nil {
			return &engine.RecordError{Index: i, Err: err}
		}
		if b == nil {
			b = []byte("null")
		}
		s.w.Write(b)
		s.w.WriteByte('\n')
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg.Path, err)
	}
	if *s.cfg.Sync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.cfg.Path, err)
		}
	}
	return nil
}

// Close closes the file.
func (s *Sink) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
