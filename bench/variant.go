package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Variants, in the order they run within a round.
const (
	varRaw         = "raw"
	varPassthrough = "passthrough"
	varTypical     = "typical"
	varTypicalEOS  = "typical-eos" // typical with delivery: exactly_once
	varAggregate   = "aggregate"   // count and sum per key of aggKeys, exactly-once
	varGenerate    = "generate"
	// passthrough and typical reading and writing Avro through a schema
	// registry instead of JSON.
	varPassthroughAvro = "passthrough-avro"
	varTypicalAvro     = "typical-avro"
)

// allVariants are in the order a round runs them: each Avro variant
// right after its JSON twin, so the two meet the same machine.
func allVariants() []string {
	return []string{varRaw, varPassthrough, varPassthroughAvro, varTypical, varTypicalAvro, varTypicalEOS, varAggregate, varGenerate,
		varHTTPRaw, varHTTP, varOpenSearchRaw, varOpenSearch}
}

// typical tells the variants that run the typical steps.
func typical(v string) bool { return v == varTypical || v == varTypicalEOS || v == varTypicalAvro }

// isAvro tells the variants that read and write Avro.
func isAvro(v string) bool { return v == varPassthroughAvro || v == varTypicalAvro }

// transactional tells the exactly-once variants: their output end offsets
// count transaction markers, so they are done when their input offsets are
// committed and their output is counted by reading it.
func transactional(v string) bool { return v == varTypicalEOS || v == varAggregate }

// source is the preloaded input a variant reads: the aggregate variant
// reads the same orders keyed by its group key (groups must not span
// partitions, so it cannot group the store-keyed input by another field).
func source(v string, in *input) *input {
	switch {
	case v == varAggregate:
		return in.keyed
	case isAvro(v):
		return in.avro
	}
	return in
}

// runResult is one measured process run.
type runResult struct {
	variant string
	round   int
	records int64 // input records (generated records for generate)
	bytes   int64 // their value bytes
	elapsed time.Duration
	usage
}

const (
	pollEvery    = 50 * time.Millisecond // completion polling: the timing resolution
	stallTimeout = 60 * time.Second      // no output progress this long fails the run
	exitTimeout  = 60 * time.Second      // drain and exit after completion
)

