package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
)

// These tests run the runner binary as separate processes against one
// embedded broker, as users scale out and as crashes happen. The same
// scenarios against a real Apache Kafka live in ../integration.

// fastGroups lets a killed member's partitions move on quickly.
var fastGroups = map[string]string{"session.timeout.ms": "2000", "heartbeat.interval.ms": "300"}

// TestScaleOutTwoProcesses runs two runners with the same file: the group
// spreads the partitions across them and every record is copied once.
func TestScaleOutTwoProcesses(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	const n = 20000
	kafkatest.CreateTopic(t, brokers, "scale-in", 6)
	kafkatest.CreateTopic(t, brokers, "scale-out", 6)
	runnertest.Preload(t, brokers, "scale-in", n, 50)
	cfg := runnertest.Passthrough(t, "scale", "scale-in", "scale-out", fastGroups)
	// A rate cap keeps the work going long enough for both to join the
	// group, however busy the machine.
	a := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=2500/s")
	b := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=2500/s")
	kafkatest.ReadUntil(t, brokers, "scale-out", 120*time.Second, kafkatest.Count(n))
	for _, p := range []*runnertest.Proc{a, b} {
		if err := p.Term(t); err != nil {
			t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
		}
	}
	tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, "scale-out", 30*time.Second), n)
	t.Logf("scale-out, 2 processes: %s", tl)
	if tl.Lost != 0 || tl.Reordered != 0 {
		t.Fatalf("lost=%d reordered=%d, want 0", tl.Lost, tl.Reordered)
	}
	for _, p := range []*runnertest.Proc{a, b} {
		p.WaitLog(t, "partitions assigned", time.Second)
	}
}

// TestCrashRestart SIGKILLs a runner mid-stream several times and restarts
// it; at-least-once means nothing is lost, and duplicates are counted.
func TestCrashRestart(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	const n, kills = 30000, 3
	kafkatest.CreateTopic(t, brokers, "crash-in", 6)
	kafkatest.CreateTopic(t, brokers, "crash-out", 6)
	runnertest.Preload(t, brokers, "crash-in", n, 50)
	cfg := runnertest.Passthrough(t, "crash", "crash-in", "crash-out", fastGroups)
	// A rate cap makes each kill land mid-stream.
	env := []string{"KAFKA_BROKERS=" + brokers, "RATE=5000/s"}
	for k := range kills {
		p := runnertest.Start(t, cfg, env...)
		want := (k + 1) * n / (kills + 2)
		got := kafkatest.ReadUntil(t, brokers, "crash-out", 60*time.Second, kafkatest.Count(want))
		if len(got) < want {
			t.Fatalf("kill %d: only %d records out before the kill; stderr:\n%s", k+1, len(got), p.Stderr.String())
		}
		p.Kill(t)
	}
	p := runnertest.Start(t, cfg, env...)
	kafkatest.ReadUntil(t, brokers, "crash-out", 120*time.Second, runnertest.UniqueValues(n))
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit after SIGTERM: %v\n%s", err, p.Stderr.String())
	}
	tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, "crash-out", 30*time.Second), n)
	t.Logf("fault=SIGKILLx%d %s", kills, tl)
	if tl.Lost != 0 {
		t.Fatalf("lost %d records", tl.Lost)
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
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "sig-in", 1)
	runnertest.Preload(t, brokers, "sig-in", 2000, 5)
	cfg := runnertest.Passthrough(t, "sig", "sig-in", "sig-out", nil)
	// At one record a second the drain of the queued records takes seconds.
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=1/s")
	kafkatest.ReadUntil(t, brokers, "sig-out", 60*time.Second, kafkatest.Count(1))
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	p.WaitLog(t, "stopping:", 10*time.Second)
	time.Sleep(repeatWindow + 200*time.Millisecond) // a repeat within the window is the same stop
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if ok, _ := p.Wait(30 * time.Second); !ok {
		t.Fatal("runner still running 30s after two SIGTERMs")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != exitInterrupt {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitInterrupt, p.Stderr.String())
	}
}

