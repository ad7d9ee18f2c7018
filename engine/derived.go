package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
)

// derivedAvro writes a source's records in Avro with a schema derived from
// the records, as Kafka Connect's JDBC source derives one from a table's
// columns: field types come from the source's column types where it tells
// them (connectors.Typed), else from the values. A record with a field the
// schema lacks derives the next version, with the new field nullable and
// defaulting to null, a BACKWARD-compatible evolution: adding a column to
// the table adds a version to the subject.
type derivedAvro struct {
	name  string // the record schema's name: the topic's
	reg   *serde.Registry
	subj  string
	typed connectors.Typed // nil when the source does not tell its types

	mu     sync.Mutex // Encode runs on the source's goroutine; held for safety
	fields map[string]bool
	typ    record.Type
	codec  serde.Codec
}

func newDerivedAvro(topic string, reg *serde.Registry, src connectors.Source) *derivedAvro {
	d := &derivedAvro{name: topic, reg: reg, subj: serde.ValueSubject(topic)}
	d.typed, _ = src.(connectors.Typed)
	return d
}

func (d *derivedAvro) Format() serde.Format { return serde.Avro }

func (d *derivedAvro) Decode(ctx context.Context, b []byte) (any, error) {
	return nil, fmt.Errorf("a derived schema only writes")
}

func (d *derivedAvro) Encode(ctx context.Context, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &serde.RecordError{Subject: d.subj, Err: fmt.Errorf("avro from a derived schema needs an object value, got %T", v)}
	}
	d.mu.Lock()
	codec := d.codec
	if codec == nil || !d.covers(obj) {
		var err error
		if codec, err = d.evolve(obj); err != nil {
			d.mu.Unlock()
			return nil, err
		}
	}
	d.mu.Unlock()
	return codec.Encode(ctx, v)
}

// covers reports whether the current schema has every field of obj.
func (d *derivedAvro) covers(obj map[string]any) bool {
	for k := range obj {
		if !d.fields[k] {
			return false
		}
	}
	return true
}

// evolve derives the schema for the current fields plus obj's, keeping the
// order of the fields already there (new ones sorted after them).
func (d *derivedAvro) evolve(obj map[string]any) (serde.Codec, error) {
	var hints record.Type
	if d.typed != nil {
		hints = d.typed.ValueType()
	}
	first := d.codec == nil
	t := d.typ
	t.Kind = record.Object
	if d.fields == nil {
		d.fields = map[string]bool{}
	}
	var added []string
	for k := range obj {
		if !d.fields[k] {
			added = append(added, k)
		}
	}
	sort.Strings(added)
	if first {
		// The first version follows the columns' order where known.
		sort.SliceStable(added, func(i, j int) bool { return columnIndex(hints, added[i]) < columnIndex(hints, added[j]) })
	}
	for _, k := range added {
		ft, ok := hints.Field(k)
		if !ok || ft.Kind == record.Unknown {
			ft = typeOfValue(obj[k])
		}
		if !first {
			ft.Nullable = true // older records lack it: readers need a default
		}
		t.Fields = append(t.Fields, record.Field{Name: k, Type: ft})
		d.fields[k] = true
	}
	schema, err := serde.AvroFromType(d.name, t)
	if err != nil {
		return nil, &serde.RecordError{Subject: d.subj, Err: fmt.Errorf("derive an Avro schema: %w", err)}
	}
	codec, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: d.reg, Subject: d.subj, Schema: schema})
	if err != nil {
		return nil, err
	}
	d.typ, d.codec = t, codec
	return codec, nil
}

func columnIndex(t record.Type, name string) int {
	for i, f := range t.Fields {
		if f.Name == name {
			return i
		}
	}
	return len(t.Fields)
}

// typeOfValue types a field no column describes, from its value.
func typeOfValue(v any) record.Type {
	switch v.(type) {
	case int64:
		return record.Type{Kind: record.Int, Nullable: true}
	case float64:
		return record.Type{Kind: record.Float, Nullable: true}
	case bool:
		return record.Type{Kind: record.Bool, Nullable: true}
	case []byte:
		return record.Type{Kind: record.Binary, Nullable: true}
	case time.Time:
		return record.Type{Kind: record.Time, Nullable: true}
	}
	return record.Type{Kind: record.Text, Nullable: true}
}
