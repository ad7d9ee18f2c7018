package serde

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/conveyor-dev/conveyor/record"
)

// CodecOptions configure a codec of a registered format.
type CodecOptions struct {
	Registry *Registry
	// Subject is where the writer schema is registered or looked up,
	// e.g. ValueSubject(topic).
	Subject string
	// Schema is the writer schema, e.g. from a file; Encode registers it
	// under Subject (a schema already there keeps its id). nil means the
	// subject's latest version, looked up at the first Encode.
	Schema Schema
}

// NewCodec returns the codec of format f. json, string and bytes need no
// options; the registered formats need a Registry and, to encode, a
// Subject.
func NewCodec(f Format, o CodecOptions) (Codec, error) {
	switch f {
	case JSON, String, Bytes:
		return plainCodec(f), nil
	case Avro, JSONSchema, Protobuf:
	default:
		return nil, fmt.Errorf("unknown format %q", f)
	}
	if o.Registry == nil {
		return nil, fmt.Errorf("format %s needs a schema registry", f)
	}
	c := &registeredCodec{format: f, reg: o.Registry, subject: o.Subject}
	if o.Schema != nil {
		if o.Schema.Format() != f {
			return nil, fmt.Errorf("format %s: the schema is %s", f, o.Schema.Format())
		}
		ps, ok := o.Schema.(payloadSchema)
		if !ok {
			return nil, fmt.Errorf("format %s: the schema was not made by this package (serde.Parse, serde.ReadFile)", f)
		}
		c.schema = ps
	}
	return c, nil
}

// plainCodec is json, string or bytes, as record.Format reads and writes
// them.
type plainCodec Format

func (c plainCodec) Format() Format { return Format(c) }

func (c plainCodec) Decode(_ context.Context, b []byte) (any, error) {
	v, err := record.Format(c).Decode(b)
	if err != nil {
		return nil, &RecordError{Err: err}
	}
	return v, nil
}

func (c plainCodec) Encode(_ context.Context, v any) ([]byte, error) {
	b, err := record.Format(c).Encode(v)
	if err != nil {
		return nil, &RecordError{Err: err}
	}
	return b, nil
}

// registeredCodec reads and writes the Confluent wire format.
type registeredCodec struct {
	format  Format
	reg     *Registry
	subject string
	schema  payloadSchema // the given writer schema, or nil for the latest

	// last is the last id decoded and its schema: a topic's records
	// mostly share one.
	last atomic.Pointer[idSchema]

	// writer is resolved at the first Encode; mu makes it once.
	mu     sync.Mutex
	writer atomic.Pointer[idSchema]
}

type idSchema struct {
	id     int
	schema payloadSchema
	header []byte // the wire header for id
}

// prefixEncoder is a payloadSchema that writes after a prefix, so the
// header and payload are one allocation.
type prefixEncoder interface {
	encodePrefixed(prefix []byte, v any) ([]byte, error)
}

func (c *registeredCodec) Format() Format { return c.format }

func (c *registeredCodec) Decode(ctx context.Context, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	id, payload, err := parseHeader(b)
	if err != nil {
		return nil, c.recordError(err, 0)
	}
	var s payloadSchema
	if l := c.last.Load(); l != nil && l.id == id {
		s = l.schema
	} else {
		s, err = c.reg.byID(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, c.recordError(fmt.Errorf("unknown schema id %d", id), id)
		case errors.Is(err, errUnusable):
			// Every record with this id fails alike, but the next id
			// may do.
			return nil, c.recordError(err, id)
		case err != nil:
			// ctx ended while the registry was down, or the registry
			// refused us: not the record's fault.
			return nil, err
		}
		c.last.Store(&idSchema{id: id, schema: s})
	}
	v, err := s.decode(payload)
	if err != nil {
		return nil, c.recordError(err, id)
	}
	return v, nil
}

func (c *registeredCodec) Encode(ctx context.Context, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	w, err := c.resolve(ctx)
	if err != nil {
		return nil, err
	}
	var b []byte
	if pe, ok := w.schema.(prefixEncoder); ok {
		b, err = pe.encodePrefixed(w.header, v)
	} else {
		var payload []byte
		if payload, err = w.schema.encode(v); err == nil {
			b = append(append(make([]byte, 0, len(w.header)+len(payload)), w.header...), payload...)
		}
	}
	if err != nil {
		return nil, c.recordError(err, w.id)
	}
	return b, nil
}

// resolve finds the writer schema's id: registering the given schema, or
// looking up the subject's latest. Failures are not cached: the next
// Encode tries again.
func (c *registeredCodec) resolve(ctx context.Context) (*idSchema, error) {
	if w := c.writer.Load(); w != nil {
		return w, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.writer.Load(); w != nil {
		return w, nil
	}
	if c.subject == "" {
		return nil, fmt.Errorf("%s: encoding needs a subject", c.format)
	}
	w := &idSchema{schema: c.schema}
	var err error
	if c.schema != nil {
		if w.id, err = c.reg.Register(ctx, c.subject, c.schema); err != nil {
			return nil, err
		}
	} else {
		var s payloadSchema
		s, w.id, err = c.reg.latest(ctx, c.subject)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, fmt.Errorf("subject %s has no schema in the registry: register one or give a schema file: %w", c.subject, err)
		case err != nil:
			return nil, err
		case s.Format() != c.format:
			return nil, fmt.Errorf("subject %s: the latest schema (id %d) is %s, want %s", c.subject, w.id, s.Format(), c.format)
		}
		w.schema = s
	}
	w.header = appendHeader(nil, w.id)
	c.writer.Store(w)
	return w, nil
}

// writerSchema is the writer schema, resolving it if need be.
func (c *registeredCodec) writerSchema(ctx context.Context) (payloadSchema, error) {
	w, err := c.resolve(ctx)
	if err != nil {
		return nil, err
	}
	return w.schema, nil
}

// recordError makes err a RecordError naming the codec's subject and the
// schema id.
func (c *registeredCodec) recordError(err error, id int) error {
	var re *RecordError
	if !errors.As(err, &re) {
		re = &RecordError{Err: err}
	}
	if re.Subject == "" {
		re.Subject = c.subject
	}
	if re.SchemaID == 0 {
		re.SchemaID = id
	}
	return re
}
