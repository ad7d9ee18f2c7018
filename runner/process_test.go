package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// These tests run the runner binary as separate processes against one
// broker, as users scale out and as crashes happen.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func runnerBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runner-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "runner")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a runner subprocess.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startRunner(t *testing.T, config string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(runnerBinary(t), "-c", config, "--progress", "0")
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func (p *proc) term(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("runner did not stop within 60s of SIGTERM; stderr:\n%s", p.stderr.String())
		return nil
	}
}

const passthrough = `
pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {session.timeout.ms: "2000", heartbeat.interval.ms: "300"}
transforms:
  copy:
    from: %s
    rate: ${RATE:-}
    steps:
      - set: {copied: true}
    to: %s
`

// preload writes n keyed records with a per-key sequence and a unique id.
func preload(t *testing.T, brokers, topic string, n, keys int) {
	t.Helper()
	msgs := make([]*kafka.Message, n)
	seq := make([]int, keys)
	for i := range n {
		k := i % keys
		v := fmt.Sprintf(`{"id":%d,"key":"k%d","seq":%d}`, i, k, seq[k])
		seq[k]++
		msgs[i] = kafkatest.Message(topic, []byte("k"+strconv.Itoa(k)), []byte(v), kafka.Header{Key: "origin", Value: []byte("preload")})
	}
	kafkatest.Produce(t, brokers, msgs)
}

// tally counts, per the unique ids of n input records, what reached the
// output: lost (missing), duplicated (extra copies) and reordered (a key's
// first occurrences out of sequence order).
type tally struct{ records, lost, duplicated, reordered int }

