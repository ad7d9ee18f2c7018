// Package runnertest runs the runner binary as separate processes in tests,
// feeds them keyed fixtures and counts what reached the output: lost,
// duplicated and reordered records.
package runnertest

import (
	"bytes"
	"fmt"
	"net"
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

// Binary builds the runner once per test binary and returns its path, or
// returns $CONVEYOR_TEST_RUNNER when set: the same tests then run against
// another build (to see a new test fail on the old code, say).
var Binary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("CONVEYOR_TEST_RUNNER"); bin != "" {
		return bin, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "runner-bin")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "runner")
	cmd := exec.Command("go", "build", "-o", path, "./runner")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./runner: %v\n%s", err, out)
	}
	return path, nil
})

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FreeAddr returns a loopback address that was free a moment ago, for a
// runner to listen on (its metrics, say).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is a runner subprocess.
type Proc struct {
	Cmd    *exec.Cmd
	Stdout *SyncBuffer
	Stderr *SyncBuffer
	done   chan error
	err    error
	exited bool
}

// SyncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs `runner -c config` with extra environment variables; the
// process is killed when the test ends if it is still running.
func Start(t testing.TB, config string, env ...string) *Proc {
	t.Helper()
	return StartArgs(t, []string{"-c", config}, env...)
}

// StartArgs runs `runner ARGS... --progress 0` as Start does.
func StartArgs(t testing.TB, args []string, env ...string) *Proc {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(args, "--progress", "0")...)
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{Cmd: cmd, Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !p.exited {
			_ = cmd.Process.Kill()
			p.Wait(time.Minute)
		}
	})
	return p
}

// Wait waits up to timeout for the process to exit; err is its exit error
// (nil for status 0).
func (p *Proc) Wait(timeout time.Duration) (exited bool, err error) {
	if p.exited {
		return true, p.err
	}
	select {
	case p.err = <-p.done:
		p.exited = true
		return true, p.err
	case <-time.After(timeout):
		return false, nil
	}
}

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait(time.Minute)
}

// Term sends SIGTERM and returns the exit error once the runner has drained.
func (p *Proc) Term(t testing.TB) error {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		if ok, exitErr := p.Wait(time.Second); ok {
			return fmt.Errorf("the runner had exited before SIGTERM (%v)", exitErr)
		}
		t.Fatal(err)
	}
	ok, err := p.Wait(90 * time.Second)
	if !ok {
		// Its goroutines, to show where it hangs.
		_ = p.Cmd.Process.Signal(syscall.SIGQUIT)
		p.Wait(10 * time.Second)
		t.Fatalf("runner did not stop within 90s of SIGTERM; stderr:\n%s", p.Stderr.String())
	}
	return err
}

// StopCleanly stops the runner with SIGTERM; an unclean exit is a test
// error, not the end of the test, so what it wrote is still checked.
func (p *Proc) StopCleanly(t testing.TB) {
	t.Helper()
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
}

