package serde

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/conveyor-dev/conveyor/record"
)

// AvroFromType derives an Avro record schema from an Object type, as Kafka
// Connect's JDBC source derives one from a table: Int is long, Float
// double, Text string, Bool boolean, Binary bytes, Time a long with
// logicalType timestamp-micros, List an array, Map a map, a nested Object
// a record named after its parent and field. A Nullable field is
// ["null", T] with "default": null, so adding a nullable column is a
// BACKWARD-compatible change. Fields keep their order.
//
// name becomes the record's full name, made to follow Avro's name rules
// (letters, digits and _ in each dot-separated part, not starting with a
// digit). Field names must already follow them: a renamed field would not
// match the records' keys.
func AvroFromType(name string, t record.Type) (Schema, error) {
	if t.Kind != record.Object {
		return nil, fmt.Errorf("avro schema from a type: want an object, got %s", t)
	}
	full := avroFullName(name)
	var b bytes.Buffer
	if err := writeAvroRecord(&b, full, t, ""); err != nil {
		return nil, fmt.Errorf("avro schema for %s: %w", full, err)
	}
	s, err := parseAvro(b.String())
	if err != nil {
		return nil, fmt.Errorf("avro schema for %s: %w", full, err)
	}
	return s, nil
}

// avroFullName makes each dot-separated part of name a valid Avro name:
// other characters become _, and a part starting with a digit gets a
// leading _.
func avroFullName(name string) string {
	var parts []string
	for _, p := range strings.Split(name, ".") {
		if p != "" {
			parts = append(parts, avroName(p))
		}
	}
	if len(parts) == 0 {
		return "record"
	}
	return strings.Join(parts, ".")
}

func avroName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func validAvroName(s string) bool {
	return s != "" && avroName(s) == s && (s[0] < '0' || s[0] > '9')
}

func writeAvroRecord(b *bytes.Buffer, name string, t record.Type, path string) error {
	b.WriteString(`{"type":"record","name":`)
	writeJSONString(b, name)
	b.WriteString(`,"fields":[`)
	for i, f := range t.Fields {
		fpath := f.Name
		if path != "" {
			fpath = path + "." + f.Name
		}
		if !validAvroName(f.Name) {
			return fmt.Errorf("field %s: not a valid Avro name (letters, digits and _, not starting with a digit)", fpath)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":`)
		writeJSONString(b, f.Name)
		if f.Doc != "" {
			b.WriteString(`,"doc":`)
			writeJSONString(b, f.Doc)
		}
		b.WriteString(`,"type":`)
		// Nested records are named after the path, under the parent's
		// name, so names stay unique.
		if err := writeAvroType(b, name+"_"+f.Name, f.Type, fpath); err != nil {
			return err
		}
		if f.Type.Nullable && f.Type.Kind != record.Null {
			b.WriteString(`,"default":null`)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return nil
}

func writeAvroType(b *bytes.Buffer, name string, t record.Type, path string) error {
	nullable := t.Nullable && t.Kind != record.Null
	if nullable {
		b.WriteString(`["null",`)
	}
	switch t.Kind {
	case record.Null:
		b.WriteString(`"null"`)
	case record.Bool:
		b.WriteString(`"boolean"`)
	case record.Int:
		b.WriteString(`"long"`)
	case record.Float:
		b.WriteString(`"double"`)
	case record.Text:
		b.WriteString(`"string"`)
	case record.Binary:
		b.WriteString(`"bytes"`)
	case record.Time:
		b.WriteString(`{"type":"long","logicalType":"timestamp-micros"}`)
	case record.List, record.Map:
		if t.Elem == nil {
			return fmt.Errorf("field %s: a %s of unknown elements has no Avro type", path, t.Kind)
		}
		if t.Kind == record.List {
			b.WriteString(`{"type":"array","items":`)
		} else {
			b.WriteString(`{"type":"map","values":`)
		}
		if err := writeAvroType(b, name, *t.Elem, path+"[]"); err != nil {
			return err
		}
		b.WriteByte('}')
	case record.Object:
		if err := writeAvroRecord(b, name, t, path); err != nil {
			return err
		}
	default:
		return fmt.Errorf("field %s: type %s has no Avro equivalent", path, t)
	}
	if nullable {
		b.WriteByte(']')
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