// runVariant runs one variant as its own process against in, with a fresh
// output topic and consumer group, and measures it.
func (h *harness) runVariant(ctx context.Context, v string, in *input, round int) (runResult, error) {
	if isSink(v) {
		return h.runSinkVariant(ctx, v, in, round)
	}
	name := fmt.Sprintf("bench-%s-%s-%d-r%d", h.runID, v, in.size, round)
	out, group := name+"-out", name
	in = source(v, in)
	if in == nil {
		return runResult{}, fmt.Errorf("%s: no preloaded input for variant %s", name, v)
	}
	if v == varAggregate {
		defer h.cleanup(group, out, changelogOf(name))
	} else {
		defer h.cleanup(group, out)
	}
	if err := h.cl.createTopic(ctx, out); err != nil {
		return runResult{}, err
	}
	if v == varAggregate {
		// The aggregate's changelog is created ahead too, as the runner
		// would (compacted, the input's partition count), with leaders:
		// topic creation stays out of the timing as for the output, and a
		// runner that creates it itself can read it before its partitions
		// have a leader and fail ("restore state: ... Not leader for
		// partition").
		if err := h.cl.createTopicWith(ctx, changelogOf(name), map[string]string{"cleanup.policy": "compact"}); err != nil {
			return runResult{}, err
		}
	}
	argv, err := h.command(v, name, in, out, group)
	if err != nil {
		return runResult{}, err
	}
	want := in.n
	if typical(v) {
		want = in.kept
	}
	c, err := startChild(name, filepath.Join(h.tmp, name+".log"), argv...)
	if err != nil {
		return runResult{}, err
	}
	defer c.kill() // a no-op once it exited
	var doneAt time.Time
	if transactional(v) {
		// Output end offsets count transaction markers too; the work is
		// done when the input's offsets are committed, which an
		// exactly-once stage does in the same transaction as the output.
		doneAt, err = h.awaitCommittedProgress(ctx, c, group, in)
	} else {
		doneAt, err = h.awaitOutput(ctx, c, out, want)
	}
	if err != nil {
		return runResult{}, err
	}
	res := runResult{variant: v, round: round, records: in.n, bytes: in.bytes, elapsed: doneAt.Sub(c.started)}
	if v != varGenerate {
		if err := h.awaitCommitted(ctx, group, in); err != nil {
			return runResult{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if v == varRaw || v == varGenerate {
		err = c.wait(exitTimeout) // both exit by themselves once done
	} else {
		err = c.terminate(exitTimeout)
	}
	if err != nil {
		return runResult{}, err
	}
	if res.usage, err = c.usage(); err != nil {
		return runResult{}, err
	}
	if err := h.checkCount(ctx, v, out, want); err != nil {
		return runResult{}, fmt.Errorf("%s: %w", name, err)
	}
	if v == varGenerate {
		avg, err := h.sampleSize(ctx, out)
		if err != nil {
			return runResult{}, fmt.Errorf("%s: %w", name, err)
		}
		res.bytes = int64(avg * float64(in.n))
	}
	if h.opts.smoke {
		if err := h.verify(ctx, v, in, out, want); err != nil {
			return runResult{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return res, nil
}

// command is the process of variant v.
func (h *harness) command(v, name string, in *input, out, group string) ([]string, error) {
	var p pipelineFile
	switch v {
	case varRaw:
		return []string{h.exe, "raw", "-brokers", h.cl.brokers, "-in", in.topic, "-out", out,
			"-group", group, "-n", strconv.FormatInt(in.n, 10)}, nil
	case varPassthrough, varTypical, varTypicalEOS, varPassthroughAvro, varTypicalAvro:
		p = transformPipeline(name, h.cl.brokers, in.topic, out, group, typical(v))
		if v == varTypicalEOS {
			t := p.Transforms["stage"]
			t.Delivery = "exactly_once"
			p.Transforms["stage"] = t
		}
		if isAvro(v) {
			if h.avro == nil {
				return nil, fmt.Errorf("variant %s: no schema registry", v)
			}
			p = withAvro(p, h.avro.url, in.topic, out, schemaPath(h.avro.dir, in.size, typical(v)))
		}
	case varAggregate:
		p = aggregatePipeline(name, h.cl.brokers, in.topic, out, group)
	case varGenerate:
		p = generatePipeline(name, h.cl.brokers, out, in.n, in.size)
	default:
		return nil, fmt.Errorf("unknown variant %q", v)
	}
	path, err := writePipeline(h.tmp, p)
	if err != nil {
		return nil, err
	}
	return []string{h.opts.runner, "-c", path, "--progress", "0", "--log-level", "warn"}, nil
}

// awaitOutput polls out's end offsets until they add up to want and
// returns when that was seen. It fails when the process exits with an
// error, or exits or stalls before the output is complete.
func (h *harness) awaitOutput(ctx context.Context, c *child, out string, want int64) (time.Time, error) {
	return h.awaitProgress(ctx, c, func() (bool, int64, error) {
		end, err := h.cl.endOffsets(ctx, out)
		if err != nil {
			return false, 0, err
		}
		got := sum(end)
		return got >= want, got, nil
	}, func(got int64) string { return fmt.Sprintf("%d of %d records in %s", got, want, out) })
}

// awaitProgress polls until poll says the child's work is done (with no
// error) and returns when that was seen. poll also counts the work done so
// far: the child has stalled when the count stops growing for
// stallTimeout. It fails when the process exits with an error, or exits or
// stalls first; progress describes a count for those errors.
func (h *harness) awaitProgress(ctx context.Context, c *child, poll func() (done bool, count int64, err error), progress func(int64) string) (time.Time, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	var last int64
	lastProgress := time.Now()
	for {
		exited := c.hasExited()
		done, got, err := poll()
		if err == nil && done {
			return time.Now(), nil
		}
		if got > last {
			last, lastProgress = got, time.Now()
		}
		if exited {
			if err := c.wait(0); err != nil {
				return time.Time{}, err
			}
			return time.Time{}, fmt.Errorf("%s exited with %s", c.name, progress(last))
		}
		if time.Since(lastProgress) > stallTimeout {
			return time.Time{}, fmt.Errorf("%s stalled at %s (last error: %v); its output ends with:\n%s", c.name, progress(last), err, c.logTail())
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

// awaitCommitted waits until group has committed the end of every input
// partition: the at-least-once work is finished, not just the output.
func (h *harness) awaitCommitted(ctx context.Context, group string, in *input) error {
	deadline := time.Now().Add(stallTimeout)
	for {
		committed, err := h.cl.committed(ctx, group, in.topic)
		if err == nil && caughtUp(committed, in.end) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s did not commit the end of %s within %s: committed %v, end %v (last error: %v)", group, in.topic, stallTimeout, committed, in.end, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkCount fails when out holds other than want records once the
// process is gone: missing records, or duplicates a fault-free run should
// not have. A transactional output is counted by reading it: its end
// offsets count markers.
func (h *harness) checkCount(ctx context.Context, v, out string, want int64) error {
	var got int64
	if transactional(v) {
		if err := h.readTopic(ctx, out, 0, func(*kafka.Message) error { got++; return nil }); err != nil {
			return err
		}
	} else {
		end, err := h.cl.endOffsets(ctx, out)
		if err != nil {
			return err
		}
		got = sum(end)
	}
	if got != want {
		return fmt.Errorf("%s holds %d records, want %d (%+d)", out, got, want, got-want)
	}
	return nil
}

// awaitCommittedProgress waits until group has committed the end of every
// input partition and returns when that was seen; it fails when the
// process exits first or the commits stop moving for stallTimeout.
func (h *harness) awaitCommittedProgress(ctx context.Context, c *child, group string, in *input) (time.Time, error) {
	return h.awaitProgress(ctx, c, func() (bool, int64, error) {
		committed, err := h.cl.committed(ctx, group, in.topic)
		return err == nil && caughtUp(committed, in.end), sum(committed), err
	}, func(got int64) string { return fmt.Sprintf("%d of %d input records committed", got, sum(in.end)) })
}

// cleanup drops a run's group (if any) and topics; failures only cost disk, so
// they are reported and the benchmark goes on.
func (h *harness) cleanup(group string, topics ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.cl.deleteTopics(ctx, topics...); err != nil {
		fmt.Fprintln(h.log, "warning:", err)
	}
	if group == "" {
		return
	}
	if err := h.cl.deleteGroup(ctx, group); err != nil {
		fmt.Fprintln(h.log, "warning:", err)
	}
}