// WaitLog waits until the runner's stderr contains text.
func (p *Proc) WaitLog(t testing.TB, text string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(p.Stderr.String(), text); {
		if time.Now().After(deadline) {
			t.Fatalf("runner never logged %q:\n%s", text, p.Stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Passthrough writes a pipeline file with one transform copying in to out
// (its delivery mode from $DELIVERY, at_least_once by default)
// and marking each record copied. Extra kafka properties (for example a
// short session timeout) and the stage's rate cap (RATE) come from the
// environment of the runner.
func Passthrough(t testing.TB, name, in, out string, kafkaConfig map[string]string) string {
	t.Helper()
	var props []string
	for k, v := range kafkaConfig {
		props = append(props, fmt.Sprintf("%s: %q", k, v))
	}
	text := fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {%s}
transforms:
  copy:
    from: %s
    rate: ${RATE:-}
    delivery: ${DELIVERY:-at_least_once}
    steps:
      - set: {copied: true}
    to: %s
`, name, strings.Join(props, ", "), in, out)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Preload writes n records over keys keys: each value carries a unique id,
// its key and a sequence number per key; each record has the header
// origin=preload.
func Preload(t testing.TB, brokers, topic string, n, keys int) {
	t.Helper()
	const chunk = 50000
	seq := make([]int, keys)
	for start := 0; start < n; start += chunk {
		var msgs []*kafka.Message
		for i := start; i < min(n, start+chunk); i++ {
			k := i % keys
			v := fmt.Sprintf(`{"id":%d,"key":"k%d","seq":%d}`, i, k, seq[k])
			seq[k]++
			msgs = append(msgs, kafkatest.Message(topic, []byte("k"+strconv.Itoa(k)), []byte(v), kafka.Header{Key: "origin", Value: []byte("preload")}))
		}
		kafkatest.Produce(t, brokers, msgs)
	}
}

// Tally is what reached the output of n preloaded records.
type Tally struct {
	Records, Received, Lost, Duplicated, Reordered int
	// DuplicatedBy counts duplicates per output partition, to tell a
	// consumer replay (all partitions) from producer retries (one).
	DuplicatedBy map[int32]int
	// LostIDs names the first lost records, to find them in the input.
	LostIDs []int
}

func (tl Tally) String() string {
	s := fmt.Sprintf("records=%d received=%d lost=%d duplicated=%d reordered=%d", tl.Records, tl.Received, tl.Lost, tl.Duplicated, tl.Reordered)
	if len(tl.LostIDs) > 0 {
		s += fmt.Sprintf(" (first lost ids %v)", tl.LostIDs)
	}
	return s
}

// Count checks every output record (copied, key and header carried) and
// counts, by unique id, the lost and duplicated records and, per key, first
// occurrences that came out of sequence order.
func Count(t testing.TB, msgs []*kafka.Message, n int) Tally {
	t.Helper()
	values := make([][]byte, len(msgs))
	for i, m := range msgs {
		v := parse(t, m.Value, n)
		if string(m.Key) != v.Key || len(m.Headers) != 1 || m.Headers[0].Key != "origin" || string(m.Headers[0].Value) != "preload" {
			t.Fatalf("output record %q lost its key or headers: key %q headers %v", m.Value, m.Key, m.Headers)
		}
		values[i] = m.Value
	}
	return count(t, values, n, func(i int) int32 { return msgs[i].TopicPartition.Partition })
}

// CountValues is Count for outputs that keep only the value (a file, a
// table, standard output): each value must be a copied record.
func CountValues(t testing.TB, values [][]byte, n int) Tally {
	t.Helper()
	return count(t, values, n, func(int) int32 { return 0 })
}

type output struct {
	ID     int
	Key    string
	Seq    int
	Copied bool
}

func parse(t testing.TB, value []byte, n int) output {
	t.Helper()
	var v output
	if err := json.Unmarshal(value, &v); err != nil || !v.Copied || v.ID < 0 || v.ID >= n {
		t.Fatalf("bad output record %q (want a copied record with id below %d): %v", value, n, err)
	}
	return v
}

func count(t testing.TB, values [][]byte, n int, partition func(int) int32) Tally {
	t.Helper()
	seen := make([]int, n)
	lastSeq := map[string]int{}
	tl := Tally{Records: n, Received: len(values), DuplicatedBy: map[int32]int{}}
	for i, value := range values {
		v := parse(t, value, n)
		if seen[v.ID]++; seen[v.ID] > 1 {
			tl.Duplicated++
			tl.DuplicatedBy[partition(i)]++
			continue
		}
		if last, ok := lastSeq[v.Key]; ok && v.Seq < last {
			tl.Reordered++
		}
		lastSeq[v.Key] = v.Seq
	}
	for id, c := range seen {
		if c == 0 {
			tl.Lost++
			if len(tl.LostIDs) < 20 {
				tl.LostIDs = append(tl.LostIDs, id)
			}
		}
	}
	return tl
}

// UniqueValues is a ReadUntil condition met once n distinct values were
// read; it looks at each message once.
func UniqueValues(n int) func([]*kafka.Message) bool {
	return UniqueBy(n, func(m *kafka.Message) (string, bool) { return string(m.Value), true })
}

// UniqueBy is a ReadUntil condition met once n distinct identities were
// read; identity says what identifies a message (false: nothing, it is
// not counted). It looks at each message once.
func UniqueBy(n int, identity func(*kafka.Message) (string, bool)) func([]*kafka.Message) bool {
	seen := map[string]bool{}
	checked := 0
	return func(ms []*kafka.Message) bool {
		for _, m := range ms[checked:] {
			if id, ok := identity(m); ok {
				seen[id] = true
			}
		}
		checked = len(ms)
		return len(seen) >= n
	}
}
