package sqlsource

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

func TestMain(m *testing.M) { os.Exit(service.Main(m)) }

// newSource builds a source from the YAML of its sql block, as a pipeline
// file would, so errors carry positions.
func newSource(t *testing.T, body string) (*Source, error) {
	t.Helper()
	src := "pipeline: s\nkafka: {brokers: embedded}\nsources:\n  rows:\n    sql: " + body + "\n    to: t\n"
	p, err := pipeline.Parse("p.yaml", []byte(src), pipeline.Options{Kinds: pipeline.Kinds{Sources: []string{"sql"}}})
	if err != nil {
		t.Fatal(err)
	}
	return New(p.Sources[0].Connector, connectors.Env{})
}

// openSource is an open source of config body, closed when the test ends;
// a non-nil cursor is resumed from before it opens. Any error ends the
// test.
func openSource(t *testing.T, body string, cursor []byte) *Source {
	t.Helper()
	s, err := newSource(t, body)
	if err != nil {
		t.Fatal(err)
	}
	if cursor != nil {
		if err := s.Resume(cursor); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// batch is what one emit call handed over.
type batch struct {
	values []map[string]any
	keys   []string
	cursor string
}

// pollAll runs polls until one returns nothing new.
func pollAll(t *testing.T, s *Source) []batch {
	t.Helper()
	var out []batch
	for range 100 {
		before := len(out)
		_, err := s.poll(context.Background(), func(_ context.Context, recs []*record.Record, c []byte) error {
			b := batch{cursor: string(c)}
			for _, r := range recs {
				b.values = append(b.values, r.Value.(map[string]any))
				b.keys = append(b.keys, string(r.Key))
			}
			out = append(out, b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == before || s.cfg.Mode == Bulk {
			return out
		}
	}
	t.Fatal("polling never caught up")
	return nil
}

func ids(bs []batch) string {
	var parts []string
	for _, b := range bs {
		var in []string
		for _, v := range b.values {
			in = append(in, fmt.Sprint(v["id"]))
		}
		parts = append(parts, strings.Join(in, ","))
	}
	return strings.Join(parts, " | ")
}

func sqliteDB(t *testing.T) (string, *sqlx.DB) {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "src.db")
	db, err := sqldb.Open(sqldb.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

func exec(t *testing.T, db *sqlx.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestIncrementingSQLite(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, store TEXT, qty INTEGER)")
	for i := 1; i <= 5; i++ {
		exec(t, db, fmt.Sprintf("INSERT INTO orders VALUES (%d, 'orlando', %d)", i, i*2))
	}
	s := openSource(t, `{driver: sqlite, dsn: '`+dsn+`', table: orders, mode: incrementing, incrementing_column: id, batch_size: 2, key_columns: [store]}`, nil)
	got := pollAll(t, s)
	if ids(got) != "1,2 | 3,4 | 5" || got[2].cursor != `{"inc":5}` || got[0].keys[0] != "orlando" {
		t.Fatalf("batches %s cursors %q %q", ids(got), got[0].cursor, got[2].cursor)
	}
	// New rows after a restart from the stored cursor: nothing skipped, nothing repeated.
	exec(t, db, "INSERT INTO orders VALUES (6, 'tampa', 1)", "INSERT INTO orders VALUES (7, 'tampa', 2)")
	s2 := openSource(t, `{driver: sqlite, dsn: '`+dsn+`', table: orders, mode: incrementing, incrementing_column: id, batch_size: 2}`, []byte(got[1].cursor))
	if got := ids(pollAll(t, s2)); got != "5,6 | 7" {
		t.Fatalf("after resume from id 4: %s", got)
	}
}

func TestTimestampKeepsTiesTogether(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, "CREATE TABLE events (id INTEGER, updated_at DATETIME)")
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for i, sec := range []int{0, 1, 1, 1, 2, 3} {
		if _, err := db.Exec("INSERT INTO events VALUES (?, ?)", i, base.Add(time.Duration(sec)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	s := openSource(t, `{driver: sqlite, dsn: '`+dsn+`', table: events, mode: timestamp, timestamp_column: updated_at, batch_size: 2}`, nil)
	got := pollAll(t, s)
	if ids(got) != "0,1 | 2,3 | 4,5" {
		t.Fatalf("batches %s", ids(got))
	}
	// The first batch ends inside the group at 10:00:01, so its cursor stays at 10:00:00.
	var c struct{ TS string }
	_ = json.Unmarshal([]byte(got[0].cursor), &c)
	if !strings.HasPrefix(c.TS, "2026-01-01T10:00:00") {
		t.Fatalf("first cursor %s should stay before the split group", got[0].cursor)
	}
	s2, _ := newSource(t, `{driver: sqlite, dsn: '`+dsn+`', table: events, mode: timestamp, timestamp_column: updated_at, batch_size: 2}`)
	_ = s2.Resume([]byte(got[0].cursor))
	_ = s2.Open(context.Background())
	defer s2.Close()
	if got := ids(pollAll(t, s2)); got != "1,2 | 3,4 | 5" {
		t.Fatalf("after resume: %s (rows of the split group must come again)", got)
	}
}

func TestDelayHoldsBackRecentRows(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, "CREATE TABLE events (id INTEGER, updated_at DATETIME)")
	now := time.Now().UTC()
	for i, age := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if _, err := db.Exec("INSERT INTO events VALUES (?, ?)", i, now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := newSource(t, `{driver: sqlite, dsn: '`+dsn+`', table: events, mode: timestamp+incrementing, timestamp_column: updated_at, incrementing_column: id, delay: 30s}`)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Open(context.Background())
	defer s.Close()
	if got := ids(pollAll(t, s)); got != "0,1" {
		t.Fatalf("with a 30s delay: %s, want the two older rows", got)
	}
}

func TestBulkAndQuery(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, "CREATE TABLE t (id INTEGER, v TEXT)", "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	s, err := newSource(t, `{driver: sqlite, dsn: '`+dsn+`', query: "SELECT id, upper(v) AS v FROM t WHERE id > 1", mode: bulk}`)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Open(context.Background())
	defer s.Close()
	for range 2 { // bulk reads everything every poll
		got := pollAll(t, s)
		if ids(got) != "2,3" || got[0].values[0]["v"] != "B" || got[0].cursor != "" {
			t.Fatalf("bulk query: %s %v", ids(got), got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{driver: oracle, dsn: x, table: t}`:                                    `sources.rows.sql.driver: unknown driver "oracle"`,
		`{driver: sqlite, dsn: x, table: "t; drop table u"}`:                    `sources.rows.sql.table: invalid table "t; drop table u"`,
		`{driver: sqlite, dsn: x, table: t, columns: ["a\"b"]}`:                 `sources.rows.sql.columns[0]: invalid column "a\"b"`,
		`{driver: sqlite, dsn: x, table: t, mode: incrementing}`:                `sources.rows.sql.incrementing_column: mode incrementing needs incrementing_column`,
		`{driver: sqlite, dsn: x, table: t, incrementing_column: "id or 1=1"}`:  `sources.rows.sql.incrementing_column: invalid column "id or 1=1"`,
		`{driver: sqlite, dsn: x}`:                                              `sources.rows.sql.table: set table (with optional columns) or query`,
		`{driver: sqlite, dsn: x, query: "select 1; drop table t", mode: bulk}`: `sources.rows.sql.query: one statement only`,
		`{driver: sqlite, dsn: x, table: t, mode: sometimes}`:                   `sources.rows.sql.mode: unknown mode "sometimes"`,
	} {
		_, err := newSource(t, body)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "p.yaml:5:") {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}

// TestTypesPostgres checks the documented type mapping against a real
// PostgreSQL.
func TestTypesPostgres(t *testing.T) {
	dsn := service.Postgres(t)
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	table := fmt.Sprintf("types_%d", time.Now().UnixNano()%1e9)
	exec(t, db, `CREATE TABLE `+table+` (id bigint primary key, i int, small smallint, dec numeric(20,4), f double precision, r real,
		b boolean, t text, vc varchar(10), ts timestamptz, tsn timestamp, d date, bin bytea, j jsonb, js json, u uuid, n text)`,
		`INSERT INTO `+table+` VALUES (1, 42, 7, 12345678901234.5678, 2.5, 1.5, true, 'héllo', 'v', '2026-12-01 10:00:00.123456+02', '2026-12-01 10:00:00',
		'2026-12-01', '\x00ff', '{"a": [1, 2.5, "x"]}', '{"b": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL)`)
	checkTypes(t, dsn, "postgres", table, map[string]any{
		"id": int64(1), "i": int64(42), "small": int64(7), "dec": "12345678901234.5678", "f": 2.5, "r": 1.5,
		"b": true, "t": "héllo", "vc": "v", "ts": "2026-12-01T08:00:00.123456Z", "tsn": "2026-12-01T10:00:00Z",
		"d": "2026-12-01", "bin": "AP8=", "j": map[string]any{"a": []any{int64(1), 2.5, "x"}}, "js": map[string]any{"b": nil},
		"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "n": nil,
	})
}

func TestTypesSQLite(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, `CREATE TABLE types (id INTEGER PRIMARY KEY, dec DECIMAL(10,2), f REAL, b BOOLEAN, t TEXT, ts DATETIME, d DATE, bin BLOB, j JSON, n TEXT)`)
	if _, err := db.Exec(`INSERT INTO types VALUES (1, '12.50', 2.5, 1, 'héllo', ?, '2026-12-01', x'00ff', '{"a": 1}', NULL)`,
		time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	checkTypes(t, dsn, "sqlite", "types", map[string]any{
		"id": int64(1), "dec": "12.5", "f": 2.5, // SQLite keeps DECIMAL as a float
		"b": int64(1), "t": "héllo", "ts": "2026-12-01T10:00:00Z",
		"d": "2026-12-01", "bin": "AP8=", "j": map[string]any{"a": int64(1)}, "n": nil,
	})
}

func checkTypes(t *testing.T, dsn, driver, table string, want map[string]any) {
	t.Helper()
	s := openSource(t, fmt.Sprintf(`{driver: %s, dsn: '%s', table: %s, mode: incrementing, incrementing_column: id}`, driver, dsn, table), nil)
	got := pollAll(t, s)
	if len(got) != 1 || len(got[0].values) != 1 {
		t.Fatalf("want one row, got %v", got)
	}
	row := got[0].values[0]
	for col, w := range want {
		gotJSON, _ := json.Marshal(row[col])
		wantJSON, _ := json.Marshal(w)
		if string(gotJSON) != string(wantJSON) || fmt.Sprintf("%T", row[col]) != fmt.Sprintf("%T", w) {
			t.Errorf("%s column %s = %#v (%T), want %#v (%T)", driver, col, row[col], row[col], w, w)
		}
	}
}

// TestModesPostgres runs the timestamp modes against a real PostgreSQL,
// including rows that share a timestamp and rows updated later.
func TestModesPostgres(t *testing.T) {
	dsn := service.Postgres(t)
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	table := fmt.Sprintf("modes_%d", time.Now().UnixNano()%1e9)
	exec(t, db, `CREATE TABLE `+table+` (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, v text)`)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i, sec := range []int{0, 1, 1, 1, 2, 3} {
		if _, err := db.Exec(`INSERT INTO `+table+` VALUES ($1, $2, 'v1')`, i, base.Add(time.Duration(sec)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []string{"timestamp", "timestamp+incrementing"} {
		t.Run(mode, func(t *testing.T) {
			cfg := fmt.Sprintf(`{driver: postgres, dsn: '%s', table: %s, mode: %s, timestamp_column: updated_at, batch_size: 2`, dsn, table, mode)
			if mode == "timestamp+incrementing" {
				cfg += ", incrementing_column: id"
			}
			s := openSource(t, cfg+"}", nil)
			if got := ids(pollAll(t, s)); got != "0,1 | 2,3 | 4,5" {
				t.Fatalf("first polls: %s", got)
			}
			// An update moves a row's timestamp forward: it comes again.
			exec(t, db, `UPDATE `+table+` SET v = 'v2', updated_at = now() - interval '1 minute' WHERE id = 2`)
			got := pollAll(t, s)
			if ids(got) != "2" || got[0].values[0]["v"] != "v2" {
				t.Fatalf("after an update: %s %v", ids(got), got)
			}
			if _, err := db.Exec(`UPDATE `+table+` SET updated_at = $1 WHERE id = 2`, base.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTypesMySQL checks the type mapping against a real MariaDB.
func TestTypesMySQL(t *testing.T) {
	dsn := service.MySQL(t)
	db, err := sqldb.Open(sqldb.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	table := fmt.Sprintf("types_%d", time.Now().UnixNano()%1e9)
	exec(t, db, `CREATE TABLE `+table+` (id BIGINT PRIMARY KEY, i INT, dec_ DECIMAL(20,4), f DOUBLE, r FLOAT, b BOOLEAN, t TEXT, vc VARCHAR(10),
		ts TIMESTAMP(6) NULL, dt DATETIME, d DATE, bin VARBINARY(4), j JSON, n TEXT)`,
		`INSERT INTO `+table+` VALUES (1, 42, 12345678901234.5678, 2.5, 1.5, TRUE, 'héllo', 'v', '2026-12-01 10:00:00.123456', '2026-12-01 10:00:00',
		'2026-12-01', x'00ff', '{"a": [1, 2.5, "x"]}', NULL)`)
	checkTypes(t, dsn, "mysql", table, map[string]any{
		"id": int64(1), "i": int64(42), "dec_": "12345678901234.5678", "f": 2.5, "r": 1.5, "b": int64(1), "t": "héllo", "vc": "v",
		"ts": "2026-12-01T10:00:00.123456Z", "dt": "2026-12-01T10:00:00Z", "d": "2026-12-01", "bin": "AP8=",
		// MariaDB's JSON is an alias of LONGTEXT: it reports TEXT, so the value stays text.
		"j": `{"a": [1, 2.5, "x"]}`, "n": nil,
	})
}

// TestBadRowIsOneBadRecord: a row whose column does not convert (a JSON
// column holding something else) is handed to the stage as an
// a record with Err, for its on_error, and the cursor moves past it: before,
// the poll failed and was retried on the same row for ever.
func TestBadRowIsOneBadRecord(t *testing.T) {
	dsn, db := sqliteDB(t)
	exec(t, db, `CREATE TABLE docs (id INTEGER PRIMARY KEY, j JSON)`,
		`INSERT INTO docs VALUES (1, '{"a": 1}'), (2, 'not json'), (3, '[3]')`)
	s := openSource(t, `{driver: sqlite, dsn: '`+dsn+`', table: docs, mode: incrementing, incrementing_column: id}`, nil)
	var got []*record.Record
	var cursor string
	if _, err := s.poll(context.Background(), func(_ context.Context, recs []*record.Record, c []byte) error {
		got, cursor = append(got, recs...), string(c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || cursor != `{"inc":3}` {
		t.Fatalf("%d records, cursor %s; want 3 and the cursor past row 3", len(got), cursor)
	}
	if f := got[1]; f.Err == nil || !strings.Contains(f.Err.Error(), "column j: JSON column: decode json") {
		t.Fatalf("row 2: %#v, want an error naming column j", f)
	}
	if v, ok := got[2].Value.(map[string]any); !ok || v["id"] != int64(3) {
		t.Fatalf("row 3: %#v", got[2].Value)
	}
}
