package integration

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// faults collects one row per fault test for the table printed at the end;
// tests run in one binary, so a package-level collector is the simplest owner.
var faults faultTable

type faultTable struct {
	mu   sync.Mutex
	rows []faultRow
}

type faultRow struct {
	fault, delivery string
	tally           runnertest.Tally
}

func (ft *faultTable) add(fault, delivery string, tl runnertest.Tally) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.rows = append(ft.rows, faultRow{fault, delivery, tl})
}

func (ft *faultTable) String() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.rows) == 0 {
		return ""
	}
	rows := append([]faultRow(nil), ft.rows...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].fault != rows[j].fault {
			return rows[i].fault < rows[j].fault
		}
		return rows[i].delivery < rows[j].delivery
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-46s %-13s %9s %6s %11s %10s\n", "fault", "delivery", "records", "lost", "duplicated", "reordered")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-46s %-13s %9d %6d %11d %10d\n", r.fault, r.delivery, r.tally.Records, r.tally.Lost, r.tally.Duplicated, r.tally.Reordered)
	}
	return b.String()
}

func TestMain(m *testing.M) {
	code := service.Main(m)
	fmt.Print(faults.String())
	os.Exit(code)
}

// openPostgres connects to the test server; the connection closes with the
// test.
func openPostgres(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pgCase is what a test of a SQL connector starts from: Kafka, PostgreSQL
// and a connection to it, a unique name for topics and groups, and a table
// whose name has the same unique suffix, so reruns never meet old rows.
type pgCase struct {
	brokers, dsn, name, table string
	db                        *sqlx.DB
}

// startPGCase starts (or reuses) both servers, names the case
// unique(prefix) and its table tablePrefix plus the name's unique suffix,
// and runs each of ddl with %[1]s standing for the table.
func startPGCase(t *testing.T, prefix, tablePrefix string, ddl ...string) pgCase {
	t.Helper()
	c := pgCase{brokers: service.Kafka(t), dsn: service.Postgres(t), name: unique(prefix)}
	c.db = openPostgres(t, c.dsn)
	c.table = tablePrefix + c.name[len(prefix+"-"):]
	for _, q := range ddl {
		if _, err := c.db.Exec(fmt.Sprintf(q, c.table)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// tallyFault is how a fault test ends: it waits for every one of the n
// records, stops the runner (an unclean exit is an error, the output is
// still checked), and tallies the output into the table printed at the end.
func tallyFault(t *testing.T, p *runnertest.Proc, brokers, out string, n int, wait time.Duration, fault, delivery string) runnertest.Tally {
	t.Helper()
	kafkatest.ReadUntil(t, brokers, out, wait, runnertest.UniqueValues(n))
	p.StopCleanly(t)
	tl := runnertest.Count(t, kafkatest.ReadAll(t, brokers, out, 60*time.Second), n)
	faults.add(fault, delivery, tl)
	return tl
}
