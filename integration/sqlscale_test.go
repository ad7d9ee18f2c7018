package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestSQLSourceScaleOut runs three runner processes of one pipeline whose
// SQL source polls a PostgreSQL table while rows keep arriving. One process
// at a time polls (the holder of the source's lease); the others stand by.
// Without faults every row reaches Kafka once in both modes. With the
// holder SIGKILLed five times (and started again as a standby), another
// process takes over within seconds; exactly_once still writes each row
// once, at_least_once loses none.
func TestSQLSourceScaleOut(t *testing.T) {
	eachDelivery(t, func(t *testing.T, delivery string) {
		for _, kills := range []int{0, 5} {
			t.Run(fmt.Sprintf("%d kills", kills), func(t *testing.T) { testSQLSourceScaleOut(t, delivery, kills, false) })
		}
	})
	// A holder that is paused (SIGSTOP) past its session, not killed, comes
	// back believing it still holds the source: its transactions carry the
	// lease group's old generation, and the broker refuses them.
	t.Run("exactly_once/2 pauses", func(t *testing.T) { testSQLSourceScaleOut(t, "exactly_once", 2, true) })
}

const (
	leaseWon  = "this runner process reads the source now"
	leaseLost = "lost the source to another runner process"
)

// holds reports whether p's log says it holds the lease now.
func holds(p *runnertest.Proc) bool {
	s := p.Stderr.String()
	return strings.LastIndex(s, leaseWon) > strings.LastIndex(s, leaseLost) && strings.Contains(s, leaseWon)
}

func testSQLSourceScaleOut(t *testing.T, delivery string, kills int, pause bool) {
	brokers := service.Kafka(t)
	dsn := service.Postgres(t)
	db := openPostgres(t, dsn)
	name := unique("sqlscale")
	table := strings.ReplaceAll(name, "-", "_")
	if _, err := db.Exec(`CREATE TABLE ` + table + ` (id bigserial PRIMARY KEY, k text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	kafkatest.CreateTopic(t, brokers, name, 3)
	cfg := filepath.Join(t.TempDir(), "sql.yaml")
	pipeline := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}', config: {session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}}
sources:
  rows:
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, mode: incrementing, incrementing_column: id, key_columns: [k], batch_size: 500, poll_interval: 50ms}
    to: %s
    delivery: %s
`, name, table, name, delivery)
	if err := os.WriteFile(cfg, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	// Rows arrive all along: 20 every 10 ms.
	var inserted sync.WaitGroup
	stopInsert := make(chan struct{})
	inserted.Go(func() {
		for {
			select {
			case <-stopInsert:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := db.Exec(`INSERT INTO ` + table + ` (k) SELECT 'k' || (g % 20) FROM generate_series(1, 20) g`); err != nil {
				t.Error(err)
				return
			}
		}
	})
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn}
	procs := map[string]*runnertest.Proc{}
	start := func(instance string) {
		procs[instance] = runnertest.Start(t, cfg, append(env, "CONVEYOR_INSTANCE="+instance)...)
	}
	for _, i := range []string{"a", "b", "c"} {
		start(i)
	}
	holder := func(timeout time.Duration) string {
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for i, p := range procs {
				if holds(p) {
					return i
				}
			}
		}
		return ""
	}
	var handovers []time.Duration
	time.Sleep(3 * time.Second)
	for k := range kills {
		h := holder(30 * time.Second)
		if h == "" {
			t.Fatalf("kill %d: no process holds the source", k+1)
		}
		if pause {
			paused := procs[h]
			if err := paused.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			delete(procs, h)
			stopped := time.Now()
			if holder(30*time.Second) == "" {
				t.Fatalf("pause %d: no process took the source over within 30s", k+1)
			}
			handovers = append(handovers, time.Since(stopped))
			time.Sleep(time.Second)
			if err := paused.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			procs[h] = paused
			time.Sleep(3 * time.Second)
			continue
		}
		procs[h].Kill(t)
		killed := time.Now()
		delete(procs, h)
		if holder(30*time.Second) == "" {
			t.Fatalf("kill %d: no process took the source over within 30s", k+1)
		}
		handovers = append(handovers, time.Since(killed))
		start(h) // back as a standby
		time.Sleep(2 * time.Second)
	}
	time.Sleep(2 * time.Second)
	close(stopInsert)
	inserted.Wait()
	var total int
	if err := db.Get(&total, `SELECT count(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	kafkatest.ReadUntil(t, brokers, name, 120*time.Second, distinctIDs(total))
	pollers := 0
	for i, p := range procs {
		if strings.Contains(p.Stderr.String(), leaseWon) {
			pollers++
		}
		if err := p.Term(t); err != nil {
			t.Errorf("runner %s exit: %v\n%s", i, err, p.Stderr.String())
		}
	}
	if kills == 0 && pollers != 1 {
		t.Errorf("%d of 3 processes polled the table, want 1", pollers)
	}
	tl := countIDs(t, kafkatest.ReadAll(t, brokers, name, 60*time.Second), total)
	fault := "SQL source, 3 processes, none killed"
	if pause {
		fault = fmt.Sprintf("SQL source, 3 processes, holder paused past its session x%d", kills)
	} else if kills > 0 {
		slices.Sort(handovers)
		fault = fmt.Sprintf("SQL source, 3 processes, holder SIGKILLed x%d", kills)
		t.Logf("hand-over after SIGKILL (lease session 6 s): median %s, all %v", handovers[len(handovers)/2].Round(10*time.Millisecond), handovers)
	}
	faults.add(fault, delivery, tl)
	if kills == 0 || delivery == "exactly_once" {
		expect(t, delivery, tl, 0)
	} else {
		expect(t, delivery, tl, total)
	}
}
