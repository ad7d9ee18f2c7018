package integration

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestRestartAfterKill SIGKILLs a runner while input flows and starts it
// again at once, as a supervisor would, five times. The group keeps a
// killed member's partitions until its session times out (45 s here,
// librdkafka's default); a restarted process must not wait for that: it
// rejoins as the same static member and takes its partitions back. The
// time from restart to the first new output record is logged (median in
// docs/guarantees.md); the test fails only when the output did not resume
// well within the session timeout, which is what the waiting looked like.
func TestRestartAfterKill(t *testing.T) { eachDelivery(t, testRestartAfterKill) }

func testRestartAfterKill(t *testing.T, delivery string) {
	const (
		kills   = 5
		session = 45 * time.Second
	)
	brokers := service.Kafka(t)
	name, in, out := topicPair(t, brokers, "restart", 6)
	cfg := runnertest.Passthrough(t, name, in, out, map[string]string{"session.timeout.ms": fmt.Sprint(session.Milliseconds())})
	env := []string{"KAFKA_BROKERS=" + brokers, "DELIVERY=" + delivery, "CONVEYOR_INSTANCE=one"}
	const rate = 2000
	feed := runnertest.Feed(t, brokers, in, rate, 50)
	p := runnertest.Start(t, cfg, env...)
	var waits []time.Duration
	for k := range kills {
		p.WaitLog(t, "partitions assigned", 2*session)
		// Some output from this process first, so the kill lands mid-stream.
		if !kafkatest.WaitRecordAfter(t, brokers, out, kafkatest.EndOffsets(t, brokers, out), 2*session) {
			t.Fatalf("kill %d: no output before the kill; stderr:\n%s", k+1, p.Stderr.String())
		}
		time.Sleep(2 * time.Second) // working for a while: commits behind it
		p.Kill(t)
		killed := kafkatest.EndOffsets(t, brokers, out)
		restarted := time.Now()
		p = runnertest.Start(t, cfg, env...)
		if !kafkatest.WaitRecordAfter(t, brokers, out, killed, session*2/3) {
			t.Fatalf("kill %d: no output within %s of the restart: the restarted process waited for the dead member's session; stderr:\n%s", k+1, session*2/3, p.Stderr.String())
		}
		waits = append(waits, time.Since(restarted))
	}
	n := feed.Stop(t)
	tl := tallyFault(t, p, brokers, out, n, 120*time.Second, fmt.Sprintf("SIGKILL x%d, restart at once (static member)", kills), delivery)
	// A kill repeats what was done since the last commit (every 500 ms):
	// allow one second's worth per kill.
	expect(t, delivery, tl, kills*rate)
	slices.Sort(waits)
	t.Logf("restart to first output after SIGKILL (session timeout %s): median %s, all %v", session, waits[len(waits)/2].Round(10*time.Millisecond), waits)
}

// TestStopHandsOver: with static membership a process that crashes keeps
// its partitions until its session times out, so that it can take them
// back on restart. A clean stop must not: SIGTERM makes the process leave
// the group, and the process that stays takes every partition at once.
func TestStopHandsOver(t *testing.T) { eachDelivery(t, testStopHandsOver) }

func testStopHandsOver(t *testing.T, delivery string) {
	const session = 45 * time.Second
	brokers := service.Kafka(t)
	name, in, out := topicPair(t, brokers, "handover", 4)
	cfg := runnertest.Passthrough(t, name, in, out, map[string]string{"session.timeout.ms": fmt.Sprint(session.Milliseconds())})
	env := []string{"KAFKA_BROKERS=" + brokers, "DELIVERY=" + delivery}
	feed := runnertest.Feed(t, brokers, in, 1000, 20)
	stays := runnertest.Start(t, cfg, append(env, "CONVEYOR_INSTANCE=stays")...)
	stays.WaitLog(t, "partitions assigned", session)
	leaves := runnertest.Start(t, cfg, append(env, "CONVEYOR_INSTANCE=leaves")...)
	leaves.WaitLog(t, "partitions assigned", session)
	time.Sleep(time.Second)
	all := fmt.Sprintf("partitions=%s[0],%[1]s[1],%[1]s[2],%[1]s[3]", in)
	before := strings.Count(stays.Stderr.String(), all)
	stopped := time.Now()
	if err := leaves.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, leaves.Stderr.String())
	}
	for !(strings.Count(stays.Stderr.String(), all) > before) {
		if time.Since(stopped) > session*2/3 {
			t.Fatalf("the remaining process did not get every partition within %s of the other's clean stop; stderr:\n%s", session*2/3, stays.Stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("clean stop to the other process owning every partition: %s", time.Since(stopped).Round(10*time.Millisecond))
	n := feed.Stop(t)
	kafkatest.ReadUntil(t, brokers, out, 120*time.Second, runnertest.UniqueValues(n))
	if err := stays.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, stays.Stderr.String())
	}
	tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, out, 60*time.Second), n)
	expect(t, delivery, tl, 0)
}

// TestSameInstanceFenced: two live runners given the same --instance are
// the same static group member; the broker fences the older one, which
// must stop with an error that says what to do, not run on half-alive.
func TestSameInstanceFenced(t *testing.T) {
	brokers := service.Kafka(t)
	name, in, out := topicPair(t, brokers, "fenced", 2)
	runnertest.Preload(t, brokers, in, 1000, 10)
	cfg := runnertest.Passthrough(t, name, in, out, fastGroups)
	env := []string{"KAFKA_BROKERS=" + brokers, "RATE=200/s", "CONVEYOR_INSTANCE=same"}
	older := runnertest.Start(t, cfg, env...)
	older.WaitLog(t, "partitions assigned", time.Minute)
	newer := runnertest.Start(t, cfg, env...)
	if ok, _ := older.Wait(time.Minute); !ok {
		_ = older.Cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, to see where it hangs
		older.Wait(5 * time.Second)
		t.Fatalf("the fenced runner still runs a minute after another took its instance name; stderr:\n%s", older.Stderr.String())
	}
	if code := older.Cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(older.Stderr.String(), "its own --instance") {
		t.Errorf("fenced runner: exit %d, want 1 with advice on --instance; stderr:\n%s", code, older.Stderr.String())
	}
	kafkatest.ReadUntil(t, brokers, out, time.Minute, runnertest.UniqueValues(1000))
	if err := newer.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, newer.Stderr.String())
	}
	if tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, out, time.Minute), 1000); tl.Lost != 0 {
		t.Errorf("%s", tl)
	}
}
