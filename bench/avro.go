package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/conveyor-dev/conveyor/serde"
)

// The Avro variants read the same orders as the JSON ones from a second
// input topic in the Confluent wire format (registered in a real registry:
// the runner is another process) and write Avro with a schema file the
// runner registers under <out>-value.

// avroField and avroRecord are the parts of an Avro schema the order
// schemas use, so encoding/json writes the .avsc.
type avroField struct {
	Name string `json:"name"`
	Type any    `json:"type"`
}

type avroRecord struct {
	Type      string      `json:"type"` // "record"
	Name      string      `json:"name"`
	Namespace string      `json:"namespace,omitempty"`
	Fields    []avroField `json:"fields"`
}

const avroNamespace = "dev.conveyor.bench"

// orderSchema is the Avro schema of the orders of a size class, field for
// field the JSON of records.go (the large class always carries customer,
// four line items and notes), or with typical the typical stage's output:
// the order plus total, bulk and store_upper.
func orderSchema(size int, typical bool) avroRecord {
	r := avroRecord{Type: "record", Name: "Order", Namespace: avroNamespace, Fields: []avroField{
		{"order_id", map[string]string{"type": "string", "logicalType": "uuid"}},
		{"store", "string"},
		{"donut", "string"},
		{"qty", "int"},
		{"price", "double"},
		{"ts", "string"}, // RFC 3339 text, as in the JSON orders
	}}
	if size >= sizeLarge {
		r.Fields = append(r.Fields,
			avroField{"customer", avroRecord{Type: "record", Name: "Customer", Fields: []avroField{
				{"id", "long"}, {"name", "string"}, {"email", "string"}, {"loyalty", "string"},
			}}},
			avroField{"line_items", map[string]any{"type": "array", "items": avroRecord{Type: "record", Name: "LineItem", Fields: []avroField{
				{"sku", "string"}, {"donut", "string"}, {"qty", "int"}, {"price", "double"},
			}}}},
			avroField{"notes", "string"},
		)
	}
	if typical {
		r.Name = "TypicalOrder"
		r.Fields = append(r.Fields, avroField{"total", "double"}, avroField{"bulk", "boolean"}, avroField{"store_upper", "string"})
	}
	return r
}

// schemaPath is where writeSchemas puts a size class's schema file.
func schemaPath(dir string, size int, typical bool) string {
	if typical {
		return filepath.Join(dir, fmt.Sprintf("order-%d-typical.avsc", size))
	}
	return filepath.Join(dir, fmt.Sprintf("order-%d.avsc", size))
}

// avroSetup is what the Avro variants share: the registry, the harness's
// client of it, and the schema files.
type avroSetup struct {
	url     string
	dir     string // the schema files' folder, absolute
	reg     *serde.Registry
	schemas map[schemaKey]serde.Schema
}

type schemaKey struct {
	size    int
	typical bool
}

// newAvroSetup writes the input and typical-output schema of each size
// into dir, absolute, as the runner resolves a relative schema file
// against the pipeline file.
func newAvroSetup(url, dir string, sizes []int) (*avroSetup, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("schema folder: %w", err)
	}
	reg, err := serde.NewRegistry(serde.RegistryConfig{URL: url}, nil)
	if err != nil {
		return nil, err
	}
	a := &avroSetup{url: url, dir: dir, reg: reg, schemas: map[schemaKey]serde.Schema{}}
	for _, size := range sizes {
		for _, typical := range []bool{false, true} {
			b, err := json.MarshalIndent(orderSchema(size, typical), "", "  ")
			if err != nil {
				return nil, fmt.Errorf("encode the order schema: %w", err)
			}
			path := schemaPath(dir, size, typical)
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				return nil, fmt.Errorf("write schema: %w", err)
			}
			if a.schemas[schemaKey{size, typical}], err = serde.ReadFile(path); err != nil {
				return nil, fmt.Errorf("read back schema: %w", err)
			}
		}
	}
	return a, nil
}

// schema is the parsed schema of schemaPath(a.dir, size, typical).
func (a *avroSetup) schema(size int, typical bool) serde.Schema {
	return a.schemas[schemaKey{size, typical}]
}

