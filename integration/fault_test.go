package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// fastGroups lets a killed member's partitions move on quickly; the
// project's broker allows session timeouts down to 1s.
var fastGroups = map[string]string{"session.timeout.ms": "3000", "heartbeat.interval.ms": "500"}

// Every fault runs in both delivery modes. at_least_once may repeat
// records after a crash, never lose or reorder them; exactly_once neither
// loses, repeats nor reorders.
var deliveries = []string{"at_least_once", "exactly_once"}

func eachDelivery(t *testing.T, test func(t *testing.T, delivery string)) {
	for _, d := range deliveries {
		t.Run(d, func(t *testing.T) { test(t, d) })
	}
}

// fullFaults runs the fault tests at the size docs/guarantees.md reports
// (CONVEYOR_FAULTS=full); CI runs them shorter.
func fullFaults() bool { return os.Getenv("CONVEYOR_FAULTS") == "full" }

// expect checks a tally against the delivery mode's contract; dupBound caps
// at_least_once's repeats.
func expect(t *testing.T, delivery string, tl runnertest.Tally, dupBound int) {
	t.Helper()
	if delivery == "exactly_once" {
		dupBound = 0
	}
	if tl.Lost != 0 || tl.Reordered != 0 || tl.Duplicated > dupBound {
		t.Errorf("%s; want lost=0, reordered=0, duplicated <= %d", tl, dupBound)
	}
}

// topicPair creates an input and an output topic with unique names
// (name-in, name-out, name from unique(prefix)) and partitions each.
func topicPair(t *testing.T, brokers, prefix string, partitions int) (name, in, out string) {
	t.Helper()
	name = unique(prefix)
	in, out = name+"-in", name+"-out"
	kafkatest.CreateTopic(t, brokers, in, partitions)
	kafkatest.CreateTopic(t, brokers, out, partitions)
	return name, in, out
}

// setup creates an input and an output topic with unique names, preloads n
// records over keys keys and writes a passthrough pipeline between them.
func setup(t *testing.T, brokers, prefix string, n, keys, partitions int) (name, in, out, cfg string) {
	t.Helper()
	name, in, out = topicPair(t, brokers, prefix, partitions)
	runnertest.Preload(t, brokers, in, n, keys)
	return name, in, out, runnertest.Passthrough(t, name, in, out, fastGroups)
}

// TestScaleOut: two, then three runner processes with the same file share
// the partitions; in a clean run every record is copied exactly once.
func TestScaleOut(t *testing.T) {
	eachDelivery(t, func(t *testing.T, delivery string) {
		for _, procs := range []int{2, 3} {
			t.Run(fmt.Sprintf("%d processes", procs), func(t *testing.T) { testScaleOut(t, delivery, procs) })
		}
	})
}

func testScaleOut(t *testing.T, delivery string, procs int) {
	brokers := service.Kafka(t)
	const n = 60000
	_, _, out, cfg := setup(t, brokers, fmt.Sprintf("scale%d", procs), n, 60, 6)
	var ps []*runnertest.Proc
	for i := range procs {
		// Each process its own instance: on one host they would share
		// transactional ids and fence each other.
		ps = append(ps, runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=10000/s", "DELIVERY="+delivery, fmt.Sprintf("CONVEYOR_INSTANCE=p%d", i)))
	}
	kafkatest.ReadUntil(t, brokers, out, 120*time.Second, runnertest.UniqueValues(n))
	for _, p := range ps {
		if err := p.Term(t); err != nil {
			t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
		}
	}
	tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, out, 60*time.Second), n)
	faults.add(fmt.Sprintf("none (%d processes share the group)", procs), delivery, tl)
	expect(t, delivery, tl, 0)
	for i, p := range ps {
		if !strings.Contains(p.Stderr.String(), "partitions assigned") {
			t.Errorf("process %d never got partitions:\n%s", i, p.Stderr.String())
		}
	}
}

// TestCrash SIGKILLs the runner repeatedly mid-stream and restarts it.
// At-least-once: nothing lost, order per key kept among first occurrences,
// duplicates bounded by what a process can do between two commits.
// Exactly-once: the killed process's open transaction is aborted when its
// successor starts with the same transactional id; nothing repeats.
func TestCrash(t *testing.T) { eachDelivery(t, testCrash) }

func testCrash(t *testing.T, delivery string) {
	brokers := service.Kafka(t)
	n, kills, rate := 100000, 10, 20000
	if fullFaults() {
		n = 500000
	}
	name, in, out, cfg := setup(t, brokers, "crash", n, 100, 6)
	env := []string{"KAFKA_BROKERS=" + brokers, fmt.Sprintf("RATE=%d/s", rate), "DELIVERY=" + delivery}
	for k := range kills {
		p := runnertest.Start(t, cfg, env...)
		want := (k + 1) * n / (kills + 1)
		got := kafkatest.ReadUntil(t, brokers, out, 120*time.Second, kafkatest.Count(want))
		if len(got) < want {
			t.Fatalf("kill %d: only %d records out; stderr:\n%s", k+1, len(got), p.Stderr.String())
		}
		p.Kill(t)
	}
	p := runnertest.Start(t, cfg, env...)
	tl := tallyFault(t, p, brokers, out, n, 180*time.Second, fmt.Sprintf("SIGKILL runner x%d", kills), delivery)
	// A kill repeats what was copied since the last commit: offsets are
	// stored every 200ms and committed every 500ms, so well under a second
	// of work at the capped rate. Allow one second's worth per kill.
	expect(t, delivery, tl, kills*rate)
	if !kafkatest.WaitCommitted(t, brokers, name+".copy", in, int64(n), 10*time.Second) {
		t.Error("offsets not fully committed after a clean stop")
	}
}