func count(t *testing.T, msgs []*kafka.Message, n int) tally {
	t.Helper()
	seen := make([]int, n)
	lastSeq := map[string]int{}
	var tl tally
	tl.records = n
	for _, m := range msgs {
		var v struct {
			ID     int
			Key    string
			Seq    int
			Copied bool
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || !v.Copied {
			t.Fatalf("bad output record %q: %v", m.Value, err)
		}
		// Keys and headers are carried through the transform.
		if string(m.Key) != v.Key || len(m.Headers) != 1 || m.Headers[0].Key != "origin" || string(m.Headers[0].Value) != "preload" {
			t.Fatalf("output record %q lost its key or headers: key %q headers %v", m.Value, m.Key, m.Headers)
		}
		if seen[v.ID]++; seen[v.ID] > 1 {
			tl.duplicated++
			continue
		}
		if last, ok := lastSeq[v.Key]; ok && v.Seq < last {
			tl.reordered++
		}
		lastSeq[v.Key] = v.Seq
	}
	for _, c := range seen {
		if c == 0 {
			tl.lost++
		}
	}
	return tl
}

// uniqueIDs is done when n distinct values were read; it looks at each
// message once, as ReadUntil calls it again and again.
func uniqueIDs(n int) func([]*kafka.Message) bool {
	seen := map[string]bool{}
	checked := 0
	return func(ms []*kafka.Message) bool {
		for _, m := range ms[checked:] {
			seen[string(m.Value)] = true
		}
		checked = len(ms)
		return len(seen) >= n
	}
}

func writeConfig(t *testing.T, name, in, out string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(passthrough, name, in, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScaleOutTwoProcesses runs two runners with the same file: the group
// spreads the partitions across them and every record is copied once.
func TestScaleOutTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	brokers := kafkatest.Embedded(t)
	const n = 20000
	kafkatest.CreateTopic(t, brokers, "scale-in", 6)
	kafkatest.CreateTopic(t, brokers, "scale-out", 6)
	preload(t, brokers, "scale-in", n, 50)
	cfg := writeConfig(t, "scale", "scale-in", "scale-out")
	a := startRunner(t, cfg, "KAFKA_BROKERS="+brokers)
	b := startRunner(t, cfg, "KAFKA_BROKERS="+brokers)
	out := kafkatest.ReadUntil(t, brokers, "scale-out", 120*time.Second, kafkatest.Count(n))
	for _, p := range []*proc{a, b} {
		if err := p.term(t); err != nil {
			t.Errorf("runner exit: %v\n%s", err, p.stderr.String())
		}
	}
	tl := count(t, kafkatest.ReadUntil(t, brokers, "scale-out", 5*time.Second, func([]*kafka.Message) bool { return false }), n)
	t.Logf("scale-out, 2 processes: records=%d received=%d lost=%d duplicated=%d reordered=%d", n, len(out), tl.lost, tl.duplicated, tl.reordered)
	if tl.lost != 0 || tl.reordered != 0 {
		t.Fatalf("lost=%d reordered=%d, want 0", tl.lost, tl.reordered)
	}
	for i, p := range []*proc{a, b} {
		if !strings.Contains(p.stderr.String(), "partitions assigned") {
			t.Errorf("runner %d never got partitions:\n%s", i, p.stderr.String())
		}
	}
}

// TestCrashRestart SIGKILLs a runner mid-stream several times and restarts
// it; at-least-once means nothing is lost, and duplicates are counted.
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	brokers := kafkatest.Embedded(t)
	const n, kills = 30000, 3
	kafkatest.CreateTopic(t, brokers, "crash-in", 6)
	kafkatest.CreateTopic(t, brokers, "crash-out", 6)
	preload(t, brokers, "crash-in", n, 50)
	cfg := writeConfig(t, "crash", "crash-in", "crash-out")
	// Slow the runner down so each kill lands mid-stream.
	env := []string{"KAFKA_BROKERS=" + brokers, "RATE=5000/s"}
	start := time.Now()
	for k := range kills {
		p := startRunner(t, cfg, env...)
		want := (k + 1) * n / (kills + 2)
		got := kafkatest.ReadUntil(t, brokers, "crash-out", 60*time.Second, kafkatest.Count(want))
		if len(got) < want {
			t.Fatalf("kill %d: only %d records out before the kill; stderr:\n%s", k+1, len(got), p.stderr.String())
		}
		p.kill(t)
		t.Logf("%s: kill %d after %d records out", time.Since(start).Round(time.Millisecond), k+1, len(got))
	}
	p := startRunner(t, cfg, env...)
	kafkatest.ReadUntil(t, brokers, "crash-out", 120*time.Second, uniqueIDs(n))
	t.Logf("%s: all records out", time.Since(start).Round(time.Millisecond))
	if err := p.term(t); err != nil {
		t.Errorf("runner exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	all := kafkatest.ReadUntil(t, brokers, "crash-out", 5*time.Second, func([]*kafka.Message) bool { return false })
	tl := count(t, all, n)
	t.Logf("fault=SIGKILLx%d records=%d lost=%d duplicated=%d reordered=%d", kills, n, tl.lost, tl.duplicated, tl.reordered)
	if tl.lost != 0 {
		t.Fatalf("lost %d records", tl.lost)
	}
	committed, end := kafkatest.Committed(t, brokers, "crash.copy", "crash-in")
	for part, e := range end {
		if committed[part] != e {
			t.Errorf("partition %d: committed %d, end %d after a clean stop", part, committed[part], e)
		}
	}
}

// TestSecondSignalExitsAtOnce: the first SIGTERM starts a drain, a second
// one ends the process without waiting for it.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "sig-in", 1)
	preload(t, brokers, "sig-in", 2000, 5)
	cfg := writeConfig(t, "sig", "sig-in", "sig-out")
	// At one record a second the drain of the queued records takes seconds.
	p := startRunner(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=1/s")
	kafkatest.ReadUntil(t, brokers, "sig-out", 60*time.Second, kafkatest.Count(1))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "stopping:"); {
		if time.Now().After(deadline) {
			t.Fatalf("no drain started:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("runner still running 30s after two SIGTERMs")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != exitInterrupt {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitInterrupt, p.stderr.String())
	}
}
