package sqlsink

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
)

// sqliteSink opens a sink on a new database file with the given table.
func sqliteSink(t *testing.T, ddl, body string) *Sink {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "db.sqlite")
	s := openSink(t, "driver: sqlite\ndsn: "+dsn+"\n"+strings.TrimLeft(body, "\n"))
	if ddl != "" {
		run(t, s, ddl)
	}
	return s
}

func TestSQLiteUpsertRoundTripAndIdempotence(t *testing.T) {
	s := sqliteSink(t, `CREATE TABLE totals (store TEXT PRIMARY KEY, total_cents INTEGER NOT NULL, n INTEGER, tags TEXT, open BOOLEAN)`, `
table: totals
key: [store]
columns:
  store: store
  total_cents: round(total * 100)
  n: n
  tags: tags
  open: open`)
	batch := recs(t,
		`{"store": "a", "total": 1.25, "n": 9223372036854775807, "tags": ["x", {"y": 1}], "open": true}`,
		`{"store": "b", "total": 2, "open": false}`,
		`{"store": "a", "total": 3.5, "n": 1, "open": false}`,
	)
	for range 2 { // the same batch twice: the same rows
		if rej := writeAll(t, s, batch); rej != nil {
			t.Fatalf("rejected %v", rej)
		}
		wantRows(t, s, `SELECT store, total_cents, n, tags, open FROM totals ORDER BY store`, `
a|350|1|NULL|0
b|200|NULL|NULL|0`)
	}
	writeAll(t, s, recs(t, `{"store": "c", "total": 0, "n": 9223372036854775807, "tags": ["x", {"y": 1}], "open": true}`))
	wantRows(t, s, `SELECT store, n, tags, open FROM totals WHERE store = 'c'`, `c|9223372036854775807|["x",{"y":1}]|1`)
}

func TestSQLiteDeleteOnTombstone(t *testing.T) {
	s := sqliteSink(t, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)`, `
table: kv
key: [k]
key_from: record_key
delete_on_tombstone: true`)
	writeAll(t, s, []*record.Record{rec(t, "a", `{"v": 1}`), rec(t, "b", `{"v": 2}`), rec(t, "c", `{"v": 3}`)})
	writeAll(t, s, []*record.Record{
		rec(t, "a", ""), // deleted
		rec(t, "b", ""), // deleted, then back
		rec(t, "b", `{"v": 20}`),
		rec(t, "c", `{"v": 30}`), // written, then deleted
		rec(t, "c", ""),
		rec(t, "zz", ""), // nothing to delete
	})
	wantRows(t, s, `SELECT k, v FROM kv ORDER BY k`, `b|20`)
}

func TestSQLiteInsertAndUpdateModes(t *testing.T) {
	s := sqliteSink(t, `CREATE TABLE log (id INTEGER, msg TEXT)`, `
table: log
mode: insert`)
	writeAll(t, s, recs(t, `{"id": 1, "msg": "a"}`, `{"id": 1, "msg": "a"}`, `{"msg": "b"}`))
	wantRows(t, s, `SELECT id, msg FROM log ORDER BY rowid`, "1|a\n1|a\nNULL|b")

	u := sqliteSink(t, `CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER, name TEXT)`, `
