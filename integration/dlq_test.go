package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestDLQReplay: a pipeline whose assert dead-letters every third record,
// then `runner dlq inspect` and `runner dlq replay --where` as separate
// processes. The target topic gets exactly the selected dead letters, with
// their error headers stripped; a second replay replays nothing. In
// exactly_once the dead-letter topic is written in transactions, so its
// offsets include markers.
func TestDLQReplay(t *testing.T) { eachDelivery(t, testDLQReplay) }

func testDLQReplay(t *testing.T, delivery string) {
	brokers := service.Kafka(t)
	const n = 60 // n/3 dead letters: every n with n % 3 == 0
	name := unique("dlq")
	in, out, dlq, fixed := name+"-in", name+"-out", name+"-dlq", name+"-fixed"
	kafkatest.CreateTopic(t, brokers, fixed, 2)
	cfg := filepath.Join(t.TempDir(), name+".yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
topics:
  %s: {partitions: 3}
  %s: {partitions: 3}
  %s: {partitions: 2}
sources:
  numbers:
    generate: {count: %d, value: '{"n": _offset}'}
    steps:
      - headers: {origin: '"numbers"'}
    to: %s
transforms:
  check:
    from: %s
    delivery: %s
    steps:
      - assert: {expr: 'n %% 3 != 0', message: multiple of three}
    to: %s
    on_error: {dead_letter: %s}
`, name, in, out, dlq, n, in, in, delivery, out, dlq)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	if got := kafkatest.ReadUntil(t, brokers, out, 60*time.Second, kafkatest.Count(n-n/3)); len(got) < n-n/3 {
		t.Fatalf("%s has %d records, want %d; stderr:\n%s", out, len(got), n-n/3, p.Stderr.String())
	}
	if got := kafkatest.ReadUntil(t, brokers, dlq, 30*time.Second, kafkatest.Count(n/3)); len(got) < n/3 {
		t.Fatalf("%s has %d dead letters, want %d; stderr:\n%s", dlq, len(got), n/3, p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}

	dlqCmd := func(args ...string) string {
		t.Helper()
		bin, err := runnertest.Binary()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append([]string{"dlq"}, args...)...)
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("runner dlq %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("runner dlq %s: still running after 2m\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
		}
		return stdout.String()
	}

	table := dlqCmd("inspect", dlq)
	t.Logf("runner dlq inspect %s:\n%s", dlq, table)
	for _, want := range []string{name + "/check", "steps[0].assert", "multiple of three", in + "[", `{"n":0}`, fmt.Sprintf("%d dead letter(s) in %s", n/3, dlq)} {
		if !strings.Contains(table, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}

	// Dead letters with n < 30 are replayed: 0, 3, ..., 27.
	where := `n < 30 && _headers["conveyor.error.step"] == "steps[0].assert"`
	var want []int
	for i := 0; i < 30; i += 3 {
		want = append(want, i)
	}
	dry := dlqCmd("replay", "--from", dlq, "--to", fixed, "--where", where, "--dry-run")
	if s := fmt.Sprintf("dry run: read %d, would replay %d, would skip %d", n/3, len(want), n/3-len(want)); !strings.Contains(dry, s) {
		t.Errorf("dry run output lacks %q:\n%s", s, dry)
	}
	first := dlqCmd("replay", "--from", dlq, "--to", fixed, "--where", where)
	t.Logf("runner dlq replay:\n%s", first)
	if s := fmt.Sprintf("read %d, replayed %d, skipped %d", n/3, len(want), n/3-len(want)); !strings.Contains(first, s) {
		t.Errorf("replay output lacks %q:\n%s", s, first)
	}
	second := dlqCmd("replay", "--from", dlq, "--to", fixed)
	if !strings.Contains(second, "read 0, replayed 0, skipped 0") {
		t.Errorf("second replay should find nothing:\n%s", second)
	}

	got := kafkatest.ReadAll(t, brokers, fixed, 60*time.Second)
	var ns []int
	for _, m := range got {
		var v struct{ N int }
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("bad replayed value %q: %v", m.Value, err)
		}
		ns = append(ns, v.N)
		var keys []string
		for _, h := range m.Headers {
			keys = append(keys, h.Key)
			if strings.HasPrefix(h.Key, "conveyor.error.") {
				t.Errorf("replayed record %s kept header %s", m.Value, h.Key)
			}
		}
		if !slices.Equal(keys, []string{"origin", "conveyor.replayed.from"}) {
			t.Errorf("replayed record %s has headers %v, want origin and conveyor.replayed.from", m.Value, keys)
		}
		if from := dlqHeader(m, "conveyor.replayed.from"); !strings.HasPrefix(from, dlq+"[") {
			t.Errorf("conveyor.replayed.from = %q", from)
		}
	}
	slices.Sort(ns)
	if !slices.Equal(ns, want) {
		t.Errorf("%s holds n = %v, want %v", fixed, ns, want)
	}
	committed, end := kafkatest.Committed(t, brokers, "conveyor-dlq-replay."+dlq+"."+fixed, dlq)
	for part, e := range end {
		if e > 0 && committed[part] != e {
			t.Errorf("%s[%d]: group committed %d, want the end %d", dlq, part, committed[part], e)
		}
	}
}

func dlqHeader(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
