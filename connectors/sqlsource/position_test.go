package sqlsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/record"
)

// opened builds a source, resumes it from cursor (none when "") and opens it.
func opened(t *testing.T, body, cursor string) *Source {
	t.Helper()
	s, err := newSource(t, body)
	if err != nil {
		t.Fatal(err)
	}
	if cursor != "" {
		if err := s.Resume([]byte(cursor)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantStale checks that err is a stale cursor with every text of want in
// its message.
func wantStale(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, connectors.ErrStalePosition) {
		t.Fatalf("want a stale cursor, got %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
}

// readAll runs Read until it has emitted n rows or returned; it returns
// the ids read, the last cursor and Read's error (nil once stopped after n
// rows).
func readAll(t *testing.T, s *Source, n int) (got []string, cursor string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.Read(ctx, func(_ context.Context, recs []*record.Record, c []byte) error {
		cursor = string(c)
		for _, r := range recs {
			got = append(got, fmt.Sprint(r.Value.(map[string]any)["id"]))
		}
		if len(got) >= n {
			cancel()
		}
		return nil
	})
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("Read emitted %v, not %d rows, within 30s", got, n)
	}
	return got, cursor, err
}

// TestStaleCursorSQLite: a stored cursor beyond the highest id of the
// table (emptied, or dropped and created again) stops the source before it
// polls, with the table, the column, both values and the reason; a cursor
// within the table, or an empty table, does not. SQLite gives a deleted
// last rowid out again, so there deleted rows at the end are reported too.
func TestStaleCursorSQLite(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, v TEXT)")
	body := `{driver: sqlite, dsn: '` + dsn + `', table: orders, mode: incrementing, incrementing_column: id, poll_interval: 10ms}`
	// An empty table says nothing about the cursor.
	if err := opened(t, body, `{"inc":10}`).checkCursor(context.Background(), true); err != nil {
		t.Fatalf("empty table: %v", err)
	}
	for i := 1; i <= 10; i++ {
		exec(t, db, fmt.Sprintf("INSERT INTO orders VALUES (%d, 'old')", i))
	}
	if err := opened(t, body, `{"inc":10}`).checkCursor(context.Background(), true); err != nil {
		t.Fatalf("cursor at the last row: %v", err)
	}
	exec(t, db, "DROP TABLE orders", "CREATE TABLE orders (id INTEGER PRIMARY KEY, v TEXT)")
	for i := 1; i <= 5; i++ {
		exec(t, db, fmt.Sprintf("INSERT INTO orders VALUES (%d, 'new')", i))
	}
	got, _, err := readAll(t, opened(t, body, `{"inc":10}`), 5)
	if len(got) > 0 {
		t.Errorf("read %v from a stale cursor", got)
	}
	wantStale(t, err, "table orders", "id 10", "beyond the highest id there now, 5", "created again", "skip")
	// Read from the start, the new rows all come.
	if got, _, err := readAll(t, opened(t, body, ""), 5); err != nil || strings.Join(got, ",") != "1,2,3,4,5" {
		t.Errorf("from the start: %v, %v", got, err)
	}
}

// TestStaleTimestampCursor: in the timestamp modes the cursor's timestamp
// is checked against the newest one of the table at start.
func TestStaleTimestampCursor(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, "CREATE TABLE events (id INTEGER, updated_at DATETIME)")
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	if _, err := db.Exec("INSERT INTO events VALUES (1, ?)", base); err != nil {
		t.Fatal(err)
	}
	body := `{driver: sqlite, dsn: '` + dsn + `', table: events, mode: timestamp+incrementing, timestamp_column: updated_at, incrementing_column: id}`
	if err := opened(t, body, `{"inc":1,"ts":"2026-01-01T10:00:00Z"}`).checkCursor(context.Background(), true); err != nil {
		t.Fatalf("cursor at the newest row: %v", err)
	}
	err := opened(t, body, `{"inc":7,"ts":"2026-01-01T11:00:00Z"}`).checkCursor(context.Background(), true)
	wantStale(t, err, "table events", "updated_at 2026-01-01T11:00:00Z, id 7", "beyond the highest updated_at")
	// After a poll that found nothing, deleted rows could be taken for a
	// new table: only start checks timestamps.
	if err := opened(t, body, `{"inc":7,"ts":"2026-01-01T11:00:00Z"}`).checkCursor(context.Background(), false); err != nil {
		t.Errorf("check after an empty poll: %v", err)
	}
}

// TestStaleCursorPostgres: on PostgreSQL the cursor is bound to the
// table's oid, so a table dropped and created again is caught even when it
// has more rows than the cursor (which no comparison of ids could tell);
// ids restarted under the same table are caught by the sequence, at start
// and after a poll that found nothing; and rows deleted at the end, with
// the sequence past them, are no reason to stop.
func TestStaleCursorPostgres(t *testing.T) {
	dsn := service.Postgres(t)
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the table's drop below
	table := fmt.Sprintf("stale_%d", time.Now().UnixNano()%1e9)
	create := func(rows int) {
		exec(t, db, "DROP TABLE IF EXISTS "+table, "CREATE TABLE "+table+" (id bigserial PRIMARY KEY, v text)")
		if rows > 0 {
			exec(t, db, fmt.Sprintf("INSERT INTO %s (v) SELECT 'r' || g FROM generate_series(1, %d) g", table, rows))
		}
	}
	t.Cleanup(func() { exec(t, db, "DROP TABLE IF EXISTS "+table) })
	create(10)
	body := `{driver: postgres, dsn: '` + dsn + `', table: ` + table + `, mode: incrementing, incrementing_column: id, poll_interval: 10ms, batch_size: 100}`
	_, cursor, err := readAll(t, opened(t, body, ""), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cursor, `"inc":10`) || !strings.Contains(cursor, `"table":"oid `) {
		t.Fatalf("cursor %s: want id 10 and the table's oid", cursor)
	}

	t.Run("rows deleted at the end", func(t *testing.T) {
		exec(t, db, "DELETE FROM "+table+" WHERE id > 7")
		if err := opened(t, body, cursor).checkCursor(context.Background(), true); err != nil {
			t.Errorf("with the sequence at 10: %v", err)
		}
	})
	t.Run("ids restarted", func(t *testing.T) {
		exec(t, db, "TRUNCATE "+table+" RESTART IDENTITY", "INSERT INTO "+table+" (v) VALUES ('a'), ('b')")
		err := opened(t, body, cursor).checkCursor(context.Background(), true)
		wantStale(t, err, "table "+table, "id 10", "beyond the highest id there now, 2")
		wantStale(t, opened(t, body, cursor).checkCursor(context.Background(), false), "beyond the highest id")
	})
	t.Run("table created again", func(t *testing.T) {
		create(15)
		err := opened(t, body, cursor).checkCursor(context.Background(), true)
		wantStale(t, err, "table "+table, "id 10", "was stored for a table with oid ", "but "+table+" now has oid ", "dropped and created again")
		// Found by a poll that found nothing too, while running.
		s := opened(t, body, cursor)
		s.cur.Table = "oid 1"
		wantStale(t, s.checkCursor(context.Background(), false), "dropped and created again")
	})
	t.Run("cursor of an older version", func(t *testing.T) {
		s := opened(t, body, `{"inc":10}`)
		if err := s.checkCursor(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.cur.Table, "oid ") {
			t.Errorf("not bound to the table: %+v", s.cur)
		}
	})
}

// TestStaleCursorMySQL: the same check of the cursor against the highest
// id and timestamp, on MariaDB.
func TestStaleCursorMySQL(t *testing.T) {
	dsn := service.MySQL(t)
	db, err := sqldb.Open(sqldb.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	table := fmt.Sprintf("stale_%d", time.Now().UnixNano()%1e9)
	exec(t, db, "CREATE TABLE "+table+" (id BIGINT AUTO_INCREMENT PRIMARY KEY, updated_at DATETIME(6) NOT NULL)",
		"INSERT INTO "+table+" (updated_at) VALUES ('2026-01-01 10:00:00'), ('2026-01-01 10:00:01'), ('2026-01-01 10:00:02')")
	t.Cleanup(func() { exec(t, db, "DROP TABLE "+table) })
	inc := `{driver: mysql, dsn: '` + dsn + `', table: ` + table + `, mode: incrementing, incrementing_column: id}`
	if err := opened(t, inc, `{"inc":3}`).checkCursor(context.Background(), true); err != nil {
		t.Errorf("cursor at the last row: %v", err)
	}
	wantStale(t, opened(t, inc, `{"inc":10}`).checkCursor(context.Background(), true), "table "+table, "id 10", "beyond the highest id there now, 3")
	ts := `{driver: mysql, dsn: '` + dsn + `', table: ` + table + `, mode: timestamp, timestamp_column: updated_at}`
	if err := opened(t, ts, `{"ts":"2026-01-01T10:00:02Z"}`).checkCursor(context.Background(), true); err != nil {
		t.Errorf("cursor at the newest row: %v", err)
	}
	wantStale(t, opened(t, ts, `{"ts":"2026-01-01T11:00:00Z"}`).checkCursor(context.Background(), true), "updated_at 2026-01-01T11:00:00Z", "beyond the highest updated_at")
}
