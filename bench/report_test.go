package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	in := &input{size: sizeSmall, n: 1_000_000, bytes: 130_000_000}
	run := func(v string, secs float64, cpu time.Duration, rss int64) runResult {
		return runResult{variant: v, records: in.n, bytes: in.bytes, elapsed: time.Duration(secs * float64(time.Second)), usage: usage{cpu: cpu, maxRSS: rss}}
	}
	r := summarize(in, 3, []string{varRaw, varTypical}, []runResult{
		run(varRaw, 4, 8*time.Second, 50e6), run(varTypical, 10, 20*time.Second, 100e6),
		run(varRaw, 5, 9*time.Second, 60e6), run(varTypical, 8, 18*time.Second, 150e6),
		run(varRaw, 2, 7*time.Second, 40e6), run(varTypical, 20, 30*time.Second, 90e6),
	})
	raw, _ := r.row(varRaw)
	typ, _ := r.row(varTypical)
	if raw.recPerSec != 250_000 || typ.recPerSec != 100_000 {
		t.Fatalf("medians: raw %v typical %v", raw.recPerSec, typ.recPerSec)
	}
	if math.Abs(typ.ratio-0.4) > 1e-12 || raw.ratio != 1 {
		t.Fatalf("ratios: raw %v typical %v", raw.ratio, typ.ratio)
	}
	if raw.cpuPerM != 8 || typ.peakRSS != 150e6 || math.Abs(raw.mbPerSec-32.5) > 1e-9 {
		t.Fatalf("raw cpu/M %v, typical peak %v, raw MB/s %v", raw.cpuPerM, typ.peakRSS, raw.mbPerSec)
	}
	if len(typ.runs) != 3 || typ.runs[0] != 100_000 {
		t.Fatalf("runs kept in round order: %v", typ.runs)
	}
}

func TestComma(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 2_000_000: "2,000,000", -12345: "-12,345"} {
		if got := comma(n); got != want {
			t.Errorf("comma(%d) = %q, want %q", n, got, want)
		}
	}
}

// The aggregate's ratio to typical is reported like exactly-once's.
func TestAggregateCostLine(t *testing.T) {
	in := &input{size: sizeSmall, n: 1_000_000, bytes: 130_000_000}
	run := func(v string, secs float64) runResult {
		return runResult{variant: v, records: in.n, bytes: in.bytes, elapsed: time.Duration(secs * float64(time.Second))}
	}
	s := summarize(in, 1, []string{varTypical, varTypicalEOS, varAggregate}, []runResult{run(varTypical, 5), run(varTypicalEOS, 10), run(varAggregate, 20)})
	var b strings.Builder
	writeResults(&b, report{sizes: []sizeReport{s}})
	for _, want := range []string{"Exactly-once cost: typical-eos / typical = **0.50**", "Aggregate cost: aggregate / typical = **0.25**", "| aggregate | 50,000 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("results lack %q:\n%s", want, b.String())
		}
	}
}

// The Avro variants are compared with their JSON twins, and typical-avro
// with issue 14's target, per size.
func TestAvroCostLine(t *testing.T) {
	in := &input{size: sizeSmall, n: 1_000_000, bytes: 137_000_000, avro: &input{n: 1_000_000, bytes: 80_000_000}}
	run := func(v string, secs float64) runResult {
		return runResult{variant: v, records: in.n, bytes: in.bytes, elapsed: time.Duration(secs * float64(time.Second))}
	}
	vs := []string{varRaw, varPassthrough, varPassthroughAvro, varTypical, varTypicalAvro}
	s := summarize(in, 1, vs, []runResult{run(varRaw, 2), run(varPassthrough, 2.5), run(varPassthroughAvro, 2), run(varTypical, 8), run(varTypicalAvro, 10)})
	var b strings.Builder
	r := report{sizes: []sizeReport{s}}
	writeResults(&b, r)
	writeTargets(&b, r)
	for _, want := range []string{
		"Avro against JSON: typical-avro / typical = **0.80**, passthrough-avro / passthrough = **1.25**",
		"the Avro records average 80 B, the JSON ones 137 B",
		"| typical-avro | 100,000 |", "| 0.20 |",
		"- typical-avro at least as fast as typical at 100 bytes: 0.80, **missed**",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	// Without the Avro variants there is no such line.
	s = summarize(&input{size: sizeSmall, n: 1, bytes: 1}, 1, []string{varTypical}, []runResult{run(varTypical, 1)})
	if line := avroLine(s); line != "" {
		t.Errorf("avro line without Avro variants: %s", line)
	}
}
