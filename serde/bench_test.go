package serde

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/conveyor-dev/conveyor/record"
)

// The benchmarks compare Avro with JSON on the same records: a ~100-byte
// event and a ~1 KB order. Avro goes through the codec (wire header,
// schema by id), JSON through record.DecodeJSON and record.JSON.Encode as
// the json codec does.

const benchEventSchema = `{"type":"record","name":"Event","fields":[
	{"name":"id","type":"long"},
	{"name":"user","type":"string"},
	{"name":"event","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"country","type":"string"},
	{"name":"ok","type":"boolean"},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

// benchEventOut is the event with the three fields the stage sets.
const benchEventOutSchema = `{"type":"record","name":"Event","fields":[
	{"name":"id","type":"long"},
	{"name":"user","type":"string"},
	{"name":"event","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"country","type":"string"},
	{"name":"ok","type":"boolean"},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"cents","type":"long"},
	{"name":"region","type":"string"},
	{"name":"flagged","type":"boolean"}]}`

const benchOrderSchema = `{"type":"record","name":"Order","fields":[
	{"name":"id","type":"long"},
	{"name":"customer","type":{"type":"record","name":"Customer","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string"},
		{"name":"city","type":"string"},{"name":"vip","type":"boolean"}]}},
	{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}},
	{"name":"note","type":["null","string"],"default":null},
	{"name":"total","type":"double"},
	{"name":"created","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"tags","type":{"type":"map","values":"string"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"name","type":"string"},
		{"name":"qty","type":"long"},{"name":"price","type":"double"}]}}}]}`

var benchTime = time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)

func benchEvent() map[string]any {
	return map[string]any{"id": int64(1234567), "user": "user-4242", "event": "add_to_cart",
		"amount": 19.99, "country": "DE", "ok": true, "ts": benchTime}
}

func benchOrder() map[string]any {
	items := make([]any, 10)
	for i := range items {
		items[i] = map[string]any{"sku": fmt.Sprintf("SKU-%05d", i*37), "name": fmt.Sprintf("Widget number %d", i),
			"qty": int64(i + 1), "price": 3.25 * float64(i+1)}
	}
	return map[string]any{
		"id":       int64(987654321),
		"customer": map[string]any{"id": int64(42), "name": "Ann Example", "email": "ann@example.com", "city": "Berlin", "vip": true},
		"status":   "PAID", "note": "leave at the door", "total": 178.75, "created": benchTime,
		"tags":  map[string]any{"channel": "web", "campaign": "spring-sale", "device": "mobile"},
		"items": items,
	}
}

// jsonForm is the value as JSON carries it: timestamps as RFC 3339 text.
func jsonForm(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.Format(time.RFC3339Nano)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = jsonForm(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = jsonForm(x)
		}
		return l
	}
	return v
}

type benchCase struct {
	name   string
	schema string
	value  func() map[string]any
}

var benchCases = []benchCase{
	{"event", benchEventSchema, benchEvent},
	{"order", benchOrderSchema, benchOrder},
}

func benchCodec(b *testing.B, schema string) Codec {
	r, err := NewRegistry(RegistryConfig{URL: "mock://bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := parseAvroT(b, schema)
	c, err := NewCodec(Avro, CodecOptions{Registry: r, Subject: "bench-value", Schema: s})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkDecode(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchCases {
		js, err := record.JSON.Encode(jsonForm(bc.value()))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("json/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := record.DecodeJSON(js); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "bytes/record")
		})
		c := benchCodec(b, bc.schema)
		av, err := c.Encode(ctx, bc.value())
		if err != nil {
			b.Fatal(err)
		}
		b.Run("avro/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(ctx, av); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(av)), "bytes/record")
		})
		// For reference: hamba/avro's generic decode of the payload,
		// yielding its own types (int, time.Time, ...) unnormalised.
		hs := avro.MustParse(bc.schema)
		b.Run("hamba/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := avro.Unmarshal(hs, av[5:], &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	ctx := context.Background()
	for _, bc := range benchCases {
		jv := jsonForm(bc.value())
		b.Run("json/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := record.JSON.Encode(jv); err != nil {
					b.Fatal(err)
				}
			}
		})
		c := benchCodec(b, bc.schema)
		av := bc.value()
		b.Run("avro/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(ctx, av); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStage is a typical stage on the event: decode, filter on a
// field, set three fields, encode.
func BenchmarkStage(b *testing.B) {
	ctx := context.Background()
	stage := func(v any) any {
		m := v.(map[string]any)
		amount, _ := m["amount"].(float64)
		if amount <= 1 {
			return nil
		}
		m["cents"] = int64(amount * 100)
		m["region"] = "eu-" + m["country"].(string)
		m["flagged"] = amount > 1000
		return m
	}
	js, err := record.JSON.Encode(jsonForm(benchEvent()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := record.DecodeJSON(js)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := record.JSON.Encode(stage(v)); err != nil {
				b.Fatal(err)
			}
		}
	})
	in := benchCodec(b, benchEventSchema)
	out := benchCodec(b, benchEventOutSchema)
	av, err := in.Encode(ctx, benchEvent())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("avro", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := in.Decode(ctx, av)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := out.Encode(ctx, stage(v)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPayload measures s decoding payload and encoding v.
func benchPayload(b *testing.B, s payloadSchema, payload []byte, v any) {
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.decode(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.encode(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