// TestDrain: SIGTERM mid-stream drains and commits, so a restart neither
// loses nor repeats anything, in either mode.
func TestDrain(t *testing.T) { eachDelivery(t, testDrain) }

func testDrain(t *testing.T, delivery string) {
	brokers := service.Kafka(t)
	const n = 50000
	_, _, out, cfg := setup(t, brokers, "drain", n, 50, 6)
	env := []string{"KAFKA_BROKERS=" + brokers, "RATE=10000/s", "DELIVERY=" + delivery}
	p := runnertest.Start(t, cfg, env...)
	if got := kafkatest.ReadUntil(t, brokers, out, 60*time.Second, kafkatest.Count(n/3)); len(got) < n/3 {
		t.Fatalf("only %d records out; stderr:\n%s", len(got), p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit after SIGTERM: %v\n%s", err, p.Stderr.String())
	}
	p = runnertest.Start(t, cfg, env...)
	kafkatest.ReadUntil(t, brokers, out, 120*time.Second, runnertest.UniqueValues(n))
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, out, 60*time.Second), n)
	faults.add("SIGTERM runner, restart", delivery, tl)
	expect(t, delivery, tl, 0)
}

// TestBrokerFault kills the leader of a partition the runner writes to,
// mid-stream, on a three-node cluster (replication factor 3,
// min.insync.replicas 2), and starts it again later.
func TestBrokerFault(t *testing.T) { eachDelivery(t, testBrokerFault) }

func testBrokerFault(t *testing.T, delivery string) {
	cluster := service.KafkaCluster(t)
	brokers := cluster.Brokers()
	const n = 100000
	name, in, out := topicPair(t, brokers, "leader", 6)
	runnertest.Preload(t, brokers, in, n, 60)
	// One runner, so no need for a short session: with the default-like 30s
	// a commit stalled while the ISR shrinks does not cost the assignment.
	cfg := runnertest.Passthrough(t, name, in, out, map[string]string{"session.timeout.ms": "30000"})
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=10000/s", "DELIVERY="+delivery)
	if got := kafkatest.ReadUntil(t, brokers, out, 120*time.Second, kafkatest.Count(n/4)); len(got) < n/4 {
		t.Fatalf("only %d records out; stderr:\n%s", len(got), p.Stderr.String())
	}
	leader, err := cluster.Leader(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.KillNode(leader); err != nil {
		t.Fatal(err)
	}
	kafkatest.ReadUntil(t, brokers, out, 120*time.Second, kafkatest.Count(n/2))
	if err := cluster.StartNode(leader); err != nil {
		t.Fatal(err)
	}
	tl := tallyFault(t, p, brokers, out, n, 180*time.Second, "kill partition leader, restart it", delivery)
	if tl.Duplicated > 0 {
		t.Logf("duplicates per output partition: %v", tl.DuplicatedBy)
	}
	expect(t, delivery, tl, n)
}

// TestKcatInterop: records kcat produces (key, header, JSON value) go
// through the runner, and kcat reads the runner's output intact.
func TestKcatInterop(t *testing.T) {
	brokers := service.Kafka(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat (Debian package kcat) is missing: %v", err)
		}
		t.Skipf("kcat (Debian package kcat) is missing: %v", err)
	}
	name := unique("kcat")
	in, out := name+"-in", name+"-out"
	kafkatest.CreateTopic(t, brokers, in, 3)
	kafkatest.CreateTopic(t, brokers, out, 3)
	input := "k1|{\"id\":0,\"key\":\"k1\",\"seq\":0}\nk2|{\"id\":1,\"key\":\"k2\",\"seq\":0}\nk1|{\"id\":2,\"key\":\"k1\",\"seq\":1}\n"
	cmd := exec.Command(kcat, "-P", "-b", brokers, "-t", in, "-K", "|", "-H", "origin=preload")
	cmd.Stdin = strings.NewReader(input)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, b)
	}
	cfg := runnertest.Passthrough(t, name, in, out, nil)
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	msgs := kafkatest.ReadUntil(t, brokers, out, 60*time.Second, kafkatest.Count(3))
	if tl := runnertest.Count(t, msgs, 3); tl.Lost != 0 {
		t.Fatalf("runner output from kcat input: %s", tl)
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v", err)
	}
	b, err := exec.Command(kcat, "-C", "-b", brokers, "-t", out, "-e", "-q", "-f", "%k|%h|%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("kcat read %d records, want 3:\n%s", len(lines), b)
	}
	for _, l := range lines {
		parts := strings.SplitN(l, "|", 3)
		if len(parts) != 3 || parts[1] != "origin=preload" || !strings.Contains(parts[2], `"copied":true`) || !strings.Contains(parts[2], `"key":"`+parts[0]+`"`) {
			t.Errorf("kcat read %q: want key|origin=preload|JSON with copied and the same key", l)
		}
	}
}
