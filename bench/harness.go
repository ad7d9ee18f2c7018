package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/conveyor-dev/conveyor/serde"
)

// harness runs the variants against one broker.
type harness struct {
	opts  options
	cl    *cluster
	exe   string // this binary, run as `bench raw`
	runID string // makes topic and group names unique per invocation
	tmp   string // pipeline files, schema files and process logs
	log   io.Writer
	avro  *avroSetup // nil unless an Avro variant runs
	// recv is the endpoint of the http variants, search the node of the
	// opensearch ones; nil unless such a variant runs.
	recv   *receiver
	search *searchNode
}

// runHarness measures every size and variant, then prints the tables and
// (unless smoke) writes the report.
func runHarness(ctx context.Context, opts options, stdout, stderr io.Writer) (err error) {
	started := time.Now()
	if _, err := os.Stat(opts.runner); err != nil {
		return fmt.Errorf("runner binary: %w (make build first)", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the bench binary for raw runs: %w", err)
	}
	b, err := openBroker(ctx, opts, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.stop(stderr)) }()
	cl, err := newCluster(b.addr)
	if err != nil {
		return err
	}
	defer cl.close()
	var sr *schemaRegistry
	if opts.needsRegistry() {
		if sr, err = openRegistry(ctx, opts, stderr); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, sr.stop(stderr)) }()
	}
	var search *searchNode
	if opts.needsOpenSearch() {
		if search, err = openSearchNode(ctx, opts, stderr); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, search.stop(stderr)) }()
	}
	var recv *receiver
	if slices.ContainsFunc(opts.variants, func(v string) bool { return v == varHTTP || v == varHTTPRaw }) {
		if recv, err = startReceiver(); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, recv.close()) }()
	}
	tmp, err := os.MkdirTemp("", "conveyor-bench-")
	if err != nil {
		return fmt.Errorf("create work folder: %w", err)
	}
	h := &harness{opts: opts, cl: cl, exe: exe, runID: strconv.FormatInt(time.Now().UnixMilli(), 36), tmp: tmp, log: stderr, recv: recv, search: search}
	r := report{env: describeEnvironment(ctx, opts.runner, b), opts: opts, started: started}
	if sr != nil {
		if h.avro, err = newAvroSetup(sr.url, tmp, opts.sizes); err != nil {
			return err
		}
		r.env.registry = sr.version
	}
	for _, size := range opts.sizes {
		s, err := h.measureSize(ctx, size)
		if err != nil {
			return fmt.Errorf("%w (process logs kept in %s)", err, tmp)
		}
		r.sizes = append(r.sizes, s)
	}
	if opts.latency > 0 {
		fmt.Fprintf(stderr, "latency: typical stage at %d records/s for %s\n", opts.latencyRate, opts.latency)
		l, err := h.measureLatency(ctx)
		if err != nil {
			return fmt.Errorf("%w (process logs kept in %s)", err, tmp)
		}
		r.latency = &l
	}
	r.took = time.Since(started)
	os.RemoveAll(tmp) // only logs of runs that passed
	if opts.smoke {
		fmt.Fprintf(stdout, "smoke ok: every variant delivered every record, once, with the right content (%s)\n", opts.command)
		return nil
	}
	writeResults(stdout, r)
	writeTargets(stdout, r)
	if err := writeDoc(opts.out, r); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s\n", opts.out)
	return nil
}

func openBroker(ctx context.Context, opts options, log io.Writer) (*broker, error) {
	if opts.brokers != "" {
		return externalBroker(opts.brokers), nil
	}
	fmt.Fprintf(log, "no -brokers or KAFKA_BROKERS: starting Kafka with %s up\n", opts.kafkaScript)
	return startBroker(ctx, opts.kafkaScript, log)
}

