package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/record"
)

// pgSink opens a sink on the shared test server; table is the test's own,
// dropped first so reruns against an external server start clean.
func pgSink(t testing.TB, table, ddl, body string) *Sink {
	t.Helper()
	dsn := service.Postgres(t)
	s := mustSinkTB(t, "driver: postgres\ndsn: "+dsn+"\ntable: "+table+"\n"+strings.TrimLeft(body, "\n"))
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.db.Exec("DROP TABLE IF EXISTS " + table + " CASCADE"); err != nil {
		t.Fatal(err)
	}
	if ddl != "" {
		if _, err := s.db.Exec(ddl); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestPostgresUpsertDeleteRoundTrip(t *testing.T) {
	s := pgSink(t, "pg_totals", `CREATE TABLE pg_totals (store text, day int, total_cents bigint NOT NULL, note text, PRIMARY KEY (store, day))`, `
key: [store, day]
key_from: record_key
delete_on_tombstone: true
columns:
  total_cents: round(total * 100)
  note: note`)
	k := func(store string, day int) string { return fmt.Sprintf(`{"store": %q, "day": %d}`, store, day) }
	batch := []*record.Record{
		rec(t, k("a", 1), `{"total": 1.5, "note": "first"}`),
		rec(t, k("a", 2), `{"total": 2}`),
		rec(t, k("b", 1), `{"total": 3}`),
		rec(t, k("a", 1), `{"total": 4.25}`),
	}
	for range 2 {
		writeAll(t, s, batch)
		wantRows(t, s, `SELECT store, day, total_cents, note FROM pg_totals ORDER BY 1, 2`, `
a|1|425|NULL
a|2|200|NULL
b|1|300|NULL`)
	}
	writeAll(t, s, []*record.Record{rec(t, k("a", 2), ""), rec(t, k("b", 1), ""), rec(t, k("b", 1), `{"total": 5}`), rec(t, k("c", 9), "")})
	wantRows(t, s, `SELECT store, day, total_cents FROM pg_totals ORDER BY 1, 2`, "a|1|425\nb|1|500")
}

func TestPostgresUpdateAndInsertModes(t *testing.T) {
	u := pgSink(t, "pg_acct", `CREATE TABLE pg_acct (id bigint PRIMARY KEY, balance numeric, name text)`, `
mode: update
key: [id]`)
	run(t, u, `INSERT INTO pg_acct VALUES (1, 10, 'one'), (2, 20, 'two')`)
	writeAll(t, u, recs(t, `{"id": 1, "balance": 10.5}`, `{"id": 3, "balance": 30}`, `{"id": 2, "name": "deux"}`))
	wantRows(t, u, `SELECT id, balance, name FROM pg_acct ORDER BY id`, "1|10.5|one\n2|20|deux")

	in := pgSink(t, "pg_log", `CREATE TABLE pg_log (seq bigserial, id bigint, msg text)`, `
mode: insert`)
	writeAll(t, in, recs(t, `{"id": 1, "msg": "a"}`, `{"id": 1, "msg": "a"}`, `{"msg": "b"}`))
	wantRows(t, in, `SELECT id, msg FROM pg_log ORDER BY seq`, "1|a\n1|a\nNULL|b")
}

// TestPostgresTypes writes JSON values and expression results into columns
// of many types and reads them back as PostgreSQL prints them.
func TestPostgresTypes(t *testing.T) {
	s := pgSink(t, "pg_types", `CREATE TABLE pg_types (
		id int PRIMARY KEY, big bigint, num numeric, dbl double precision, flag boolean, txt text,
		txt_num text, ts timestamptz, ts_expr timestamptz, day date, doc jsonb, raw bytea, uid uuid)`, `
key: [id]
columns:
  id: id
  big: big
  num: num
  dbl: dbl
  flag: flag
  txt: txt
  txt_num: big
  ts: ts
  ts_expr: parse_time(ts)
  day: day
  doc: doc
  raw: raw
  uid: uid`)
	writeAll(t, s, recs(t,
		`{"id": 1, "big": 9223372036854775807, "num": "123456789012345678901234567890.123456789", "dbl": 0.1, "flag": true, "txt": "héllo 'quoted' \"x\" ; drop table pg_types", "ts": "2026-12-01T10:00:00.123456Z", "day": "2026-12-01", "doc": {"a": [1, 2.5, null, "<x>"], "b": {"c": true}}, "raw": "\\x00ff10", "uid": "0b9c2f4e-5d5a-4b8e-9a8f-2b1c3d4e5f60"}`,
		`{"id": 2, "big": -9223372036854775808, "num": 2.5, "dbl": 1e300, "flag": false, "txt": "", "ts": "2026-01-02T03:04:05+02:00", "day": "2026-01-02T03:04:05Z", "doc": [], "raw": "abc"}`,
		`{"id": 3}`,
	))
	wantRows(t, s, `SELECT id, big::text, num::text, dbl::text, flag::text, txt, txt_num, ts::text, ts_expr::text, day::text, doc::text, raw::text, uid::text FROM pg_types ORDER BY id`, `
1|9223372036854775807|123456789012345678901234567890.123456789|0.1|true|héllo 'quoted' "x" ; drop table pg_types|9223372036854775807|2026-12-01 10:00:00.123456+00|2026-12-01 10:00:00.123456+00|2026-12-01|{"a": [1, 2.5, null, "<x>"], "b": {"c": true}}|\x00ff10|0b9c2f4e-5d5a-4b8e-9a8f-2b1c3d4e5f60
2|-9223372036854775808|2.5|1e+300|false||-9223372036854775808|2026-01-02 01:04:05+00|2026-01-02 01:04:05+00|2026-01-02|[]|\x616263|NULL
3|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL`)

	// Bytes (format: bytes) go in as they are.
	b := pgSink(t, "pg_bytes", `CREATE TABLE pg_bytes (k text PRIMARY KEY, raw bytea)`, `
key: [k]
key_from: record_key
columns: {raw: _value}`)
	writeAll(t, b, []*record.Record{{Key: []byte("k1"), Value: []byte{0, 1, 0xfe}}})
	wantRows(t, b, `SELECT k, raw::text FROM pg_bytes`, `k1|\x0001fe`)
}

func TestPostgresPermanentErrorsNameTheRecord(t *testing.T) {
	s := pgSink(t, "pg_items", `
		DROP TABLE IF EXISTS pg_skus CASCADE;
		CREATE TABLE pg_skus (sku text PRIMARY KEY);
		INSERT INTO pg_skus SELECT 's' || g FROM generate_series(0, 99) g;
		CREATE TABLE pg_items (id bigint PRIMARY KEY, qty int NOT NULL CHECK (qty >= 0), sku text REFERENCES pg_skus, code varchar(3) UNIQUE)`, `
key: [id]
batch_size: 4`)
	var batch []string
	for i := range 40 {
		batch = append(batch, fmt.Sprintf(`{"id": %d, "qty": 1, "sku": "s%d", "code": "c%d"}`, i, i, i))
	}
	bad := map[int]struct{ value, sqlstate string }{
		3:  {`{"id": 3, "qty": null}`, "23502"},                  // not null
		9:  {`{"id": 9, "qty": -1}`, "23514"},                    // check
		14: {`{"id": 14, "qty": 1, "sku": "nope"}`, "23503"},     // foreign key
		20: {`{"id": 20, "qty": 1, "code": "c1"}`, "23505"},      // unique, with record 1
		25: {`{"id": 25, "qty": 10000000000}`, "22003"},          // out of range for int
		31: {`{"id": 31, "qty": "many"}`, "22P02"},               // invalid text for int
		33: {`{"id": 33, "qty": 1.5}`, "22P02"},                  // not truncated on the way
		38: {`{"id": 38, "qty": 1, "code": "toolong"}`, "22001"}, // too long for varchar(3)
	}
	for i, b := range bad {
		batch[i] = b.value
	}
	err := s.Write(context.Background(), recs(t, batch...))
	var re *connectors.RecordError
	if !errors.As(err, &re) || re.Index != 3 || !strings.Contains(err.Error(), "SQLSTATE 23502") {
		t.Fatalf("want a RecordError for index 3 with SQLSTATE 23502, got %v", err)
	}
	// The engine's loop: each bad record is named with its own SQLSTATE.
	records := recs(t, batch...)
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	var rejected []int
	for {
		err := s.Write(context.Background(), records)
		if err == nil {
			break
		}
		if !errors.As(err, &re) {
			t.Fatalf("transient error: %v", err)
		}
		orig := idx[re.Index]
		if want := "SQLSTATE " + bad[orig].sqlstate; !strings.Contains(err.Error(), want) {
			t.Errorf("record %d: want %s, got %v", orig, want, err)
		}
		rejected = append(rejected, orig)
		records = slices.Delete(records, re.Index, re.Index+1)
		idx = slices.Delete(idx, re.Index, re.Index+1)
	}
	if want := []int{3, 9, 14, 20, 25, 31, 33, 38}; !slices.Equal(rejected, want) {
		t.Errorf("rejected %v, want %v", rejected, want)
	}
	wantRows(t, s, `SELECT count(*) FROM pg_items`, "32")
}

func TestPostgresMissingTableAndAutoCreate(t *testing.T) {
	s := pgSink(t, "pg_missing", "", `key: [id]`)
	err := s.Write(context.Background(), recs(t, `{"id": 1}`))
	var re *connectors.RecordError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "set auto_create: true") || !strings.Contains(err.Error(), "42P01") {
		t.Fatalf("want a transient error naming auto_create, got %v", err)
	}

	a := pgSink(t, "pg_auto", "", `
key: [id]
key_from: record_key
auto_create: true
columns:
  n: n
  f: n / 2
  ok: n > 1
  name: name
  at: parse_time("2026-12-01T00:00:00Z")
  doc: doc
  nothing: nil`)
	writeAll(t, a, []*record.Record{rec(t, "k1", `{"n": 1, "name": "a", "doc": {"x": 1}}`), rec(t, "k2", `{"n": 2}`)})
	wantRows(t, a, `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'pg_auto' ORDER BY ordinal_position`, `
id|text|NO
n|bigint|YES
f|double precision|YES
ok|boolean|YES
name|text|YES
at|timestamp with time zone|YES
doc|jsonb|YES
nothing|text|YES`)
	wantRows(t, a, `SELECT id, n, f, ok, name, doc::text FROM pg_auto ORDER BY id`, "k1|1|0.5|false|a|{\"x\": 1}\nk2|2|1|true|NULL|NULL")
	// Dropped while running: created again on the next try.
	run(t, a, `DROP TABLE pg_auto`)
	writeAll(t, a, []*record.Record{rec(t, "k3", `{"n": 3}`)})
	wantRows(t, a, `SELECT id, n FROM pg_auto`, "k3|3")
}

// TestPostgresRestartMidStream crash-restarts the server between two
// writes: the next write fails transiently or succeeds, and after retries
// every record is there.
func TestPostgresRestartMidStream(t *testing.T) {
	s := pgSink(t, "pg_restart", `CREATE TABLE pg_restart (id bigint PRIMARY KEY, v text)`, `key: [id]`)
	batch := func(from int) []*record.Record {
		var b []*record.Record
		for i := from; i < from+500; i++ {
			b = append(b, rec(t, nil, fmt.Sprintf(`{"id": %d, "v": "x%d"}`, i, i)))
		}
		return b
	}
	writeAll(t, s, batch(0))
	service.RestartPostgres(t)
	err := s.Write(context.Background(), batch(500))
	var re *connectors.RecordError
	if errors.As(err, &re) {
		t.Fatalf("a restart must not look like a bad record: %v", err)
	}
	t.Logf("first write after the restart: %v", err)
	writeAll(t, s, batch(500)) // retried with backoff for up to 30s
	writeAll(t, s, batch(1000))
	wantRows(t, s, `SELECT count(*), min(id), max(id) FROM pg_restart`, "1500|0|1499")
}

func TestPostgresOffsets(t *testing.T) {
	dsn := service.Postgres(t)
	db := func(t *testing.T) opener {
		return func(t *testing.T, body string) *Sink {
			return openSink(t, "driver: postgres\ndsn: "+dsn+"\n"+body)
		}
	}
	testOffsets(t, db)
	t.Run("race for a partition", func(t *testing.T) { testOffsetRace(t, db(t)) })
}
