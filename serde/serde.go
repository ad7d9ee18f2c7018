// Package serde turns record values and keys into the bytes of a topic and
// back: JSON, strings and raw bytes as they are, and Avro, JSON Schema and
// Protobuf in the Confluent wire format (a zero magic byte, the schema id
// in four big-endian bytes, then the payload) through a schema registry.
//
// Every format yields the same Go values, so expressions and sinks need not
// know where a record came from: objects are map[string]any, integers
// int64, other numbers float64, text string, binary []byte, timestamps
// time.Time, lists []any, null nil. See docs/schemas.md for each format's
// mapping.
package serde

import (
	"context"
	"errors"
	"fmt"

	"github.com/conveyor-dev/conveyor/record"
)

// Format names how a topic's values (or keys) are encoded.
type Format string

// The formats.
const (
	JSON       Format = "json"
	String     Format = "string"
	Bytes      Format = "bytes"
	Avro       Format = "avro"
	JSONSchema Format = "json_schema"
	Protobuf   Format = "protobuf"
)

// Formats lists every format, in the order the docs name them.
var Formats = []Format{JSON, String, Bytes, Avro, JSONSchema, Protobuf}

// Registered reports whether the format writes the Confluent wire format
// and so needs a schema registry.
func (f Format) Registered() bool { return f == Avro || f == JSONSchema || f == Protobuf }

// SchemaType is the registry's name for the format: AVRO, JSON, PROTOBUF.
func (f Format) SchemaType() string {
	switch f {
	case Avro:
		return "AVRO"
	case JSONSchema:
		return "JSON"
	case Protobuf:
		return "PROTOBUF"
	}
	return ""
}

// Codec encodes and decodes one topic's values or keys. It is safe for
// concurrent use.
//
// Decode and Encode wait for the registry while it is unreachable (retrying
// with backoff, reporting to the Registry's health) and return ctx's error
// when ctx ends first; every other error is the record's fault and is a
// *RecordError: it goes to on_error.
type Codec interface {
	Format() Format
	// Decode turns topic bytes into a value. nil is a tombstone and decodes
	// to nil.
	Decode(ctx context.Context, b []byte) (any, error)
	// Encode turns a value into topic bytes. nil encodes to nil.
	Encode(ctx context.Context, v any) ([]byte, error)
}

// RecordError is a record the codec cannot read or write: bytes without the
// magic byte, an unknown schema id, a value that does not match the schema.
type RecordError struct {
	Subject  string // the subject, when known
	SchemaID int    // the schema id, when known
	Field    string // the field at fault, as a path (items[2].qty), when known
	Err      error
}

func (e *RecordError) Error() string {
	msg := e.Err.Error()
	if e.Field != "" {
		msg = "field " + e.Field + ": " + msg
	}
	switch {
	case e.SchemaID != 0 && e.Subject != "":
		return fmt.Sprintf("%s (schema id %d, subject %s)", msg, e.SchemaID, e.Subject)
	case e.SchemaID != 0:
		return fmt.Sprintf("%s (schema id %d)", msg, e.SchemaID)
	case e.Subject != "":
		return fmt.Sprintf("%s (subject %s)", msg, e.Subject)
	}
	return msg
}

func (e *RecordError) Unwrap() error { return e.Err }

// ErrUnavailable marks a registry that could not be reached; codecs retry
// it themselves, Registry methods return it wrapped.
var ErrUnavailable = errors.New("schema registry unavailable")

// Schema is a parsed schema, from a file under schemas/ or from a registry.
type Schema interface {
	Format() Format
	// Text is the schema as registered: for Avro the compact canonical
	// JSON, so the same file always registers as the same version.
	Text() string
	// Type is what the schema promises about values, for offline checks.
	Type() record.Type
}

// ValueSubject and KeySubject name a topic's subjects under the
// TopicNameStrategy.
func ValueSubject(topic string) string { return topic + "-value" }

// KeySubject is the subject of a topic's keys.
func KeySubject(topic string) string { return topic + "-key" }
