package transforms

import (
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

var benchOrder = []byte(`{"order_id":"6f1c2a9e-8d4b-4f7a-9c3e-1b2d3e4f5a6b","store":"orlando","donut":"glazed","qty":3,"ts":"2026-12-01T10:00:00Z"}`)

func benchChain(b *testing.B) *Worker {
	c, err := Compile([]pipeline.Step{
		filter("qty > 0"),
		set("unit_price", "prices[donut]", "total", "qty * unit_price", "bulk", "qty >= 12"),
	}, expression.Options{Vars: testVars})
	if err != nil {
		b.Fatal(err)
	}
	return c.NewWorker()
}

// BenchmarkStepPath is one record's trip through a transform stage: decode,
// filter, three computed fields, encode.
func BenchmarkStepPath(b *testing.B) {
	w := benchChain(b)
	var r record.Record
	out := make([]*record.Record, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		v, err := record.DecodeJSON(benchOrder)
		if err != nil {
			b.Fatal(err)
		}
		r = record.Record{Value: v, Raw: benchOrder, Topic: "orders"}
		out, err = w.Apply(&r, out[:0])
		if err != nil || len(out) != 1 {
			b.Fatal(out, err)
		}
		if _, err := record.JSON.Encode(out[0].Value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSteps is the steps alone, without decode and encode.
func BenchmarkSteps(b *testing.B) {
	w := benchChain(b)
	v, err := record.DecodeJSON(benchOrder)
	if err != nil {
		b.Fatal(err)
	}
	r := record.Record{Value: v}
	out := make([]*record.Record, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		out, err = w.Apply(&r, out[:0])
		if err != nil || len(out) != 1 {
			b.Fatal(out, err)
		}
	}
}

// BenchmarkCodec is BenchmarkStepPath without the steps, to see their share.
func BenchmarkCodec(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		v, err := record.DecodeJSON(benchOrder)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := record.JSON.Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}
