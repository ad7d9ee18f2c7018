package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sizeReport is the summary of every run at one record size.
type sizeReport struct {
	size        int
	n           int64
	avgSize     float64
	avroAvgSize float64 // of the Avro input; 0 when no Avro variant ran
	rounds      int
	rows        []variantRow
}

type variantRow struct {
	variant   string
	recPerSec float64 // median
	mbPerSec  float64 // median, 10^6 value bytes
	cpuPerM   float64 // median CPU seconds per million records
	peakRSS   int64   // highest of the rounds, bytes
	ratio     float64 // median records/s over raw's; NaN without raw
	runs      []float64
}

// summarize takes the medians per variant, in the variants' order.
func summarize(in *input, rounds int, variants []string, results []runResult) sizeReport {
	r := sizeReport{size: in.size, n: in.n, avgSize: in.avgSize(), rounds: rounds}
	if in.avro != nil {
		r.avroAvgSize = in.avro.avgSize()
	}
	for _, v := range variants {
		row := variantRow{variant: v, ratio: math.NaN()}
		var mb, cpu []float64
		for _, res := range results {
			if res.variant != v {
				continue
			}
			secs := res.elapsed.Seconds()
			row.runs = append(row.runs, float64(res.records)/secs)
			mb = append(mb, float64(res.bytes)/1e6/secs)
			cpu = append(cpu, res.cpu.Seconds()/float64(res.records)*1e6)
			row.peakRSS = max(row.peakRSS, res.maxRSS)
		}
		row.recPerSec, row.mbPerSec, row.cpuPerM = median(row.runs), median(mb), median(cpu)
		r.rows = append(r.rows, row)
	}
	if i := slices.IndexFunc(r.rows, func(x variantRow) bool { return x.variant == varRaw }); i >= 0 {
		for j := range r.rows {
			r.rows[j].ratio = r.rows[j].recPerSec / r.rows[i].recPerSec
		}
	}
	return r
}

func (r sizeReport) title() string {
	if r.size >= sizeLarge {
		return fmt.Sprintf("1000-byte records (%.0f B average), N = %s per run, %d round(s), medians", r.avgSize, comma(r.n), r.rounds)
	}
	return fmt.Sprintf("100-byte class records (%.0f B average), N = %s per run, %d round(s), medians", r.avgSize, comma(r.n), r.rounds)
}

func (r sizeReport) row(v string) (variantRow, bool) {
	i := slices.IndexFunc(r.rows, func(x variantRow) bool { return x.variant == v })
	if i < 0 {
		return variantRow{}, false
	}
	return r.rows[i], true
}

