package file

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// SinkConfig is the `file:` block of a sink.
type SinkConfig struct {
	Path string `yaml:"path" conf:"required" example:"/var/lib/conveyor/orders.jsonl" doc:"the file, created when missing"`
	Sync bool   `yaml:"sync" default:"true" doc:"fsync after each batch, so a batch is on disk before its offsets are committed; false: the batch is handed to the operating system (one write per batch, no buffering in the runner) before its offsets are committed, so it survives a crash of the runner but not a power loss"`
}

// output is what the sink appends to: the opened file, or in tests one that
// fails on demand.
type output interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Sink appends each record's value as one JSON line.
//
// A batch is encoded whole before anything is written, so a record that
// cannot be encoded leaves the file untouched and the stage's retry without
// it writes every other record once. A failed write is cut back to where
// the batch began, so the retry neither repeats lines nor leaves half a
// line behind.
type Sink struct {
	cfg  SinkConfig
	open func(path string) (output, int64, error) // the file and its length
	f    output
	size int64 // the file's length after the last complete batch
	torn bool  // a failed write may have left part of a batch after size
	buf  []byte
}

// SinkSpec declares the file sink.
func SinkSpec() connectors.SinkSpec {
	return connectors.SinkSpec{
		Spec: connectors.Spec{
			Name:    "file",
			Doc:     "Appends each record's value as one JSON line.",
			Config:  SinkConfig{},
			Example: "path: /tmp/orders.jsonl\n",
			Caps:    connectors.Capabilities{Describe: []connectors.Detail{{Option: "path", Format: "%s"}}},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return NewSink(c, env) },
	}
}

// NewSink checks the config; the file is opened when the stage starts.
func NewSink(c pipeline.Connector, env connectors.Env) (*Sink, error) {
	var cfg SinkConfig
	if err := pipeline.Decode(c, env.Lookup, &cfg); err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, open: openAppend}, nil
}

func openAppend(path string) (output, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// Open opens the file for appending.
func (s *Sink) Open(context.Context) error {
	f, size, err := s.open(s.cfg.Path)
	if err != nil {
		return err
	}
	s.f, s.size = f, size
	return nil
}

// Write appends the batch with one write call and, with sync on, makes it
// durable. Without sync the lines are in the operating system's cache when
// it returns: they survive the process, not a power loss.
func (s *Sink) Write(_ context.Context, batch []*record.Record) error {
	buf := s.buf[:0]
	for i, r := range batch {
		b, err := record.JSON.Encode(r.Value)
		if err != nil {
			return &connectors.RecordError{Index: i, Err: err}
		}
		if b == nil {
			b = []byte("null")
		}
		buf = append(append(buf, b...), '\n')
	}
	s.buf = buf
	if s.torn {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("cut %s back to %d bytes after a failed write: %w", s.cfg.Path, s.size, err)
		}
		s.torn = false
	}
	if _, err := s.f.Write(buf); err != nil {
		return s.cutBack(fmt.Errorf("write %s: %w", s.cfg.Path, err))
	}
	if s.cfg.Sync {
		if err := s.f.Sync(); err != nil {
			// The lines may not be on disk; the retry writes them again.
			return s.cutBack(fmt.Errorf("sync %s: %w", s.cfg.Path, err))
		}
	}
	s.size += int64(len(buf))
	if cap(s.buf) > 4<<20 { // one huge batch should not pin its buffer
		s.buf = nil
	}
	return nil
}

// cutBack removes what a failed batch left in the file; when that fails
// too, the next Write tries again before writing.
func (s *Sink) cutBack(err error) error {
	s.torn = s.f.Truncate(s.size) != nil
	return err
}

// Close closes the file.
func (s *Sink) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
