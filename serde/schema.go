package serde

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// payloadSchema is a parsed schema of a registered format: it encodes and
// decodes payloads, the bytes after the wire header's magic byte and schema
// id (for Protobuf the payload starts with the message indexes).
//
// Errors about a value are *RecordError with Field set where known; the
// codec adds the schema id and subject.
type payloadSchema interface {
	Schema
	decode(payload []byte) (any, error)
	encode(v any) ([]byte, error)
}

// Parse parses a schema's text in a registered format.
func Parse(f Format, text string) (Schema, error) {
	return parse(f, text)
}

func parse(f Format, text string) (payloadSchema, error) {
	switch f {
	case Avro:
		return parseAvro(text)
	case JSONSchema:
		return parseJSONSchema(text)
	case Protobuf:
		return parseProtobuf(text)
	}
	return nil, fmt.Errorf("format %s has no schema", f)
}

// FormatOf names the format of a schema file by its extension: .avsc is
// Avro, .json JSON Schema, .proto Protobuf.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".avsc":
		return Avro, nil
	case ".json":
		return JSONSchema, nil
	case ".proto":
		return Protobuf, nil
	}
	return "", fmt.Errorf("%s: unknown schema file type: want .avsc (Avro), .json (JSON Schema) or .proto (Protobuf)", path)
}

// ReadFile reads and parses a schema file; its format comes from its
// extension (see FormatOf).
func ReadFile(path string) (Schema, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := parse(f, string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
