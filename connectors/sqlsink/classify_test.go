package sqlsink

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/conveyor-dev/conveyor/connectors"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code}) }
	my := func(n uint16, state string) error {
		e := &mysql.MySQLError{Number: n}
		copy(e.SQLState[:], state)
		return e
	}
	for _, c := range []struct {
		name string
		err  error
		want fault
	}{
		{"pg not null", pg("23502"), rowFault},
		{"pg unique", pg("23505"), rowFault},
		{"pg foreign key", pg("23503"), rowFault},
		{"pg check", pg("23514"), rowFault},
		{"pg numeric out of range", pg("22003"), rowFault},
		{"pg invalid text", pg("22P02"), rowFault},
		{"pg index row too big", pg("54000"), rowFault},
		{"pg serialization failure", pg("40001"), transient},
		{"pg deadlock", pg("40P01"), transient},
		{"pg too many connections", pg("53300"), transient},
		{"pg admin shutdown", pg("57P01"), transient},
		{"pg starting up", pg("57P03"), transient},
		{"pg read only", pg("25006"), transient},
		{"pg no table", pg("42P01"), noTable},
		{"pg no schema", pg("3F000"), noTable},
		{"pg no column", pg("42703"), noColumn},
		{"pgx encode", errors.New("failed to encode args[3]: unable to encode 1 into binary format for int4"), rowFault},
		{"mysql duplicate", my(1062, "23000"), rowFault},
		{"mysql incorrect integer", my(1366, "HY000"), rowFault},
		{"mysql any 22xxx", my(1999, "22007"), rowFault},
		{"mysql deadlock", my(1213, "40001"), transient},
		{"mysql lock wait", my(1205, "HY000"), transient},
		{"mysql no table", my(1146, "42S02"), noTable},
		{"mysql no column", my(1054, "42S22"), noColumn},
		{"bad conn", driver.ErrBadConn, transient},
		{"mysql invalid conn", mysql.ErrInvalidConn, transient},
		{"timeout", context.DeadlineExceeded, transient},
		{"unknown", errors.New("connection reset by peer"), transient},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

// TestClassifySQLite gets real errors from SQLite, whose error type has no
// exported constructor.
func TestClassifySQLite(t *testing.T) {
	s := sqliteSink(t, `CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)`, "table: c\nkey: [id]")
	for q, want := range map[string]fault{
		"INSERT INTO c VALUES (1, NULL)":      rowFault,
		"INSERT INTO c VALUES ('x', 1)":       rowFault, // datatype mismatch for INTEGER PRIMARY KEY
		"INSERT INTO nope VALUES (1)":         noTable,
		"INSERT INTO c (id, w) VALUES (1, 2)": noColumn,
		"SELEKT 1":                            transient,
	} {
		_, err := s.db.Exec(q)
		if err == nil {
			t.Fatalf("%s: no error", q)
		}
		if got := classify(err); got != want {
			t.Errorf("%s (%v): got %d, want %d", q, err, got, want)
		}
	}
}

// TestUnreachableDatabase: a database that is down fails neither Open nor
// the stage, only the writes, transiently and without the password.
func TestUnreachableDatabase(t *testing.T) {
	for _, dsn := range []string{
		"postgres://alice:hunter2secret@127.0.0.1:1/x?connect_timeout=2",
		"alice:hunter2secret@tcp(127.0.0.1:1)/x?timeout=2s",
	} {
		driverName := "postgres"
		if !strings.HasPrefix(dsn, "postgres") {
			driverName = "mysql"
		}
		s := openSink(t, "driver: "+driverName+"\ndsn: '"+dsn+"'\ntable: t\nkey: [id]")
		err := s.Write(context.Background(), recs(t, `{"id": 1}`))
		var re *connectors.RecordError
		if err == nil || errors.As(err, &re) {
			t.Fatalf("%s: want a transient error, got %v", driverName, err)
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("%s: the password leaked: %v", driverName, err)
		}
	}
}

func TestWriteBeforeOpen(t *testing.T) {
	s := mustSink(t, "driver: sqlite\ndsn: "+filepath.Join(t.TempDir(), "x.db")+"\ntable: t\nkey: [id]")
	if err := s.Write(context.Background(), recs(t, `{"id": 1}`)); !errors.Is(err, errNotOpen) {
		t.Errorf("got %v", err)
	}
	if err := s.WriteWithOffsets(context.Background(), nil, []connectors.Offset{off("g", "t", 0, -1, 1)}); !errors.Is(err, errNotOpen) {
		t.Errorf("WriteWithOffsets: got %v", err)
	}
	if _, err := s.StoredOffsets(context.Background(), "g", []connectors.Partition{part("t", 0)}); !errors.Is(err, errNotOpen) {
		t.Errorf("StoredOffsets: got %v", err)
	}
	if s.Close() != nil {
		t.Error("Close before Open")
	}
}
