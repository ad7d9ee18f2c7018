package sqlsink

import (
	"strings"
	"testing"
	"time"
)

func TestConfigErrorsHavePositions(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"table injection", `
driver: postgres
dsn: postgres://u:pw@db/x
table: "orders; drop table x"
key: [id]`, []string{`p.yaml:9:14: sinks.db.sql.table: invalid table "orders; drop table x"`}},
		{"column injection", `
driver: postgres
dsn: postgres://u:pw@db/x
table: orders
key: [id]
columns:
  id: id
  'a"; drop': a`, []string{`p.yaml:13:21: sinks.db.sql.columns.a"; drop: invalid column name "a\"; drop"`}},
		{"key injection and duplicates", `
driver: sqlite
dsn: file:x.db
table: t
key: [id, "id; --", id]`, []string{
			`p.yaml:10:17: sinks.db.sql.key: invalid key column "id; --"`,
			`p.yaml:10:27: sinks.db.sql.key: key column "id" is listed twice`,
		}},
		{"unknown driver, mode and key_from", `
driver: oracle
dsn: x
table: t
mode: merge
key_from: header
key: [id]`, []string{
			`p.yaml:7:15: sinks.db.sql.driver: unknown driver "oracle": want postgres, mysql or sqlite`,
			`p.yaml:10:13: sinks.db.sql.mode: unknown mode "merge": want insert, upsert or update`,
			`p.yaml:11:17: sinks.db.sql.key_from: unknown value "header": want value or record_key`,
		}},
		{"upsert needs key", `
driver: mysql
dsn: u:pw@tcp(db)/x
table: t
mode: upsert`, []string{`p.yaml:10:13: sinks.db.sql.key: mode upsert needs key`}},
		{"update needs key by default mode too", `
driver: mysql
dsn: u:pw@tcp(db)/x
table: t
mode: update`, []string{`sinks.db.sql.key: mode update needs key`}},
		{"key among columns", `
driver: postgres
dsn: x
table: t
key: [store, day]
columns: {store: store, total: total}`, []string{`p.yaml:10:20: sinks.db.sql.key: key column "day" is not among the columns`}},
		{"tombstones need the record key", `
driver: postgres
dsn: x
table: t
mode: insert
delete_on_tombstone: true`, []string{
			`p.yaml:11:28: sinks.db.sql.key: delete_on_tombstone needs key`,
			`p.yaml:11:28: sinks.db.sql.delete_on_tombstone: a tombstone has no value to take the key from: set key_from: record_key`,
		}},
		{"expression errors, typos, units", `
driver: postgres
dsn: x
tabel: t
key: [id]
batch_size: -5
flush_interval: 100
columns:
  id: id
  total: round_too(total)`, []string{
			`p.yaml:7:7: sinks.db.sql: missing required key "table"`,
			`p.yaml:9:7: sinks.db.sql.tabel: unknown key (did you mean "table"?)`,
			`p.yaml:11:19: sinks.db.sql.batch_size: must be at least 1`,
			`p.yaml:12:23: sinks.db.sql.flush_interval:`,
			`p.yaml:15:16: sinks.db.sql.columns.total: unknown function "round_too"`,
		}},
		{"duplicate column", `
driver: postgres
dsn: x
table: t
key: [id]
columns:
  id: id
  id: other`, []string{`p.yaml:13:9: sinks.db.sql.columns.id: duplicate key "id": first at line 12, column 9`}},
		{"offsets_table injection", `
driver: postgres
dsn: x
table: t
key: [id]
offsets_table: "offsets; drop table t"`, []string{`p.yaml:11:22: sinks.db.sql.offsets_table: invalid table "offsets; drop table t"`}},
		{"offsets_table in three parts", `
driver: mysql
dsn: x
table: t
key: [id]
offsets_table: a.b.c`, []string{`p.yaml:11:22: sinks.db.sql.offsets_table: invalid table "a.b.c": write table or schema.table`}},
		{"offsets_table is the table", `
driver: sqlite
dsn: x
table: shop.orders
key: [id]
offsets_table: shop.orders`, []string{`p.yaml:11:22: sinks.db.sql.offsets_table: "shop.orders" is the table the rows go to: name another table for the offsets`}},
		{"empty dsn from the environment", `
driver: postgres
dsn: ${EMPTY}
table: t
key: [id]`, []string{`p.yaml:8:12: sinks.db.sql.dsn: empty`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSink(t, c.body, map[string]string{"EMPTY": ""})
			if err == nil {
				t.Fatal("want errors")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigErrorsHideTheDSN(t *testing.T) {
	_, err := parseSink(t, `
driver: nosuch
dsn: postgres://u:hunter2@db/x
table: t
key: [id]`, nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("want an error without the password, got %v", err)
	}
}

func TestConfigDefaultsAndOrder(t *testing.T) {
	s := mustSink(t, `
driver: sqlite
dsn: file:x.db
table: main.t
key: [id]
columns:
  zeta: z
  id: id
  alpha: 'a * rate'`)
	if s.cfg.mode != Upsert || s.BatchSize() != 1000 || s.FlushInterval() != 100*time.Millisecond || s.cfg.keyFromRecord {
		t.Errorf("defaults: mode %s, batch %d, flush %v, key from record %v", s.cfg.mode, s.BatchSize(), s.FlushInterval(), s.cfg.keyFromRecord)
	}
	var names []string
	for _, c := range s.cfg.columns {
		names = append(names, c.name+"="+c.field)
	}
	if got := strings.Join(names, " "); got != "zeta=z id=id alpha=" {
		t.Errorf("columns in file order with bare fields: %s", got)
	}
	if s.cfg.offsetsTable != "conveyor_offsets" {
		t.Errorf("offsets table %q, want %q", s.cfg.offsetsTable, "conveyor_offsets")
	}
	if got := strings.Join(s.rows.cols, ","); got != "id,zeta,alpha" {
		t.Errorf("row columns, key first: %s", got)
	}

	s = mustSink(t, `
driver: postgres
dsn: x
table: t
mode: insert
batch_size: 50
flush_interval: 0s
offsets_table: eo.positions`)
	if s.BatchSize() != 50 || s.FlushInterval() != 0 || s.cfg.offsetsTable != "eo.positions" {
		t.Errorf("batch %d flush %v offsets table %q", s.BatchSize(), s.FlushInterval(), s.cfg.offsetsTable)
	}
	s = mustSink(t, `
driver: postgres
dsn: x
table: t
key: [id]
key_from: record_key
delete_on_tombstone: true
flush_interval: 2s`)
	if !s.cfg.keyFromRecord || !s.cfg.deleteOnNull || s.FlushInterval() != 2*time.Second {
		t.Errorf("%+v", s.cfg)
	}
}