// orderValue is o as the value serde's Avro encoder takes and record.
// DecodeJSON yields for its JSON: objects map[string]any, integers int64.
func orderValue(o order, size int) map[string]any {
	m := map[string]any{
		"order_id": o.OrderID,
		"store":    o.Store,
		"donut":    o.Donut,
		"qty":      int64(o.Qty),
		"price":    o.Price,
		"ts":       o.TS,
	}
	if size < sizeLarge {
		return m
	}
	if c := o.Customer; c != nil {
		m["customer"] = map[string]any{"id": int64(c.ID), "name": c.Name, "email": c.Email, "loyalty": c.Loyalty}
	}
	items := make([]any, len(o.LineItems))
	for i, it := range o.LineItems {
		items[i] = map[string]any{"sku": it.SKU, "donut": it.Donut, "qty": int64(it.Qty), "price": it.Price}
	}
	m["line_items"] = items
	m["notes"] = o.Notes
	return m
}

// codec encodes the orders of a size class for topic, registering the
// size's schema under the topic's value subject at the first record.
func (a *avroSetup) codec(topic string, size int) (serde.Codec, error) {
	c, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: a.reg, Subject: serde.ValueSubject(topic), Schema: a.schema(size, false)})
	if err != nil {
		return nil, fmt.Errorf("avro codec for %s: %w", topic, err)
	}
	return c, nil
}

// withAvro makes a transform pipeline read in as Avro and write out with
// the schema file outSchema, through the registry at url.
func withAvro(p pipelineFile, url, in, out, outSchema string) pipelineFile {
	p.SchemaRegistry = &registrySection{URL: url}
	p.Topics = map[string]topicDecl{in: {Format: "avro"}, out: {ValueSchema: outSchema}}
	return p
}

// avroReader decodes a run's Avro output for the smoke checks, and checks
// each record was written with the schema the stage declares.
type avroReader struct {
	reg   *serde.Registry
	codec serde.Codec
	want  string       // the declared schema's text
	ok    map[int]bool // schema ids seen and checked
}

func newAvroReader(reg *serde.Registry, want serde.Schema) (*avroReader, error) {
	c, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: reg})
	if err != nil {
		return nil, fmt.Errorf("avro reader: %w", err)
	}
	return &avroReader{reg: reg, codec: c, want: want.Text(), ok: map[int]bool{}}, nil
}

// decode returns the record's value as an order.
func (r *avroReader) decode(ctx context.Context, b []byte) (outOrder, map[string]any, error) {
	v, err := r.codec.Decode(ctx, b)
	if err != nil {
		return outOrder{}, nil, err
	}
	// Decode checked the header: a magic byte and four bytes of id.
	id := int(binary.BigEndian.Uint32(b[1:5]))
	if !r.ok[id] {
		s, err := r.reg.ByID(ctx, id)
		if err != nil {
			return outOrder{}, nil, fmt.Errorf("schema id %d: %w", id, err)
		}
		if s.Text() != r.want {
			return outOrder{}, nil, fmt.Errorf("written with schema id %d, which is not the declared schema:\n got %s\nwant %s", id, s.Text(), r.want)
		}
		r.ok[id] = true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return outOrder{}, nil, fmt.Errorf("decoded a %T, want a record", v)
	}
	o, err := outOrderOf(m)
	return o, m, err
}

// outOrderOf reads the checked fields of a decoded Avro order; the
// computed ones stay nil when absent.
func outOrderOf(m map[string]any) (outOrder, error) {
	var o outOrder
	var qty int64
	var errs []error
	get := func(name string, dst any, required bool) {
		v, present := m[name]
		if !present {
			if required {
				errs = append(errs, fmt.Errorf("field %s: missing", name))
			}
			return
		}
		ok := false
		switch d := dst.(type) {
		case *string:
			*d, ok = v.(string)
		case *int64:
			*d, ok = v.(int64)
		case *float64:
			*d, ok = v.(float64)
		case **float64:
			var f float64
			f, ok = v.(float64)
			*d = &f
		case **bool:
			var b bool
			b, ok = v.(bool)
			*d = &b
		case **string:
			var s string
			s, ok = v.(string)
			*d = &s
		}
		if !ok {
			errs = append(errs, fmt.Errorf("field %s: decoded as %T", name, v))
		}
	}
	get("order_id", &o.OrderID, true)
	get("store", &o.Store, true)
	get("qty", &qty, true)
	get("price", &o.Price, true)
	get("total", &o.Total, false)
	get("bulk", &o.Bulk, false)
	get("store_upper", &o.StoreUpper, false)
	o.Qty = int(qty)
	if len(errs) > 0 {
		return outOrder{}, fmt.Errorf("avro order %v: %w", m, errors.Join(errs...))
	}
	return o, nil
}
