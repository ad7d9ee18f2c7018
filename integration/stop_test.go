package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// Clean stops while input flows: the runner is stopped with SIGTERM and
// started again several times while a feeder writes thousands of records a
// second. A clean stop must lose nothing and, having drained and committed,
// repeat nothing, in either delivery mode. A slow or quiet input hid a loss
// here before: records prefetched when the stop came were committed without
// being processed.
const (
	stopRate     = 5000 // records/s into the input while the runner stops and starts
	stopInterval = 2500 * time.Millisecond
)

func stops() int {
	if fullFaults() {
		return 10
	}
	return 6
}

// stopCase is one shape of pipeline under repeated clean stops.
type stopCase struct {
	name       string
	deliveries []string
	// pipeline writes the pipeline file reading in; the output is read back
	// by collect.
	pipeline func(t *testing.T, name, in, delivery string) (cfg string, env []string)
	// collect returns every output value once the output holds want
	// distinct records, or when the timeout passes.
	collect func(t *testing.T, name, cfg string, want int, procs []*runnertest.Proc) [][]byte
	// afterExit: the output is complete only once the processes exited
	// (standard output); collect again then.
	afterExit bool
	// shared keeps a second process running in the same group while the
	// first one stops and starts.
	shared bool
	// preload writes this many records before the first start, so the
	// stops come while the stage catches up.
	preload int
}

func TestStopWhileFlowing(t *testing.T) {
	both := deliveries
	alo := []string{"at_least_once"}
	eos := []string{"exactly_once"}
	if fullFaults() {
		alo, eos = both, both
	}
	cases := []stopCase{
		{name: "transform", deliveries: both, pipeline: copyPipeline(1), collect: topicOutput("-out")},
		{name: "chain of two transforms", deliveries: alo, pipeline: copyPipeline(2), collect: topicOutput("-out")},
		{name: "two processes one restarting", deliveries: both, pipeline: copyPipeline(1), collect: topicOutput("-out"), shared: true},
		{name: "transform catching up", deliveries: alo, pipeline: copyPipeline(1), collect: topicOutput("-out"), preload: 100000},
		// A producer queue of a few messages: stops come while a record
		// waits for room to produce its output (an exactly-once stage
		// committed such a record's offset without its output).
		{name: "transform with a full producer queue", deliveries: eos, pipeline: copyPipelineWith(1, map[string]string{"queue.buffering.max.messages": "100"}), collect: topicOutput("-out")},
		{name: "file sink", deliveries: []string{"at_least_once"}, pipeline: fileSinkPipeline, collect: fileOutput},
		{name: "stdout sink", deliveries: []string{"at_least_once"}, pipeline: stdoutSinkPipeline, collect: stdoutOutput, afterExit: true},
		{name: "sql sink", deliveries: both, pipeline: sqlSinkPipeline, collect: sqlOutput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, d := range c.deliveries {
				t.Run(d, func(t *testing.T) { testStopWhileFlowing(t, c, d) })
			}
		})
	}
}

func testStopWhileFlowing(t *testing.T, c stopCase, delivery string) {
	brokers := service.Kafka(t)
	name := unique("stop")
	in := name + "-in"
	kafkatest.CreateTopic(t, brokers, in, 3)
	if c.preload > 0 {
		runnertest.Preload(t, brokers, in, c.preload, 50)
	}
	cfg, env := c.pipeline(t, name, in, delivery)
	env = append(env, "KAFKA_BROKERS="+brokers, "DELIVERY="+delivery)
	if c.preload > 0 {
		// Slow enough that every stop comes while it catches up.
		env = append(env, fmt.Sprintf("RATE=%d/s", stopRate))
	}
	var procs []*runnertest.Proc
	start := func(instance string) *runnertest.Proc {
		p := runnertest.Start(t, cfg, append(env, "CONVEYOR_INSTANCE="+instance)...)
		procs = append(procs, p)
		return p
	}
	if c.shared {
		start("steady").WaitLog(t, "partitions assigned", 60*time.Second)
	}
	var feed *runnertest.Feeder
	if c.preload == 0 {
		feed = runnertest.Feed(t, brokers, in, stopRate, 50)
	}
	p := start("restarting")
	for i := range stops() {
		p.WaitLog(t, "partitions assigned", 60*time.Second)
		time.Sleep(stopInterval)
		if err := p.Term(t); err != nil {
			t.Fatalf("stop %d: runner exit: %v\n%s", i+1, err, p.Stderr.String())
		}
		p = start("restarting")
	}
	n := c.preload
	if feed != nil {
		n = feed.Stop(t)
	}
	values := c.collect(t, name, cfg, n, procs)
	for _, p := range procs {
		if ok, _ := p.Wait(0); !ok {
			if err := p.Term(t); err != nil {
				t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
			}
		}
	}
	if c.afterExit {
		values = c.collect(t, name, cfg, n, procs)
	}
	tl := runnertest.CountValues(t, values, n)
	faults.add(fmt.Sprintf("SIGTERM x%d while flowing: %s", stops(), c.name), delivery, tl)
	expect(t, delivery, tl, 0)
}

// copyPipeline writes a chain of stages transforms long from in to
// name-out, the last one marking records copied.
func copyPipeline(stages int) func(t *testing.T, name, in, delivery string) (string, []string) {
	return copyPipelineWith(stages, nil)
}

