// Package stdout is a sink that prints records for people (pretty) or
// programs (JSON lines).
package stdout

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/internal/printable"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Config is the `stdout:` block of a sink.
type Config struct {
	Format string `yaml:"format" default:"pretty" enum:"pretty,json" enumof:"format" doc:"pretty: one readable line per record (topic[partition]@offset key=KEY VALUE, control characters escaped); json: one JSON object per record with topic, partition, offset, timestamp, key, headers and value"`
}

// Sink prints records.
type Sink struct {
	format string
	out    io.Writer
	// w holds one batch, written to out in a single call so that lines from
	// sinks sharing the terminal never interleave.
	w bytes.Buffer
}

// Spec declares the stdout sink.
func Spec() connectors.SinkSpec {
	return connectors.SinkSpec{
		Spec: connectors.Spec{
			Name:    "stdout",
			Doc:     "Prints records to standard output.",
			Config:  Config{},
			Example: "format: json\n",
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return New(c, env) },
	}
}

// New checks the config.
func New(c pipeline.Connector, env connectors.Env) (*Sink, error) {
	var cfg Config
	if err := pipeline.Decode(c, env.Lookup, &cfg); err != nil {
		return nil, err
	}
	return &Sink{format: cfg.Format, out: env.Stdout}, nil
}

type envelope struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       *string           `json:"key"`
	Headers   map[string]string `json:"headers,omitempty"`
	Value     any               `json:"value"`
}

// Write prints the batch in one write.
func (s *Sink) Write(_ context.Context, batch []*record.Record) error {
	s.w.Reset()
	for i, r := range batch {
		var err error
		if s.format == "json" {
			err = s.writeJSON(r)
		} else {
			err = s.writePretty(r)
		}
		if err != nil {
			// Nothing is printed: the engine writes the batch again
			// without record i, so the ones before it appear once.
			return &connectors.RecordError{Index: i, Err: err}
		}
	}
	_, err := s.out.Write(s.w.Bytes())
	return err
}

// writePretty prints one line. Keys and values are escaped as dlq inspect
// escapes them: a record cannot write control characters to the terminal
// (set its title, clear it, start a fake log line).
func (s *Sink) writePretty(r *record.Record) error {
	var v []byte
	switch t := r.Value.(type) {
	case string: // text reads better unquoted
		v = []byte(t)
	case []byte:
		v = t
	case nil:
		v = []byte("null") // a tombstone
	default:
		var err error
		if v, err = record.JSON.Encode(r.Value); err != nil {
			return err
		}
	}
	key := []byte("null")
	if r.Key != nil {
		key = r.Key
	}
	b := s.w.AvailableBuffer()
	b = append(b, r.Topic...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(r.Partition), 10)
	b = append(b, "]@"...)
	b = strconv.AppendInt(b, r.Offset, 10)
	b = append(b, " key="...)
	b = printable.Append(b, key)
	b = append(b, ' ')
	b = printable.Append(b, v)
	b = append(b, '\n')
	s.w.Write(b)
	return nil
}

func (s *Sink) writeJSON(r *record.Record) error {
	e := envelope{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Value: r.Value}
	if r.Key != nil {
		k := string(r.Key)
		e.Key = &k
	}
	if len(r.Headers) > 0 {
		e.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			e.Headers[h.Key] = string(h.Value)
		}
	}
	if b, ok := r.Value.([]byte); ok {
		e.Value = string(b)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	s.w.Write(b)
	s.w.WriteByte('\n')
	return nil
}

// Close has nothing to flush: every batch is written whole.
func (s *Sink) Close() error { return nil }
