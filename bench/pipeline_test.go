package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/aggregate"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

var kinds = pipeline.Options{Kinds: pipeline.Kinds{Sources: []string{"generate"}}}

// load writes p the way the harness does and loads it the way the runner
// does, failing on any problem `runner check` would report.
func load(t *testing.T, p pipelineFile) *pipeline.Config {
	t.Helper()
	path, err := writePipeline(t.TempDir(), p)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != p.Pipeline+".yaml" {
		t.Fatalf("pipeline written to %s", path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.Parse(path, src, kinds)
	if err != nil {
		t.Fatalf("runner would reject:\n%s\n%v", src, err)
	}
	reg := connectors.Registry{Sources: []connectors.SourceSpec{generate.Spec()}}
	if _, err := engine.Build([]*pipeline.Config{cfg}, reg, connectors.Env{Lookup: os.LookupEnv}); err != nil {
		t.Fatalf("runner would reject:\n%s\n%v", src, err)
	}
	return cfg
}

func TestTransformPipelines(t *testing.T) {
	pass := load(t, transformPipeline("bench-pass", "127.0.0.1:9092", "in", "out", "g1", false))
	if len(pass.Transforms) != 1 || len(pass.Transforms[0].Steps) != 0 {
		t.Fatalf("passthrough should be one transform without steps: %+v", pass.Transforms)
	}
	tr := pass.Transforms[0]
	if tr.From[0] != "in" || tr.To != "out" || tr.Group != "g1" || pass.Kafka.Brokers != "127.0.0.1:9092" {
		t.Fatalf("passthrough wiring: from %v to %s group %s brokers %s", tr.From, tr.To, tr.Group, pass.Kafka.Brokers)
	}

	typ := load(t, transformPipeline("bench-typical", "127.0.0.1:9092", "in", "out", "g2", true))
	chain, err := transforms.Compile(typ.Transforms[0].Steps, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := chain.NewWorker()
	apply := func(v string) []*record.Record {
		val, err := record.DecodeJSON([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		outs, err := w.Apply(&record.Record{Value: val}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	outs := apply(`{"store":"orlando","qty":12,"price":1.25}`)
	if len(outs) != 1 {
		t.Fatalf("typical kept %d records of 1", len(outs))
	}
	got := outs[0].Value.(map[string]any)
	if got["total"] != 15.0 || got["bulk"] != true || got["store_upper"] != "ORLANDO" {
		t.Fatalf("typical computed %v", got)
	}
	if outs := apply(`{"store":"orlando","qty":0,"price":1.25}`); len(outs) != 0 {
		t.Fatalf("typical should filter qty 0, kept %v", outs[0].Value)
	}
}

// The aggregate variant: one exactly-once stage that counts and sums qty
// per record key, a row per record.
func TestAggregatePipeline(t *testing.T) {
	cfg := load(t, aggregatePipeline("bench-agg", "127.0.0.1:9092", "in", "out", "g3"))
	tr := cfg.Transforms[0]
	if tr.From[0] != "in" || tr.To != "out" || tr.Group != "g3" || len(tr.Steps) != 1 || tr.Steps[0].Aggregate == nil {
		t.Fatalf("aggregate wiring: from %v to %s group %s steps %+v", tr.From, tr.To, tr.Group, tr.Steps)
	}
	a := tr.Steps[0].Aggregate
	if a.By != nil || a.Window != nil || a.Emit != pipeline.EmitChanges {
		t.Fatalf("aggregate should group by the record key, unwindowed, emit changes: %+v", a)
	}
	spec, err := aggregate.Compile(a, expression.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := spec.NewState()
	var outs []aggregate.Output
	for i, v := range []string{`{"qty":3}`, `{"qty":0}`, `{"qty":5}`} {
		val, err := record.DecodeJSON([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		outs, _, err = st.Add(&record.Record{Key: []byte(aggKey(7)), Value: val, Timestamp: time.UnixMilli(int64(i))}, outs[:0], nil)
		if err != nil || len(outs) != 1 {
			t.Fatalf("record %d: %d rows, %v", i, len(outs), err)
		}
	}
	if got := outs[0].Value; got["orders"] != int64(3) || got["qty"] != int64(8) || string(outs[0].Key) != "c00007" {
		t.Fatalf("last row %s %v, want c00007 orders=3 qty=8", outs[0].Key, got)
	}
	if changelogOf("bench-agg") != "bench-agg-stage-changelog" {
		t.Fatalf("changelog topic %s", changelogOf("bench-agg"))
	}
}

// aggKey has aggKeys distinct values, each once per aggKeys records.
func TestAggKeys(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2 * aggKeys {
		seen[aggKey(i)] = true
	}
	if len(seen) != aggKeys || aggKey(0) != aggKey(aggKeys) || aggKey(0) == aggKey(1) {
		t.Fatalf("%d distinct keys, want %d", len(seen), aggKeys)
	}
}

// The generate variant must write records shaped and sized like the
// preloaded ones, or its MB/s would not compare.
func TestGeneratePipelineMatchesPreload(t *testing.T) {
	for _, size := range []int{sizeSmall, sizeLarge} {
		const n = 300
		cfg := load(t, generatePipeline("bench-gen", "127.0.0.1:9092", "out", n, size))
		s := cfg.Sources[0]
		if s.To != "out" || s.Key == nil || s.Key.Src != "store" {
			t.Fatalf("generate wiring: to %s key %v", s.To, s.Key)
		}
		src, err := generate.New(s.Connector, connectors.Env{Lookup: os.LookupEnv, Vars: cfg.Vars})
		if err != nil {
			t.Fatal(err)
		}
		var total, count int
		err = src.Read(context.Background(), func(_ context.Context, batch []*record.Record, _ []byte) error {
			for _, r := range batch {
				b, err := record.JSON.Encode(r.Value)
				if err != nil {
					return err
				}
				if !strings.Contains(string(b), `"order_id":`) || !strings.Contains(string(b), `"store":`) {
					t.Fatalf("generated record lacks order fields: %s", b)
				}
				total += len(b)
				count++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if count != n {
			t.Fatalf("generated %d records, want %d", count, n)
		}
		var preloaded int
		g := newOrderGen(size, 7)
		for i := range n {
			_, _, v, err := g.next(i)
			if err != nil {
				t.Fatal(err)
			}
			preloaded += len(v)
		}
		gen, pre := float64(total)/n, float64(preloaded)/n
		if gen < pre*0.9 || gen > pre*1.1 {
			t.Errorf("size %d: generated records average %.0f bytes, preloaded %.0f", size, gen, pre)
		}
		if size == sizeLarge && (pre < 990 || pre > 1010) {
			t.Errorf("large preloaded records average %.0f bytes, want about 1000", pre)
		}
	}
}