table: acct
mode: update
key: [id]`)
	run(t, u, `INSERT INTO acct VALUES (1, 10, 'one'), (2, 20, 'two')`)
	writeAll(t, u, recs(t, `{"id": 1, "balance": 11}`, `{"id": 3, "balance": 30}`, `{"id": 2, "name": "deux"}`, `{"id": 1, "balance": 12}`))
	wantRows(t, u, `SELECT id, balance, name FROM acct ORDER BY id`, "1|12|one\n2|20|deux")
}

func TestSQLiteConstraintViolationIsARecordError(t *testing.T) {
	s := sqliteSink(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty >= 0), sku TEXT UNIQUE)`, `
table: items
key: [id]
batch_size: 3`) // several statements per batch
	var batch []string
	for i := range 20 {
		batch = append(batch, `{"id": `+itoa(i)+`, "qty": 1, "sku": "s`+itoa(i)+`"}`)
	}
	batch[7] = `{"id": 7, "qty": -1, "sku": "s7"}`    // check
	batch[12] = `{"id": 12, "qty": null, "sku": "x"}` // not null
	batch[15] = `{"id": 15, "qty": 1, "sku": "s3"}`   // unique, with record 3

	err := s.Write(context.Background(), recs(t, batch...))
	var re *connectors.RecordError
	if !errors.As(err, &re) || re.Index != 7 || !strings.Contains(err.Error(), "CHECK constraint failed") {
		t.Fatalf("want a RecordError for index 7 with the database's text, got %v", err)
	}
	if n := dump(t, s, `SELECT count(*) FROM items`); n != "0" {
		t.Fatalf("a failed batch wrote %s rows", n)
	}
	rejected := writeAll(t, s, recs(t, batch...))
	if !slices.Equal(rejected, []int{7, 12, 15}) {
		t.Errorf("rejected %v, want [7 12 15]", rejected)
	}
	wantRows(t, s, `SELECT count(*), sum(id) FROM items`, "17|156") // 190 - 7 - 12 - 15
}

func TestSQLiteAutoCreate(t *testing.T) {
	s := sqliteSink(t, "", `
table: events
key: [id]
auto_create: true`)
	writeAll(t, s, recs(t,
		`{"id": 1, "name": "a", "score": 1, "ok": true, "meta": {"x": [1]}, "note": null}`,
		`{"id": 2, "name": "b", "score": 2.5}`,
	))
	wantRows(t, s, `SELECT name, type, "notnull", pk FROM pragma_table_info('events') ORDER BY cid`, `
id|INTEGER|1|1
meta|TEXT|0|0
name|TEXT|0|0
note|TEXT|0|0
ok|BOOLEAN|0|0
score|REAL|0|0`)
	wantRows(t, s, `SELECT id, meta, name, note, ok, score FROM events ORDER BY id`, `
1|{"x":[1]}|a|NULL|1|1
2|NULL|b|NULL|NULL|2.5`)
	// A field the first batch did not have is not a column: its record is rejected.
	if rej := writeAll(t, s, recs(t, `{"id": 3, "name": "c"}`, `{"id": 4, "extra": 1}`)); !slices.Equal(rej, []int{1}) {
		t.Errorf("rejected %v, want [1]", rej)
	}
}

func TestSQLiteMissingTableIsTransient(t *testing.T) {
	s := sqliteSink(t, "", `
table: nowhere
key: [id]`)
	err := s.Write(context.Background(), recs(t, `{"id": 1}`))
	var re *connectors.RecordError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "auto_create") {
		t.Fatalf("want a transient error naming auto_create, got %v", err)
	}
	run(t, s, `CREATE TABLE nowhere (id INTEGER PRIMARY KEY)`)
	writeAll(t, s, recs(t, `{"id": 1}`))
	wantRows(t, s, `SELECT id FROM nowhere`, "1")
}

func TestSQLiteManyRowsPerStatement(t *testing.T) {
	s := sqliteSink(t, `CREATE TABLE big (id INTEGER PRIMARY KEY, a TEXT, b REAL)`, `
table: big
key: [id]
batch_size: 20000`)
	var batch []string
	for i := range 15000 { // three statements at 32766 parameters each
		batch = append(batch, `{"id": `+itoa(i)+`, "a": "x", "b": 0.5}`)
	}
	writeAll(t, s, recs(t, batch...))
	wantRows(t, s, `SELECT count(*), sum(b) FROM big`, "15000|7500")
}

func TestSQLiteOffsets(t *testing.T) {
	testOffsets(t, func(t *testing.T) opener {
		dsn := "file:" + filepath.Join(t.TempDir(), "db.sqlite")
		return func(t *testing.T, body string) *Sink {
			return openSink(t, "driver: sqlite\ndsn: "+dsn+"\n"+body)
		}
	})
}
