package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are the harness's flags.
type options struct {
	n           int
	nLarge      int // records for the 1000-byte size
	sizes       []int
	rounds      int
	brokers     string
	out         string
	smoke       bool
	runner      string
	kafkaScript string
	// registry is the schema registry of the Avro variants; empty: start
	// one with registryScript (only when an Avro variant runs).
	registry       string
	registryScript string
	// openSearch is the node of the opensearch variants; empty: start one
	// with openSearchScript (only when such a variant runs).
	openSearch       string
	openSearchScript string
	variants         []string
	latency          time.Duration // 0 skips the latency measurement
	latencyRate      int
	command          string // the command line, for the report
}

// smokeN is the record count of -smoke runs.
const smokeN = 20000

// parseOptions reads the flags; argv0 is how the harness was called, for
// the report's command line.
func parseOptions(argv0 string, args []string, stderr io.Writer) (options, error) {
	o := options{command: strings.Join(append([]string{argv0}, redactArgs(args)...), " ")}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bench [flags]           measure conveyor against raw librdkafka (see docs/benchmarks.md)")
		fmt.Fprintln(stderr, "       bench raw -brokers B -in T -out T2 -group G -n N   the raw loop alone")
		fs.PrintDefaults()
	}
	var sizes, variants string
	fs.IntVar(&o.n, "n", 2_000_000, "records per run")
	fs.IntVar(&o.nLarge, "n1k", 0, "records per run for 1000-byte records (default: -n / 4)")
	fs.StringVar(&sizes, "size", "100,1000", "record sizes in bytes: 100 (the bare order, about 130 B) and/or 1000")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every variant once, interleaved")
	fs.StringVar(&o.brokers, "brokers", os.Getenv("KAFKA_BROKERS"), "Kafka bootstrap servers (default $KAFKA_BROKERS; empty: start scripts/kafka.sh up and stop it at the end)")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "where to write the report (not written with -smoke)")
	fs.BoolVar(&o.smoke, "smoke", false, "correctness only: N=20000, 1 round, every output record checked; non-zero exit when records are missing")
	fs.StringVar(&o.runner, "runner", "bin/runner", "the runner binary")
	fs.StringVar(&o.kafkaScript, "kafka-script", "scripts/kafka.sh", "starts a broker when -brokers is empty")
	fs.StringVar(&o.registry, "registry", os.Getenv("REGISTRY_URL"), "schema registry URL (Confluent API) for the Avro variants (default $REGISTRY_URL; empty: start scripts/registry.sh up and stop it at the end)")
	fs.StringVar(&o.registryScript, "registry-script", "scripts/registry.sh", "starts a schema registry when -registry is empty and an Avro variant runs")
	fs.StringVar(&o.openSearch, "opensearch", os.Getenv("CONVEYOR_OPENSEARCH_URL"), "OpenSearch node URL for the opensearch variants (default $CONVEYOR_OPENSEARCH_URL; empty: start scripts/opensearch.sh up and stop it at the end)")
	fs.StringVar(&o.openSearchScript, "opensearch-script", "scripts/opensearch.sh", "starts an OpenSearch node when -opensearch is empty and an opensearch variant runs")
	fs.StringVar(&variants, "variants", strings.Join(allVariants(), ","), "variants to run (-smoke: all but the opensearch ones, which need a node)")
	fs.DurationVar(&o.latency, "latency", 20*time.Second, "how long to measure latency of the typical stage (0 skips it)")
	fs.IntVar(&o.latencyRate, "latency-rate", 10000, "records per second of the latency measurement")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.smoke {
		// Smoke defaults, unless given explicitly.
		if !set["n"] {
			o.n = smokeN
		}
		if !set["n1k"] {
			o.nLarge = o.n
		}
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["latency"] {
			o.latency = 3 * time.Second
		}
		if !set["variants"] {
			// CI has no OpenSearch node; building and starting one would
			// cost it more than the rest of the smoke run.
			variants = strings.Join(slices.DeleteFunc(allVariants(), isOpenSearch), ",")
		}
	}
	if o.nLarge == 0 {
		o.nLarge = max(1, o.n/4)
	}
	var err error
	if o.sizes, err = parseSizes(sizes); err != nil {
		return o, err
	}
	if o.variants, err = parseVariants(variants); err != nil {
		return o, err
	}
	if o.n <= 0 || o.nLarge <= 0 || o.rounds <= 0 || o.latencyRate <= 0 || o.latency < 0 {
		return o, errors.New("-n, -n1k, -rounds and -latency-rate must be positive, -latency not negative")
	}
	return o, nil
}

// needsRegistry tells whether a selected variant reads or writes Avro.
func (o options) needsRegistry() bool { return slices.ContainsFunc(o.variants, isAvro) }

// needsOpenSearch tells whether a selected variant writes to OpenSearch.
func (o options) needsOpenSearch() bool { return slices.ContainsFunc(o.variants, isOpenSearch) }

// records is the record count of a run at size.
func (o options) records(size int) int {
	if size >= sizeLarge {
		return o.nLarge
	}
	return o.n
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || (n != sizeSmall && n != sizeLarge) {
			return nil, fmt.Errorf("-size: %q is not 100 or 1000", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func parseVariants(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		v := strings.TrimSpace(f)
		if !slices.Contains(allVariants(), v) {
			return nil, fmt.Errorf("-variants: unknown variant %q (have %s)", v, strings.Join(allVariants(), ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	// Keep the canonical order, so rounds interleave the same way.
	slices.SortFunc(out, func(a, b string) int {
		return slices.Index(allVariants(), a) - slices.Index(allVariants(), b)
	})
	return out, nil
}