// TestStopSignalsDrain: a SIGTERM repeated at once (as GNU timeout and some
// supervisors send it) stops the runner with a drain, exit 0, and says so in
// the log.
func TestStopSignalsDrain(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	for _, c := range []struct {
		name    string
		signals []syscall.Signal
		log     string
	}{
		{"SIGTERM twice at once", []syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}, "signal repeated within 1s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := strings.ToLower(strings.ReplaceAll(c.name, " ", "-"))
			kafkatest.CreateTopic(t, brokers, name+"-in", 1)
			runnertest.Preload(t, brokers, name+"-in", 200, 5)
			cfg := runnertest.Passthrough(t, name, name+"-in", name+"-out", nil)
			// At 5 records a second, batches are one record and the drain
			// of the queued ones takes most of a second.
			p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "RATE=5/s")
			kafkatest.ReadUntil(t, brokers, name+"-out", 60*time.Second, kafkatest.Count(3))
			for _, s := range c.signals {
				_ = p.Cmd.Process.Signal(s)
				time.Sleep(50 * time.Millisecond)
			}
			if ok, _ := p.Wait(60 * time.Second); !ok {
				t.Fatal("runner still running 60s after the signals")
			}
			if code := p.Cmd.ProcessState.ExitCode(); code != exitOK {
				t.Fatalf("exit status %d, want %d (drained); stderr:\n%s", code, exitOK, p.Stderr.String())
			}
			p.WaitLog(t, c.log, 0)
			p.WaitLog(t, "partitions revoked", 0)
		})
	}
}

// TestSIGHUPReloads: SIGHUP reloads the pipeline file instead of stopping
// the runner. An invalid file is refused with its file:line:col and the
// pipeline keeps copying; a valid change restarts the changed stage, whose
// new steps then show in the output; SIGTERM still drains and exits 0.
func TestSIGHUPReloads(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "hup-in", 1)
	cfg := runnertest.Passthrough(t, "hup", "hup-in", "hup-out", nil)
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers)
	runnertest.Preload(t, brokers, "hup-in", 10, 2)
	kafkatest.ReadUntil(t, brokers, "hup-out", 60*time.Second, kafkatest.Count(10))

	bad := strings.Replace(string(orig), "set: {copied: true}", "set: {copied: (}", 1)
	if err := os.WriteFile(cfg, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.Cmd.Process.Signal(syscall.SIGHUP)
	p.WaitLog(t, "reload refused: the running pipelines keep going", 30*time.Second)
	p.WaitLog(t, filepath.Base(cfg)+":", 0) // the problem names the file
	runnertest.Preload(t, brokers, "hup-in", 10, 2)
	kafkatest.ReadUntil(t, brokers, "hup-out", 60*time.Second, kafkatest.Count(20))

	changed := strings.Replace(string(orig), "set: {copied: true}", "set: {copied: true, reloaded: true}", 1)
	if err := os.WriteFile(cfg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.Cmd.Process.Signal(syscall.SIGHUP)
	p.WaitLog(t, `restarted=[hup/copy]`, 60*time.Second)
	runnertest.Preload(t, brokers, "hup-in", 10, 2)
	msgs := kafkatest.ReadUntil(t, brokers, "hup-out", 60*time.Second, kafkatest.Count(30))
	if v := string(msgs[len(msgs)-1].Value); !strings.Contains(v, `"reloaded":true`) {
		t.Fatalf("after the reload the last output lacks the new field: %s", v)
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if ok, _ := p.Wait(60 * time.Second); !ok {
		t.Fatal("runner still running 60s after SIGTERM")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitOK, p.Stderr.String())
	}
}

// TestWatchReloads: with --watch, saving the pipeline file the way editors
// do (a new file renamed over the old) reloads it without a signal.
func TestWatchReloads(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "watch-in", 1)
	cfg := runnertest.Passthrough(t, "watch", "watch-in", "watch-out", nil)
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := runnertest.StartArgs(t, []string{"--watch", "-c", cfg}, "KAFKA_BROKERS="+brokers)
	p.WaitLog(t, "partitions assigned", 60*time.Second)
	changed := strings.Replace(string(orig), "set: {copied: true}", "set: {copied: true, watched: true}", 1)
	tmp := cfg + ".tmp"
	if err := os.WriteFile(tmp, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, `restarted=[watch/copy]`, 60*time.Second)
	runnertest.Preload(t, brokers, "watch-in", 5, 1)
	msgs := kafkatest.ReadUntil(t, brokers, "watch-out", 60*time.Second, kafkatest.Count(5))
	if v := string(msgs[len(msgs)-1].Value); !strings.Contains(v, `"watched":true`) {
		t.Fatalf("after the reload the output lacks the new field: %s", v)
	}
	p.StopCleanly(t)
}