func openRegistry(ctx context.Context, opts options, log io.Writer) (*schemaRegistry, error) {
	if opts.registry != "" {
		return externalRegistry(opts.registry), nil
	}
	fmt.Fprintf(log, "no -registry or REGISTRY_URL: starting a schema registry with %s up\n", opts.registryScript)
	return startRegistry(ctx, opts.registryScript, log)
}

func openSearchNode(ctx context.Context, opts options, log io.Writer) (*searchNode, error) {
	if opts.openSearch != "" {
		return externalSearchNode(opts.openSearch), nil
	}
	fmt.Fprintf(log, "no -opensearch or CONVEYOR_OPENSEARCH_URL: starting OpenSearch with %s up\n", opts.openSearchScript)
	return startSearchNode(ctx, opts.openSearchScript, log)
}

// preloadInput creates topic and preloads n orders of size into it, keyed
// by store or by keyOf, in Avro with codec or else JSON (see preload), and
// checks they all arrived.
func (h *harness) preloadInput(ctx context.Context, topic string, size, n int, keyOf func(int) string, codec serde.Codec) (*input, error) {
	if err := h.cl.createTopic(ctx, topic); err != nil {
		return nil, err
	}
	fmt.Fprintf(h.log, "size %d: preloading %s records into %s\n", size, comma(int64(n)), topic)
	t0 := time.Now()
	in, err := preload(ctx, h.cl.brokers, topic, size, n, h.opts.smoke, keyOf, codec)
	if err != nil {
		return nil, err
	}
	if in.end, err = h.cl.endOffsets(ctx, topic); err != nil {
		return nil, err
	}
	if got := sum(in.end); got != in.n {
		return nil, fmt.Errorf("preloaded %s holds %d records, want %d", topic, got, in.n)
	}
	fmt.Fprintf(h.log, "size %d: preloaded in %s (%.0f B average)\n", size, time.Since(t0).Round(100*time.Millisecond), in.avgSize())
	return in, nil
}

// measureSize preloads the input of one size and runs the rounds.
func (h *harness) measureSize(ctx context.Context, size int) (sizeReport, error) {
	n := h.opts.records(size)
	topic := fmt.Sprintf("bench-%s-in-%d", h.runID, size)
	defer h.cleanup("", topic)
	in, err := h.preloadInput(ctx, topic, size, n, nil, nil)
	if err != nil {
		return sizeReport{}, err
	}
	if slices.Contains(h.opts.variants, varAggregate) {
		keyed := topic + "-keyed"
		defer h.cleanup("", keyed)
		if in.keyed, err = h.preloadInput(ctx, keyed, size, n, aggKey, nil); err != nil {
			return sizeReport{}, err
		}
	}
	if h.avro != nil {
		avroIn := topic + "-avro"
		defer h.cleanup("", avroIn)
		codec, err := h.avro.codec(avroIn, size)
		if err != nil {
			return sizeReport{}, err
		}
		if in.avro, err = h.preloadInput(ctx, avroIn, size, n, nil, codec); err != nil {
			return sizeReport{}, err
		}
	}
	if err := h.warmUp(ctx, topic); err != nil {
		return sizeReport{}, err
	}
	var results []runResult
	for round := 1; round <= h.opts.rounds; round++ {
		for _, v := range h.opts.variants {
			t0 := time.Now()
			res, err := h.runVariant(ctx, v, in, round)
			if err != nil {
				return sizeReport{}, err
			}
			fmt.Fprintf(h.log, "size %d round %d/%d %-16s %s records in %6.2fs: %9s records/s, cpu %6.2fs, peak rss %s (run took %.1fs)\n",
				size, round, h.opts.rounds, v, comma(res.records), res.elapsed.Seconds(),
				comma(int64(float64(res.records)/res.elapsed.Seconds())), res.cpu.Seconds(), mb(res.maxRSS), time.Since(t0).Seconds())
			results = append(results, res)
		}
	}
	return summarize(in, h.opts.rounds, h.opts.variants, results), nil
}
