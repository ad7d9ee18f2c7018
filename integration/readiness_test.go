package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

func readyz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz waits until /readyz answers with code and a body containing
// text.
func waitReadyz(t *testing.T, addr string, code int, text string, p *runnertest.Proc) {
	t.Helper()
	var got int
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, body = readyz(addr); got == code && strings.Contains(body, text) {
			return
		}
	}
	t.Fatalf("/readyz: %d %q, want %d with %q; stderr:\n%s", got, body, code, text, p.Stderr.String())
}

// TestNotReadyWhileDatabaseFails: a SQL source whose table does not exist
// yet and a SQL sink whose database does not answer start, but /readyz says
// they are not ready and why; their log lines name pipeline and stage. When
// the table appears the source turns ready and its rows flow. A stop does
// not wait the whole shutdown_timeout for a sink that cannot write. With
// startup: fail the runner stops at once instead, naming what is missing.
func TestNotReadyWhileDatabaseFails(t *testing.T) {
	brokers := service.Kafka(t)
	dsn := service.Postgres(t)
	db := openPostgres(t, dsn)
	name := unique("ready")
	table := strings.ReplaceAll(name, "-", "_")
	kafkatest.CreateTopic(t, brokers, name, 1)
	kafkatest.CreateTopic(t, brokers, name+"-in", 1)
	runnertest.Preload(t, brokers, name+"-in", 10, 2)
	down := "postgres://postgres@127.0.0.1:1/conveyor?sslmode=disable" // nothing listens on port 1
	pipeline := func(startup string) string {
		return writePipeline(t, name+startup, fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
shutdown_timeout: 60s
sources:
  rows:
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, mode: incrementing, incrementing_column: id, poll_interval: 100ms, startup: %s}
    to: %[1]s
sinks:
  nowhere:
    from: %[1]s-in
    sql: {driver: postgres, dsn: '%s', table: t, mode: insert, startup: %[3]s}
`, name, table, startup, down))
	}
	addr := runnertest.FreeAddr(t)
	p := runnertest.Start(t, pipeline("wait"), "KAFKA_BROKERS="+brokers, "PG_DSN="+dsn, "CONVEYOR_METRICS_ADDR="+addr)
	waitReadyz(t, addr, http.StatusServiceUnavailable, name+"/rows (polling "+table+" fails", p)
	waitReadyz(t, addr, http.StatusServiceUnavailable, name+"/nowhere (", p)
	for _, line := range strings.Split(p.Stderr.String(), "\n") {
		if strings.Contains(line, "sql source poll failed") && !strings.Contains(line, "pipeline="+name+" stage=rows") {
			t.Errorf("a retry line without its pipeline and stage: %s", line)
		}
	}
	if _, err := db.Exec(`CREATE TABLE ` + table + ` (id bigserial PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO ` + table + ` (v) SELECT 'x' FROM generate_series(1, 5)`); err != nil {
		t.Fatal(err)
	}
	if got := kafkatest.ReadUntil(t, brokers, name, 30*time.Second, kafkatest.Count(5)); len(got) != 5 {
		t.Fatalf("%d rows in Kafka after the table appeared, want 5", len(got))
	}
	if code, body := readyz(addr); strings.Contains(body, name+"/rows") {
		t.Errorf("/readyz %d %q: the source is polling, yet not ready", code, body)
	}
	stopped := time.Now()
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	if took := time.Since(stopped); took > 30*time.Second {
		t.Errorf("the stop took %s: it waited for a sink that cannot write (shutdown_timeout 60s)", took)
	}
	p.WaitLog(t, "the records not written are read again", 0)

	failing := runnertest.Start(t, pipeline("fail"), "KAFKA_BROKERS="+brokers, "PG_DSN="+dsn)
	if ok, _ := failing.Wait(60 * time.Second); !ok {
		t.Fatalf("startup: fail, yet the runner still runs a minute after its sink's database did not answer:\n%s", failing.Stderr.String())
	}
	if code := failing.Cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(failing.Stderr.String(), "does not answer") {
		t.Errorf("startup: fail: exit %d, want 1 saying the database does not answer:\n%s", code, failing.Stderr.String())
	}
}