// copyPipelineWith is copyPipeline with more kafka.config properties.
func copyPipelineWith(stages int, props map[string]string) func(t *testing.T, name, in, delivery string) (string, []string) {
	all := maps.Clone(fastGroups)
	maps.Copy(all, props)
	return func(t *testing.T, name, in, delivery string) (string, []string) {
		var b strings.Builder
		fmt.Fprintf(&b, "pipeline: %s\nkafka:\n  brokers: ${KAFKA_BROKERS}\n  config: {%s}\ntopics:\n", name, kafkaProps(all))
		for i := 1; i < stages; i++ {
			fmt.Fprintf(&b, "  %s-mid%d: {partitions: 3}\n", name, i)
		}
		fmt.Fprintf(&b, "  %s-out: {partitions: 3}\ntransforms:\n", name)
		from := in
		for i := 1; i <= stages; i++ {
			to := fmt.Sprintf("%s-mid%d", name, i)
			step := fmt.Sprintf("{hop%d: true}", i)
			if i == stages {
				to, step = name+"-out", "{copied: true}"
			}
			fmt.Fprintf(&b, "  copy%d:\n    from: %s\n    delivery: ${DELIVERY}\n    rate: ${RATE:-}\n    steps:\n      - set: %s\n    to: %s\n", i, from, step, to)
			from = to
		}
		return writePipeline(t, name, b.String()), nil
	}
}

// fileSinkPipeline writes its lines to name.jsonl beside the pipeline file.
func fileSinkPipeline(t *testing.T, name, in, delivery string) (string, []string) {
	dir := t.TempDir()
	path := filepath.Join(dir, name+".jsonl")
	return writePipelineAt(t, filepath.Join(dir, name+".yaml"), fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {%s}
sinks:
  lines:
    from: %s
    delivery: ${DELIVERY}
    steps: [{set: {copied: true}}]
    file: {path: %s}
`, name, kafkaProps(fastGroups), in, path)), nil
}

func stdoutSinkPipeline(t *testing.T, name, in, delivery string) (string, []string) {
	return writePipeline(t, name, fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {%s}
sinks:
  print:
    from: %s
    delivery: ${DELIVERY}
    steps: [{set: {copied: true}}]
    stdout: {format: json}
`, name, kafkaProps(fastGroups), in)), nil
}

func sqlSinkPipeline(t *testing.T, name, in, delivery string) (string, []string) {
	dsn := service.Postgres(t)
	return writePipeline(t, name, fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {%s}
sinks:
  rows:
    from: %s
    delivery: ${DELIVERY}
    steps: [{set: {copied: true}}]
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, mode: insert, auto_create: true, batch_size: 500}
`, name, kafkaProps(fastGroups), in, sqlTable(name))), []string{"PG_DSN=" + dsn}
}

func sqlTable(name string) string { return strings.ReplaceAll(name, "-", "_") }

func kafkaProps(m map[string]string) string {
	var props []string
	for k, v := range m {
		props = append(props, fmt.Sprintf("%s: %q", k, v))
	}
	return strings.Join(props, ", ")
}

func writePipeline(t *testing.T, name, text string) string {
	t.Helper()
	return writePipelineAt(t, filepath.Join(t.TempDir(), name+".yaml"), text)
}

// writePipelineAt writes text to the pipeline file at path.
func writePipelineAt(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// topicOutput reads the output topic name+suffix.
func topicOutput(suffix string) func(t *testing.T, name, cfg string, want int, _ []*runnertest.Proc) [][]byte {
	return func(t *testing.T, name, _ string, want int, _ []*runnertest.Proc) [][]byte {
		brokers := service.Kafka(t)
		kafkatest.ReadUntil(t, brokers, name+suffix, 120*time.Second, runnertest.UniqueValues(want))
		var values [][]byte
		for _, m := range kafkatest.ReadAll(t, brokers, name+suffix, 60*time.Second) {
			values = append(values, m.Value)
		}
		return values
	}
}

// waitValues polls read until it returns want distinct values or the
// timeout passes.
func waitValues(want int, timeout time.Duration, read func() [][]byte) [][]byte {
	var values [][]byte
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		values = read()
		distinct := map[string]bool{}
		for _, v := range values {
			distinct[string(v)] = true
		}
		if len(distinct) >= want || time.Now().After(deadline) {
			return values
		}
	}
}

// fileOutput reads the file every process appended to, beside cfg.
func fileOutput(t *testing.T, name, cfg string, want int, _ []*runnertest.Proc) [][]byte {
	path := filepath.Join(filepath.Dir(cfg), name+".jsonl")
	return waitValues(want, 120*time.Second, func() [][]byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return splitLines(b)
	})
}

func stdoutOutput(t *testing.T, name, _ string, want int, procs []*runnertest.Proc) [][]byte {
	return waitValues(want, 120*time.Second, func() [][]byte {
		var values [][]byte
		for _, p := range procs {
			for _, line := range splitLines([]byte(p.Stdout.String())) {
				var rec struct{ Value json.RawMessage }
				if err := json.Unmarshal(line, &rec); err != nil {
					t.Fatalf("stdout line %q: %v", line, err)
				}
				values = append(values, rec.Value)
			}
		}
		return values
	})
}

func sqlOutput(t *testing.T, name, _ string, want int, _ []*runnertest.Proc) [][]byte {
	db := openPostgres(t, service.Postgres(t))
	return waitValues(want, 120*time.Second, func() [][]byte {
		var rows []struct {
			ID     int    `json:"id"`
			Key    string `json:"key"`
			Seq    int    `json:"seq"`
			Copied bool   `json:"copied"`
		}
		if err := db.Select(&rows, `SELECT id, key, seq, copied FROM `+sqlTable(name)); err != nil {
			t.Logf("read %s: %v", sqlTable(name), err)
			return nil
		}
		values := make([][]byte, len(rows))
		for i, r := range rows {
			values[i], _ = json.Marshal(r)
		}
		return values
	})
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}
