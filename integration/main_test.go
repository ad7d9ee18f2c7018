package integration

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
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
