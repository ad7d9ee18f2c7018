package main

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// mockSetup is the Avro setup on an in-process registry, with both sizes'
// schema files in a temporary folder.
func mockSetup(t *testing.T) *avroSetup {
	t.Helper()
	a, err := newAvroSetup("mock://bench", t.TempDir(), []int{sizeSmall, sizeLarge})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The Avro input holds the very values of the JSON input: orderValue
// writes as the same JSON (a price of 2.0 is the JSON 2, which decodes as
// an integer: so the JSON is compared, not decoded values), and the
// size's schema carries it through an encode and decode unchanged (so it
// names every field, nested ones included).
func TestAvroOrdersMatchJSON(t *testing.T) {
	ctx := context.Background()
	a := mockSetup(t)
	for _, size := range []int{sizeSmall, sizeLarge} {
		codec, err := a.codec("in", size)
		if err != nil {
			t.Fatal(err)
		}
		g := newOrderGen(size, 11)
		var jsonBytes, avroBytes int
		for i := range 300 {
			_, o, js, err := g.next(i)
			if err != nil {
				t.Fatal(err)
			}
			v := orderValue(o, size)
			if got := jsonOf(t, v); got != jsonOf(t, decodeJSON(t, js)) {
				t.Fatalf("size %d: orderValue differs from the JSON:\n got %s\nwant %s", size, got, js)
			}
			b, err := codec.Encode(ctx, v)
			if err != nil {
				t.Fatalf("size %d: encode %s: %v", size, js, err)
			}
			back, err := codec.Decode(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, v) {
				t.Fatalf("size %d: Avro round trip:\n got %#v\nwant %#v", size, back, v)
			}
			jsonBytes += len(js)
			avroBytes += len(b)
		}
		if avroBytes >= jsonBytes {
			t.Errorf("size %d: Avro %d bytes, JSON %d: Avro should be smaller", size, avroBytes, jsonBytes)
		}
	}
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	v, err := record.DecodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jsonOf is v as JSON with sorted keys.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := record.JSON.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The typical stage's output fits the typical schema, and the smoke
// checks read it back: what the runner will encode for typical-avro.
func TestTypicalAvroSchemaTakesTheStageOutput(t *testing.T) {
	ctx := context.Background()
	a := mockSetup(t)
	cfg := load(t, withAvro(transformPipeline("bench-typical-avro", "127.0.0.1:9092", "in", "out", "g", true),
		"mock://bench", "in", "out", schemaPath(a.dir, sizeLarge, true)))
	chain, err := transforms.Compile(cfg.Transforms[0].Steps, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := chain.NewWorker()
	in, err := a.codec("in", sizeLarge)
	if err != nil {
		t.Fatal(err)
	}
	out, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: a.reg, Subject: "out-value", Schema: cfg.Topics["out"].Value})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newAvroReader(a.reg, a.schema(sizeLarge, true))
	if err != nil {
		t.Fatal(err)
	}
	g := newOrderGen(sizeLarge, 13)
	kept := 0
	for i := range voidEvery {
		_, o, _, err := g.next(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := in.Encode(ctx, orderValue(o, sizeLarge))
		if err != nil {
			t.Fatal(err)
		}
		v, err := in.Decode(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := w.Apply(&record.Record{Value: v}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range outs {
			kept++
			ob, err := out.Encode(ctx, rec.Value)
			if err != nil {
				t.Fatalf("the typical schema rejects the stage's output %v: %v", rec.Value, err)
			}
			got, m, err := r.decode(ctx, ob)
			if err != nil {
				t.Fatal(err)
			}
			if got.OrderID != o.OrderID || got.Qty != o.Qty {
				t.Fatalf("read back %+v from %v, want order %+v", got, m, o)
			}
			if err := checkFields(varTypicalAvro, got, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if kept != voidEvery-1 {
		t.Fatalf("typical kept %d of %d orders, want all but the one with qty 0", kept, voidEvery)
	}
}

// The pipeline of an Avro variant is one the runner accepts, reading the
// input as Avro and writing with the schema file.
func TestAvroPipeline(t *testing.T) {
	a := mockSetup(t)
	for _, typ := range []bool{false, true} {
		path := schemaPath(a.dir, sizeSmall, typ)
		cfg := load(t, withAvro(transformPipeline("bench-avro", "127.0.0.1:9092", "in", "out", "g", typ), "mock://bench", "in", "out", path))
		if cfg.SchemaRegistry.URL != "mock://bench" {
			t.Fatalf("schema_registry %+v", cfg.SchemaRegistry)
		}
		if f := cfg.TopicFormat("in", &cfg.Transforms[0].Stage); f != "avro" {
			t.Fatalf("input format %s, want avro", f)
		}
		if f := cfg.TopicFormat("out", &cfg.Transforms[0].Stage); f != "avro" {
			t.Fatalf("output format %s, want avro (from the .avsc)", f)
		}
		s := cfg.Topics["out"].Value
		if s == nil || s.Text() != a.schema(sizeSmall, typ).Text() {
			t.Fatalf("output schema %v, want %s", s, path)
		}
		if got := len(cfg.Transforms[0].Steps); (got > 0) != typ {
			t.Fatalf("%d steps, typical %v", got, typ)
		}
	}
	// The runner resolves a relative schema path against the pipeline
	// file: the harness writes absolute ones.
	if p := schemaPath(a.dir, sizeLarge, false); !strings.HasPrefix(p, "/") {
		t.Fatalf("schema path %s is not absolute", p)
	}
	if _, err := os.Stat(schemaPath(a.dir, sizeLarge, true)); err != nil {
		t.Fatal(err)
	}
}

// The smoke checks fail a record written with another schema than the
// declared one, even when it decodes.
func TestAvroReaderChecksTheSchema(t *testing.T) {
	ctx := context.Background()
	a := mockSetup(t)
	codec, err := a.codec("in", sizeSmall)
	if err != nil {
		t.Fatal(err)
	}
	_, o, _, err := newOrderGen(sizeSmall, 1).next(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.Encode(ctx, orderValue(o, sizeSmall))
	if err != nil {
		t.Fatal(err)
	}
	same, err := newAvroReader(a.reg, a.schema(sizeSmall, false))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := same.decode(ctx, b); err != nil || got.OrderID != o.OrderID || got.Total != nil {
		t.Fatalf("decode with the declared schema: %+v, %v", got, err)
	}
	other, err := newAvroReader(a.reg, a.schema(sizeSmall, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.decode(ctx, b); err == nil || !strings.Contains(err.Error(), "not the declared schema") {
		t.Fatalf("decode with another declared schema: %v", err)
	}
	if _, _, err := same.decode(ctx, []byte(`{"order_id":"x"}`)); err == nil {
		t.Fatal("JSON bytes decoded as Avro")
	}
}

func TestOutOrderOf(t *testing.T) {
	good := map[string]any{"order_id": "id", "store": "tampa", "qty": int64(12), "price": 1.25, "total": 15.0, "bulk": true, "store_upper": "TAMPA"}
	o, err := outOrderOf(good)
	if err != nil {
		t.Fatal(err)
	}
	if o.OrderID != "id" || o.Store != "tampa" || o.Qty != 12 || o.Price != 1.25 || *o.Total != 15 || !*o.Bulk || *o.StoreUpper != "TAMPA" {
		t.Fatalf("read %+v", o)
	}
	if err := checkFields(varTypicalAvro, o, ""); err != nil {
		t.Fatal(err)
	}
	if err := checkFields(varPassthroughAvro, o, ""); err == nil {
		t.Fatal("passthrough-avro output with computed fields passed")
	}
	for name, edit := range map[string]func(m map[string]any){
		"qty":      func(m map[string]any) { m["qty"] = "12" },
		"order_id": func(m map[string]any) { delete(m, "order_id") },
		"bulk":     func(m map[string]any) { m["bulk"] = int64(1) },
	} {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		edit(m)
		if _, err := outOrderOf(m); err == nil || !strings.Contains(err.Error(), "field "+name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	o, err = outOrderOf(map[string]any{"order_id": "id", "store": "tampa", "qty": int64(1), "price": 1.25})
	if err != nil || o.Total != nil || o.Bulk != nil || o.StoreUpper != nil {
		t.Fatalf("passthrough order: %+v, %v", o, err)
	}
}

func TestRedactArgs(t *testing.T) {
	got := strings.Join(redactArgs([]string{"-registry", "http://u:secret@h:8081/x", "-registry=http://a:pw@h1,http://b:pw2@h2", "-n", "5"}), " ")
	if strings.Contains(got, "secret") || strings.Contains(got, "pw") || !strings.Contains(got, "http://u:xxxxx@h:8081/x") || !strings.Contains(got, "-n 5") {
		t.Fatalf("redacted: %s", got)
	}
}
