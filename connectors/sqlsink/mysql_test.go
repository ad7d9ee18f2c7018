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

// TestMySQL runs the MySQL round trips on one server, started once.
func TestMySQL(t *testing.T) {
	dsn := service.MySQL(t)
	sink := func(t *testing.T, table, ddl, body string) *Sink {
		t.Helper()
		s := openSink(t, "driver: mysql\ndsn: '"+dsn+"'\ntable: "+table+"\n"+strings.TrimLeft(body, "\n"))
		run(t, s, "DROP TABLE IF EXISTS "+table)
		if ddl != "" {
			run(t, s, ddl)
		}
		return s
	}

	t.Run("upsert, delete, idempotence", func(t *testing.T) {
		s := sink(t, "my_totals", "CREATE TABLE my_totals (store VARCHAR(20), day INT, total_cents BIGINT NOT NULL, doc JSON, at DATETIME(6), PRIMARY KEY (store, day))", `
key: [store, day]
key_from: record_key
delete_on_tombstone: true
columns:
  total_cents: round(total * 100)
  doc: doc
  at: parse_time(at)`)
		k := func(store string, day int) string { return fmt.Sprintf(`{"store": %q, "day": %d}`, store, day) }
		batch := []*record.Record{
			rec(t, k("a", 1), `{"total": 1.5, "doc": {"x": [1, "<y>"]}, "at": "2026-12-01T10:00:00.5Z"}`),
			rec(t, k("a", 2), `{"total": 2}`),
			rec(t, k("b", 1), `{"total": 3}`),
			rec(t, k("a", 1), `{"total": 4.25, "doc": {"x": [1, "<y>"]}, "at": "2026-12-01T10:00:00.5Z"}`),
		}
		for range 2 {
			writeAll(t, s, batch)
			wantRows(t, s, "SELECT store, day, total_cents, doc, at FROM my_totals ORDER BY 1, 2", `
a|1|425|{"x":[1,"<y>"]}|2026-12-01 10:00:00.500000
a|2|200|NULL|NULL
b|1|300|NULL|NULL`)
		}
		writeAll(t, s, []*record.Record{rec(t, k("a", 2), ""), rec(t, k("b", 1), ""), rec(t, k("b", 1), `{"total": 5}`)})
		wantRows(t, s, "SELECT store, day, total_cents FROM my_totals ORDER BY 1, 2", "a|1|425\nb|1|500")
	})

	t.Run("update and insert modes", func(t *testing.T) {
		u := sink(t, "my_acct", "CREATE TABLE my_acct (id BIGINT PRIMARY KEY, balance DECIMAL(10, 2), name TEXT)", `
mode: update
key: [id]`)
		run(t, u, "INSERT INTO my_acct VALUES (1, 10, 'one'), (2, 20, 'two')")
		writeAll(t, u, recs(t, `{"id": 1, "balance": 10.5}`, `{"id": 3, "balance": 30}`, `{"id": 2, "name": "deux"}`))
		wantRows(t, u, "SELECT id, balance, name FROM my_acct ORDER BY id", "1|10.50|one\n2|20.00|deux")

		in := sink(t, "my_log", "CREATE TABLE my_log (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT, msg TEXT, ok BOOLEAN)", `mode: insert`)
		writeAll(t, in, recs(t, `{"id": 9223372036854775807, "msg": "a", "ok": true}`, `{"id": 1, "msg": "a"}`, `{"msg": "b"}`))
		wantRows(t, in, "SELECT id, msg, ok FROM my_log ORDER BY seq", "9223372036854775807|a|1\n1|a|NULL\nNULL|b|NULL")
	})

	t.Run("permanent errors name the record", func(t *testing.T) {
		s := sink(t, "my_items", "", `
key: [id]
batch_size: 4`)
		run(t, s, "DROP TABLE IF EXISTS my_skus")
		run(t, s, "CREATE TABLE my_skus (sku VARCHAR(10) PRIMARY KEY)")
		run(t, s, "INSERT INTO my_skus VALUES ('s0'), ('s1'), ('s2'), ('s3'), ('s4'), ('s5'), ('s6'), ('s7'), ('s8'), ('s9')")
		run(t, s, "CREATE TABLE my_items (id BIGINT PRIMARY KEY, qty INT NOT NULL CHECK (qty >= 0), sku VARCHAR(10), code VARCHAR(3) UNIQUE, FOREIGN KEY (sku) REFERENCES my_skus (sku))")
		var batch []string
		for i := range 30 {
			batch = append(batch, fmt.Sprintf(`{"id": %d, "qty": 1, "sku": "s%d", "code": "c%d"}`, i, i%10, i))
		}
		bad := map[int]string{
			3:  `{"id": 3, "qty": null}`,                  // 1048 not null
			7:  `{"id": 7, "qty": -1}`,                    // 4025 check
			11: `{"id": 11, "qty": 1, "sku": "nope"}`,     // 1452 foreign key
			19: `{"id": 19, "qty": 10000000000}`,          // 1264 out of range
			23: `{"id": 23, "qty": "many"}`,               // 1366 incorrect integer
			27: `{"id": 27, "qty": 1, "code": "toolong"}`, // 1406 too long
		}
		for i, v := range bad {
			batch[i] = v
		}
		rejected := writeAll(t, s, recs(t, batch...))
		if want := []int{3, 7, 11, 19, 23, 27}; !slices.Equal(rejected, want) {
			t.Errorf("rejected %v, want %v", rejected, want)
		}
		wantRows(t, s, "SELECT count(*) FROM my_items", "24")
		// ON DUPLICATE KEY fires on any unique key, so a duplicate code
		// is an error in insert mode only.
		in := openSink(t, "driver: mysql\ndsn: '"+dsn+"'\ntable: my_items\nmode: insert")
		err := in.Write(context.Background(), recs(t, `{"id": 100, "qty": 1}`, `{"id": 101, "qty": 1, "code": "c1"}`))
		var re *connectors.RecordError
		if !errors.As(err, &re) || re.Index != 1 || !strings.Contains(err.Error(), "Error 1062") {
			t.Errorf("want a RecordError for index 1 with MySQL's error text, got %v", err)
		}
	})

	t.Run("auto_create and missing table", func(t *testing.T) {
		m := sink(t, "my_missing", "", `key: [id]`)
		err := m.Write(context.Background(), recs(t, `{"id": 1}`))
		var re *connectors.RecordError
		if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "auto_create") {
			t.Fatalf("want a transient error naming auto_create, got %v", err)
		}
		a := sink(t, "my_auto", "", `
key: [id]
key_from: record_key
auto_create: true`)
		writeAll(t, a, []*record.Record{rec(t, "k1", `{"n": 1, "f": 0.5, "ok": true, "name": "a", "doc": {"x": 1}}`)})
		wantRows(t, a, "SELECT column_name, column_type, is_nullable, column_key FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'my_auto' ORDER BY ordinal_position", `
id|varchar(255)|NO|PRI
doc|longtext|YES|
f|double|YES|
n|bigint(20)|YES|
name|text|YES|
ok|tinyint(1)|YES|`)
		wantRows(t, a, "SELECT id, doc, f, n, name, ok FROM my_auto", `k1|{"x":1}|0.5|1|a|1`)
	})

	t.Run("offsets", func(t *testing.T) {
		db := func(t *testing.T) opener {
			return func(t *testing.T, body string) *Sink {
				return openSink(t, "driver: mysql\ndsn: '"+dsn+"'\n"+body)
			}
		}
		testOffsets(t, db)
		t.Run("race for a partition", func(t *testing.T) { testOffsetRace(t, db(t)) })
	})
}
