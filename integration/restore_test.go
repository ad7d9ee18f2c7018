package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// BenchmarkRestoreMillionKeys measures how long a restarted runner takes
// to restore the aggregate state of 1,000,000 keys from its changelog, and
// how much memory that takes. A benchmark, so plain `go test` never runs it
// (a minute or more, ~1 GB of broker disk); it runs once whatever b.N is,
// checks that every changelog entry came back and the restored state is
// live, and reports its numbers:
//
//	go test ./integration -run '^$' -bench RestoreMillionKeys -benchtime 1x -v -timeout 30m
//
// The pipeline counts and sums records per record key over a preloaded
// topic of 1,000,000 records with as many distinct keys (6 partitions), so
// the changelog holds one entry per key. The first runner processes
// everything and is stopped with SIGTERM once its group has committed the
// whole input; the second one restores and is timed from its start to the
// "state restored" log lines that cover all 6 partitions.
func BenchmarkRestoreMillionKeys(b *testing.B) {
	var t testing.TB = b
	const n, partitions = 1_000_000, 6
	brokers := service.Kafka(t)
	name := unique("restore")
	in, out := name+"-in", name+"-out"
	kafkatest.CreateTopic(t, brokers, in, partitions)
	kafkatest.CreateTopic(t, brokers, out, partitions)
	loadStart := time.Now()
	runnertest.Preload(t, brokers, in, n, n) // keys k0..k999999, one record each
	t.Logf("preloaded %d records with %d keys on %d partitions in %s", n, n, partitions, time.Since(loadStart).Round(time.Millisecond))

	cfg := filepath.Join(t.TempDir(), name+".yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
transforms:
  totals:
    from: %s
    steps:
      - aggregate:
          values:
            records: count
            ids: {sum: id}
    to: %s
`, name, in, out)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := "KAFKA_BROKERS=" + brokers
	group := name + ".totals"

	// First run: build the state and its changelog.
	runStart := time.Now()
	p := runnertest.Start(t, cfg, env)
	if !kafkatest.WaitCommitted(t, brokers, group, in, n, 20*time.Minute) {
		t.Fatalf("the stage did not commit %d records; stderr tail:\n%s", n, tail(p.Stderr.String(), 40))
	}
	took := time.Since(runStart)
	firstPeak := vmHWM(p.Cmd.Process.Pid)
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, tail(p.Stderr.String(), 40))
	}
	t.Logf("first run: %d records aggregated and committed in %s (%.0f records/s), peak RSS %s",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), firstPeak)

	// Second run: restore, timed.
	restart := time.Now()
	p = runnertest.Start(t, cfg, env)
	var restores []restoreLine
	for deadline := time.Now().Add(10 * time.Minute); ; {
		restores = restoreLines(t, p.Stderr.String())
		if covered(restores) == partitions {
			break
		}
		if exited, err := p.Wait(0); exited {
			t.Fatalf("restarted runner exited (%v) before restoring; stderr:\n%s", err, tail(p.Stderr.String(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state restored for all %d partitions within 10m; stderr:\n%s", partitions, tail(p.Stderr.String(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
	seenAll := time.Since(restart)
	peak, rss := vmHWM(p.Cmd.Process.Pid), procStatus(p.Cmd.Process.Pid, "VmRSS")
	assigned, _ := logTime(t, p.Stderr.String(), "partitions assigned")

	entries := 0
	for i, r := range restores {
		entries += r.entries
		t.Logf("restore %d: partitions=%s changelog_entries=%d took=%s (logged %s after start)",
			i+1, r.partitions, r.entries, r.took, r.at.Sub(restart).Round(time.Millisecond))
	}
	first, last := restores[0], restores[len(restores)-1]
	t.Logf("restart: start -> partitions assigned %s; start -> first state restored %s; start -> all %d partitions restored %s (polled: %s)",
		assigned.Sub(restart).Round(time.Millisecond), first.at.Sub(restart).Round(time.Millisecond), partitions,
		last.at.Sub(restart).Round(time.Millisecond), seenAll.Round(time.Millisecond))
	t.Logf("restored %d changelog entries (%.0f entries/s by took=), restarted process peak RSS (VmHWM) %s, RSS now %s",
		entries, float64(entries)/sumTook(restores).Seconds(), peak, rss)
	if entries != n {
		t.Errorf("restored %d changelog entries, want %d (one per key)", entries, n)
	}

	// The restored state is the state: one more record for a known key
	// counts on from 1.
	_, ends := kafkatest.Committed(t, brokers, group, out)
	kafkatest.Produce(t, brokers, []*kafka.Message{kafkatest.Message(in, []byte("k0"), []byte(`{"id":1000000,"key":"k0","seq":1}`))})
	row := readNewRow(t, brokers, out, ends, "k0")
	if row["records"] != float64(2) || row["ids"] != float64(1000000) {
		t.Errorf("k0 after restore: %v, want records=2 ids=1000000", row)
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, tail(p.Stderr.String(), 40))
	}
}

// restoreLine is one "state restored" log line.
type restoreLine struct {
	at         time.Time
	partitions string
	parts      []int32
	entries    int
	took       time.Duration
}

var (
	timeRE    = regexp.MustCompile(`^time=(\S+)`)
	partsRE   = regexp.MustCompile(` partitions=(\S+)`)
	entriesRE = regexp.MustCompile(` changelog_entries=(\d+)`)
	tookRE    = regexp.MustCompile(` took=(\S+)`)
	partRE    = regexp.MustCompile(`\[(\d+)\]`)
)

func restoreLines(t testing.TB, stderr string) []restoreLine {
	t.Helper()
	var out []restoreLine
	for sc := bufio.NewScanner(strings.NewReader(stderr)); sc.Scan(); {
		line := sc.Text()
		if !strings.Contains(line, `msg="state restored"`) {
			continue
		}
		var r restoreLine
		var err error
		if m := timeRE.FindStringSubmatch(line); m != nil {
			r.at, err = time.Parse(time.RFC3339Nano, m[1])
		}
		if m := partsRE.FindStringSubmatch(line); m != nil {
			r.partitions = m[1]
			for _, pm := range partRE.FindAllStringSubmatch(m[1], -1) {
				p, _ := strconv.Atoi(pm[1])
				r.parts = append(r.parts, int32(p))
			}
		}
		if m := entriesRE.FindStringSubmatch(line); m != nil {
			r.entries, _ = strconv.Atoi(m[1])
		}
		if m := tookRE.FindStringSubmatch(line); m != nil && err == nil {
			r.took, err = time.ParseDuration(m[1])
		}
		if err != nil || r.at.IsZero() || r.took == 0 && !strings.Contains(line, "took=0s") {
			t.Fatalf("cannot parse %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// covered counts the distinct partitions the restore lines name.
func covered(rs []restoreLine) int {
	seen := map[int32]bool{}
	for _, r := range rs {
		for _, p := range r.parts {
			seen[p] = true
		}
	}
	return len(seen)
}

func sumTook(rs []restoreLine) time.Duration {
	var d time.Duration
	for _, r := range rs {
		d += r.took
	}
	return d
}

// logTime is the time of the first log line with msg.
func logTime(t testing.TB, stderr, msg string) (time.Time, bool) {
	t.Helper()
	for sc := bufio.NewScanner(strings.NewReader(stderr)); sc.Scan(); {
		if line := sc.Text(); strings.Contains(line, `msg="`+msg+`"`) {
			if m := timeRE.FindStringSubmatch(line); m != nil {
				at, err := time.Parse(time.RFC3339Nano, m[1])
				return at, err == nil
			}
		}
	}
	return time.Time{}, false
}

// vmHWM is a process's peak resident set size, from /proc.
func vmHWM(pid int) string { return procStatus(pid, "VmHWM") }

func procStatus(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return strings.TrimSpace(v)
			}
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}

// readNewRow reads topic from the offsets from on until a record with key
// arrives, and returns its value.
func readNewRow(t testing.TB, brokers, topic string, from map[int32]int64, key string) map[string]any {
	t.Helper()
	c := kafkatest.ReaderAt(t, brokers, topic, from)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if m, ok := c.Poll(100).(*kafka.Message); ok && m.TopicPartition.Error == nil && string(m.Key) == key {
			var v map[string]any
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no new row for key %s on %s within 60s", key, topic)
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
