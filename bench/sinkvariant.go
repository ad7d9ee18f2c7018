package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// The sink variants and their plain-client baselines: each reads the
// preloaded JSON input and sends every record out of Kafka.
const (
	varHTTPRaw       = "http-raw" // a bare net/http loop posting NDJSON
	varHTTP          = "http"     // the runner's http sink, same bodies
	varOpenSearchRaw = "opensearch-raw"
	varOpenSearch    = "opensearch" // the runner's opensearch sink, id order_id
)

// isSink tells the variants whose output is not a Kafka topic.
func isSink(v string) bool {
	return v == varHTTPRaw || v == varHTTP || v == varOpenSearchRaw || v == varOpenSearch
}

// isOpenSearch tells the variants that need an OpenSearch node.
func isOpenSearch(v string) bool { return v == varOpenSearchRaw || v == varOpenSearch }

// isBaseline tells the variants that are the harness's own loops, not the
// runner.
func isBaseline(v string) bool { return v == varRaw || v == varHTTPRaw || v == varOpenSearchRaw }

// sinkPairs are the sink variants with their baselines, for the report.
var sinkPairs = [][2]string{{varHTTP, varHTTPRaw}, {varOpenSearch, varOpenSearchRaw}}

// runSinkVariant runs one sink variant as its own process against in, with
// a fresh consumer group and a fresh destination (receiver run or index),
// and measures it until every record is delivered and committed.
func (h *harness) runSinkVariant(ctx context.Context, v string, in *input, round int) (runResult, error) {
	name := fmt.Sprintf("bench-%s-%s-%d-r%d", h.runID, v, in.size, round)
	group := name
	defer h.cleanup(group)
	var (
		t   *tally
		url string
	)
	if isOpenSearch(v) {
		if h.search == nil {
			return runResult{}, fmt.Errorf("variant %s: no OpenSearch node", v)
		}
		if err := h.search.createIndex(ctx, name); err != nil {
			return runResult{}, err
		}
		defer func() {
			if err := h.search.deleteIndex(context.WithoutCancel(ctx), name); err != nil {
				fmt.Fprintln(h.log, "warning:", err)
			}
		}()
	} else {
		t, url = h.recv.expect(name, h.opts.smoke)
		defer h.recv.forget(name)
	}
	argv, err := h.sinkCommand(v, name, in, group, url)
	if err != nil {
		return runResult{}, err
	}
	c, err := startChild(name, filepath.Join(h.tmp, name+".log"), argv...)
	if err != nil {
		return runResult{}, err
	}
	defer c.kill() // a no-op once it exited
	var doneAt time.Time
	if t != nil {
		doneAt, err = h.awaitProgress(ctx, c, func() (bool, int64, error) {
			got := t.records.Load()
			return got >= in.n, got, nil
		}, func(got int64) string { return fmt.Sprintf("%d of %d records received", got, in.n) })
	} else {
		// Done when the input's offsets are committed: both commit only
		// after the bulk responses said every item is done. The index's
		// count (refreshed every second) shows progress.
		doneAt, err = h.awaitProgress(ctx, c, func() (bool, int64, error) {
			committed, err := h.cl.committed(ctx, group, in.topic)
			if err == nil && caughtUp(committed, in.end) {
				return true, 0, nil
			}
			n, cerr := h.search.count(ctx, name, false)
			if err == nil {
				err = cerr
			}
			return false, n, err
		}, func(got int64) string { return fmt.Sprintf("%d of %d documents indexed", got, in.n) })
	}
	if err != nil {
		return runResult{}, err
	}
	res := runResult{variant: v, round: round, records: in.n, bytes: in.bytes, elapsed: doneAt.Sub(c.started)}
	if err := h.awaitCommitted(ctx, group, in); err != nil {
		return runResult{}, fmt.Errorf("%s: %w", name, err)
	}
	if isBaseline(v) {
		err = c.wait(exitTimeout)
	} else {
		err = c.terminate(exitTimeout)
	}
	if err != nil {
		return runResult{}, err
	}
	if res.usage, err = c.usage(); err != nil {
		return runResult{}, err
	}
	if err := h.checkSink(ctx, v, name, t, in); err != nil {
		return runResult{}, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// checkSink fails unless the destination holds every input record once:
// the receiver counted n records, or the index holds n documents (ids are
// order ids, so n documents are n distinct orders). Smoke runs check each
// order's content too.
func (h *harness) checkSink(ctx context.Context, v, index string, t *tally, in *input) error {
	if isOpenSearch(v) {
		got, err := h.search.count(ctx, index, true)
		if err != nil {
			return err
		}
		if got != in.n {
			return fmt.Errorf("index %s holds %d documents, want %d (%+d)", index, got, in.n, got-in.n)
		}
		if h.opts.smoke {
			return h.search.verifyDocs(ctx, index, in)
		}
		return nil
	}
	if got := t.records.Load(); got != in.n {
		return fmt.Errorf("the receiver got %d records, want %d (%+d)", got, in.n, got-in.n)
	}
	if h.opts.smoke {
		return t.verify(in)
	}
	return nil
}

// sinkCommand is the process of sink variant v; url is the receiver's for
// the http variants.
func (h *harness) sinkCommand(v, name string, in *input, group, url string) ([]string, error) {
	n := strconv.FormatInt(in.n, 10)
	var p pipelineFile
	switch v {
	case varHTTPRaw:
		return []string{h.exe, varHTTPRaw, "-brokers", h.cl.brokers, "-in", in.topic, "-group", group, "-url", url, "-n", n}, nil
	case varOpenSearchRaw:
		return []string{h.exe, varOpenSearchRaw, "-brokers", h.cl.brokers, "-in", in.topic, "-group", group, "-url", h.search.url, "-index", name, "-n", n}, nil
	case varHTTP:
		p = sinkPipeline(name, h.cl.brokers, in.topic, group, "http", map[string]any{
			"url": url, "body": "ndjson", "batch_size": httpBatch, "max_in_flight": httpInFlight,
		})
	case varOpenSearch:
		p = sinkPipeline(name, h.cl.brokers, in.topic, group, "opensearch", map[string]any{
			"url": h.search.url, "index": name, "id": "order_id", "max_bytes": openSearchBytes,
		})
	default:
		return nil, fmt.Errorf("unknown sink variant %q", v)
	}
	path, err := writePipeline(h.tmp, p)
	if err != nil {
		return nil, err
	}
	return []string{h.opts.runner, "-c", path, "--progress", "0", "--log-level", "warn"}, nil
}

// sinkPipeline is one sink stage reading in with group, its connector kind
// configured by conf.
func sinkPipeline(name, brokers, in, group, kind string, conf map[string]any) pipelineFile {
	return pipelineFile{Pipeline: name, Kafka: kafkaSection{Brokers: brokers},
		Sinks: map[string]map[string]any{"stage": {"from": in, "group": group, kind: conf}}}
}