// writeTable writes r as a Markdown table.
func writeTable(w io.Writer, r sizeReport) {
	fmt.Fprintln(w, "| variant | records/s | MB/s | CPU s / M records | peak RSS | vs raw | records/s by round |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	for _, row := range r.rows {
		runs := make([]string, len(row.runs))
		for i, x := range row.runs {
			runs[i] = comma(int64(math.Round(x)))
		}
		ratio := "n/a"
		if !math.IsNaN(row.ratio) {
			ratio = fmt.Sprintf("%.2f", row.ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %.2f | %s | %s | %s |\n", row.variant, comma(int64(math.Round(row.recPerSec))),
			row.mbPerSec, row.cpuPerM, mb(row.peakRSS), ratio, strings.Join(runs, ", "))
	}
}

func (l latencyResult) line() string {
	return fmt.Sprintf("typical stage at %s records/s for %s (after a %s warm-up, 100-byte class records): "+
		"**p50 %.1f ms, p99 %.1f ms**, max %.1f ms; %s of %s records arrived",
		comma(int64(l.rate)), l.measured, latencyWarmup, l.p50, l.p99, l.max, comma(l.received), comma(l.sent))
}

// avroLine compares the Avro variants with their JSON twins, when both ran.
func avroLine(s sizeReport) string {
	var parts []string
	for _, pair := range [][2]string{{varTypicalAvro, varTypical}, {varPassthroughAvro, varPassthrough}} {
		a, ok1 := s.row(pair[0])
		j, ok2 := s.row(pair[1])
		if ok1 && ok2 && j.recPerSec > 0 {
			parts = append(parts, fmt.Sprintf("%s / %s = **%.2f**", pair[0], pair[1], a.recPerSec/j.recPerSec))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("Avro against JSON: %s (medians of the same run; the Avro records average %.0f B, the JSON ones %.0f B).",
		strings.Join(parts, ", "), s.avroAvgSize, s.avgSize)
}

// sinkRatio is a sink variant's median records/s over its baseline's,
// when both ran.
func sinkRatio(s sizeReport, pair [2]string) (float64, bool) {
	sink, ok1 := s.row(pair[0])
	base, ok2 := s.row(pair[1])
	if !ok1 || !ok2 || base.recPerSec <= 0 {
		return 0, false
	}
	return sink.recPerSec / base.recPerSec, true
}

// sinkLine compares the sinks with their plain-client baselines.
func sinkLine(s sizeReport) string {
	var parts []string
	for _, pair := range sinkPairs {
		if ratio, ok := sinkRatio(s, pair); ok {
			parts = append(parts, fmt.Sprintf("%s / %s = **%.2f**", pair[0], pair[1], ratio))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("Sinks against their plain clients: %s (medians of the same run).", strings.Join(parts, ", "))
}

// report is everything the document shows.
type report struct {
	sizes   []sizeReport
	latency *latencyResult
	env     environment
	opts    options
	started time.Time
	took    time.Duration
}

// writeResults writes the tables and the latency line (stdout and the doc).
func writeResults(w io.Writer, r report) {
	for _, s := range r.sizes {
		fmt.Fprintf(w, "### %s\n\n", s.title())
		writeTable(w, s)
		fmt.Fprintln(w)
		t, ok1 := s.row(varTypical)
		e, ok2 := s.row(varTypicalEOS)
		if ok1 && ok2 && t.recPerSec > 0 {
			fmt.Fprintf(w, "Exactly-once cost: typical-eos / typical = **%.2f** (medians of the same run; commit_interval 100ms).\n\n", e.recPerSec/t.recPerSec)
		}
		if a, ok := s.row(varAggregate); ok && ok1 && t.recPerSec > 0 {
			fmt.Fprintf(w, "Aggregate cost: aggregate / typical = **%.2f** (medians of the same run; exactly-once, %s keys, a row and a changelog entry per record).\n\n", a.recPerSec/t.recPerSec, comma(aggKeys))
		}
		if line := avroLine(s); line != "" {
			fmt.Fprintf(w, "%s\n\n", line)
		}
		if line := sinkLine(s); line != "" {
			fmt.Fprintf(w, "%s\n\n", line)
		}
	}
	if r.latency != nil {
		fmt.Fprintf(w, "Latency: %s.\n\n", r.latency.line())
	}
}

// writeTargets compares the results with issue 5's targets.
func writeTargets(w io.Writer, r report) {
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	fmt.Fprintln(w, "Targets of issues 5, 14 and 16 (same machine, same run):")
	fmt.Fprintln(w)
	for _, s := range r.sizes {
		a, ok1 := s.row(varTypicalAvro)
		t, ok2 := s.row(varTypical)
		if ok1 && ok2 && t.recPerSec > 0 {
			ratio := a.recPerSec / t.recPerSec
			fmt.Fprintf(w, "- typical-avro at least as fast as typical at %d bytes: %.2f, %s\n", s.size, ratio, check(ratio >= 1))
		}
	}
	for _, s := range r.sizes {
		for _, pair := range sinkPairs {
			if ratio, ok := sinkRatio(s, pair); ok {
				fmt.Fprintf(w, "- %s sink at least 0.80 of %s at %d bytes: %.2f, %s\n", pair[0], pair[1], s.size, ratio, check(ratio >= 0.8))
			}
		}
	}
	for _, s := range r.sizes {
		if s.size != sizeSmall {
			continue
		}
		if p, ok := s.row(varPassthrough); ok && !math.IsNaN(p.ratio) {
			fmt.Fprintf(w, "- passthrough at least 0.90 of raw at 100 bytes: %.2f, %s\n", p.ratio, check(p.ratio >= 0.9))
		}
		if t, ok := s.row(varTypical); ok && !math.IsNaN(t.ratio) {
			fmt.Fprintf(w, "- typical at least 0.70 of raw at 100 bytes: %.2f, %s\n", t.ratio, check(t.ratio >= 0.7))
		}
	}
	// The RSS target is about the stateless stages: an aggregate's memory
	// grows with its keys by design, so it is reported beside the target.
	var peak, aggPeak int64
	var which, aggWhich string
	for _, s := range r.sizes {
		for _, row := range s.rows {
			switch {
			case row.variant == varAggregate && row.peakRSS > aggPeak:
				aggPeak, aggWhich = row.peakRSS, fmt.Sprintf("at %d bytes", s.size)
			case !isBaseline(row.variant) && row.variant != varAggregate && row.peakRSS > peak:
				peak, which = row.peakRSS, fmt.Sprintf("%s at %d bytes", row.variant, s.size)
			}
		}
	}
	if peak > 0 {
		fmt.Fprintf(w, "- peak RSS of any stateless runner stage under 300 MB: %s (%s), %s\n", mb(peak), which, check(peak < 300e6))
	}
	if aggPeak > 0 {
		fmt.Fprintf(w, "- (the aggregate stage, holding 100,000 keys of state: %s %s)\n", mb(aggPeak), aggWhich)
	}
	if r.latency != nil {
		fmt.Fprintf(w, "- p99 latency under 50 ms at 10k records/s: %.1f ms, %s\n", r.latency.p99, check(r.latency.p99 < 50))
	}
	fmt.Fprintln(w)
}

// writeDoc writes docs/benchmarks.md atomically.
func writeDoc(path string, r report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchmarks-*.md")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	renderDoc(tmp, r)
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func renderDoc(w io.Writer, r report) {
	e := r.env
	fmt.Fprintf(w, `# Benchmarks

Written by `+"`make bench`"+` (the harness is `+"`bench/`"+`): conveyor's runner measured against a
minimal confluent-kafka-go consume-produce loop on the same machine, broker and
run, so the ratios hold even where the absolute numbers do not travel. Every
number below comes from the run described at the end; run `+"`make bench`"+` again
to refresh them.

## Results

`)
	writeResults(w, r)
	writeTargets(w, r)
	fmt.Fprintf(w, `## Variants

Each run is a separate process with a fresh output topic (6 partitions) and a
fresh consumer group; rounds interleave the variants (raw, passthrough,
passthrough-avro, typical, ..., generate, raw, ...) so drift in the machine
or the broker hits them all alike. The input topic (6 partitions, keyed by store) is preloaded once
per size, before and outside any timing.

- **raw**: `+"`bench raw`"+`, a minimal confluent-kafka-go loop: Poll, produce the
  same message object to the output topic (no decoding, no copy), commit the
  consumed offsets once every output is delivered, exit. Same durability as
  the runner (acks=all, idempotent producer); linger.ms 20, batch.size 1 MB,
  lz4, `+"`go.delivery.report.fields=none`"+`; the consumer has the runner's
  fetch.queue.backoff.ms 100 and queued.max.messages.kbytes 16384 (larger
  fetches were no faster here and cost 150 MB of RSS). The ceiling of the
  client library on this machine.
- **passthrough**: `+"`runner -c`"+` with one transform stage and no steps
  (records forwarded byte for byte: nothing to decode; offsets tracked,
  committed as records become durable).
- **typical**: the same with `+"`filter: qty > 0`"+` (keeps all but one order in
  %d) and a `+"`set`"+` of `+"`total: qty * price`"+`, `+"`bulk: qty >= 12`"+`,
  `+"`store_upper: upper(store)`"+`. Its records/s counts input records.
- **typical-eos**: typical with `+"`delivery: exactly_once`"+`: Kafka transactions of
  100 ms (the default commit_interval), outputs and offsets committed
  together; done when the input's offsets are committed.
- **aggregate**: `+"`aggregate: {values: {orders: count, qty: {sum: qty}}}`"+`
  (emit: changes, so a row per input record) over the same orders in a
  second input topic keyed by customer (%s distinct keys, so that each
  group's records share a partition; preloaded only when this variant
  runs). Exactly-once like typical-eos, plus a changelog entry per record
  in the same transaction (its compacted changelog topic is created before
  the run, like the output topic). Its records/s counts input records.
- **generate**: a `+"`generate`"+` source alone writing N orders of the same shape
  and size (an expression of uuid(), pick() and int_between()) to a topic.
- **passthrough-avro**, **typical-avro**: passthrough and typical over the
  same orders in Avro (Confluent wire format), from another input topic
  preloaded once per size with a schema the harness writes for the size's
  order shape (the 1000-byte one with the nested customer, line items and
  notes), registered in a real schema registry (`+"`REGISTRY_URL`"+`, else one
  `+"`scripts/registry.sh`"+` starts; the runner is a separate process). The
  pipeline declares `+"`schema_registry`"+`, the input topic `+"`format: avro`"+`
  and the output topic a `+"`value_schema`"+` file (typical: the order plus
  `+"`total`"+` double, `+"`bulk`"+` boolean and `+"`store_upper`"+` string;
  passthrough: the input schema), which the runner registers under
  `+"`<out>-value`"+` at its first record. passthrough-avro has no steps, so
  the runner forwards the bytes undecoded, as for passthrough; typical-avro
  decodes each record with the schema its id names (fetched once), runs the
  steps and encodes with the declared schema. Their MB/s counts the Avro
  input's (smaller) value bytes.
- **http-raw**, **http**: the JSON input sent out of Kafka over HTTP to a
  receiver inside the harness (net/http on loopback, answering 204 once it
  has read and counted a body). http-raw is `+"`bench http-raw`"+`, a bare
  net/http loop: the record values as they are, 100 to an NDJSON body, 8
  requests under way at once, offsets committed at the end. http is the
  runner's `+"`http`"+` sink with `+"`body: ndjson`"+`, `+"`batch_size: 100`"+`,
  `+"`max_in_flight: 8`"+`. Timed until the receiver has counted every record;
  the input's offsets must then be committed; the count must be exactly N.
- **opensearch-raw**, **opensearch**: the JSON input indexed into an
  OpenSearch node (`+"`CONVEYOR_OPENSEARCH_URL`"+`, else one `+"`scripts/opensearch.sh`"+`
  starts), a fresh one-shard index without replicas per run, document id
  the order_id. opensearch-raw is `+"`bench opensearch-raw`"+`, a bare
  opensearch-go `+"`opensearchutil.BulkIndexer`"+` (flush at 5 MB, its default
  workers) fed the record values as they are, offsets committed once it is
  closed with no failed item. opensearch is the runner's `+"`opensearch`"+` sink
  (`+"`id: order_id`"+`, batches of 1000, `+"`max_bytes`"+` 5 MB), which commits
  offsets only after the bulk answers. Timed until the input's offsets are
  committed (for the sink this includes up to one 500 ms commit timer; the
  index's refreshed count lags by its 1 s refresh, so it only shows
  progress); after a refresh the index must hold exactly N documents.
  Not in `+"`make bench-smoke`"+` (CI has no OpenSearch node).

## How it is measured

- **Time**: from the process start (fork and exec, included: so are the
  client start and the consumer group join) to the first check, every 50 ms,
  that finds the output topic's end offsets adding up to every record
  (acks=all, so they are durable). Consuming variants must then have
  committed the end of every input partition before the run counts; that wait
  is not timed (the runner commits on a 500 ms timer, raw once at the end).
  Then the runner gets SIGTERM and drains; raw and generate exit by themselves.
- **records/s**: N divided by that time; the median of the rounds is shown,
  and every round's value.
- **MB/s**: the value bytes of the input records (generate: of the generated
  records, from a sample) per second, in 10^6 bytes.
- **CPU s / M records**: user plus system CPU time of the process over its
  whole life (getrusage of the exited child), per million records.
- **peak RSS**: the highest VmHWM sampled from /proc/PID/status every 50 ms
  while the child ran (not ru_maxrss: os/exec starts children with vfork,
  which charges the harness's own resident set to them), the highest of the
  rounds (MB are 10^6 bytes).
- **vs raw**: median records/s over raw's median records/s.
- **Latency**: the typical stage runs; once its group holds the partitions,
  the harness writes 100-byte class orders at a fixed rate (linger.ms 1), each
  with its produce time (Unix ns) in a `+"`bench.sent`"+` header, and reads the
  output topic from assigned partitions. Latency is the harness's receive
  time minus that produce time (one clock, so no skew): the harness's
  produce, the broker append, the runner's fetch, steps and produce
  (linger.ms 20 by default), the second append and the harness's fetch.
  Records sent during the first %s are left out. Percentiles are nearest-rank.
- The broker runs on the same machine and competes for its cores, as do
  the harness's 50 ms polls; absolute numbers are this machine's, the ratios
  are the point.

## Machine and versions

- CPU: %d x %s; memory %s; %s
- Go %s; librdkafka %s
- Broker: %s%s
- Runner: %s
- Command: `+"`%s`"+`
- Date: %s; the whole run took %s
`, voidEvery, comma(aggKeys), latencyWarmup, e.cpus, e.cpuModel, e.memory, e.kernel, strings.TrimPrefix(e.goVersion, "go"), e.librdkafka,
		e.kafka, registryLine(e.registry), e.runner, r.opts.command, r.started.UTC().Format("2006-01-02 15:04 MST"), r.took.Round(time.Second))
}

// registryLine is the schema registry's line of the machine section.
func registryLine(registry string) string {
	if registry == "" {
		return ""
	}
	return "\n- Schema registry: " + registry
}

// comma formats n with thousands separators.
func comma(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }
