package sqlsink

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestStatementsGolden pins the SQL text of every statement kind per dialect.
func TestStatementsGolden(t *testing.T) {
	for _, d := range []sqldb.Dialect{sqldb.Postgres, sqldb.MySQL, sqldb.SQLite} {
		t.Run(d.Name, func(t *testing.T) {
			st := newStatements(d, "shop.store_totals", 1000)
			off := newOffsetSQL(d, "shop.conveyor_offsets")
			cols := []string{"store", "day", "total_cents", "note"}
			key := []string{"store", "day"}
			sc := &schema{}
			for _, kv := range []struct {
				c string
				v any
			}{{"store", "s1"}, {"day", int64(1)}, {"total_cents", 2.5}, {"note", nil}, {"tags", []any{"a"}}, {"open", true}} {
				sc.observe(kv.c, kv.v)
			}
			var b strings.Builder
			for _, s := range []struct{ name, sql string }{
				{"insert, 2 rows", st.insert(cols, 2)},
				{"upsert, 2 rows", st.upsert(cols, key, 2)},
				{"upsert of key columns only", st.upsert(key, key, 1)},
				{"update", st.update(cols, key)},
				{"delete, one key column, 3 rows", st.delete([]string{"store"}, 3)},
				{"delete, two key columns, 2 rows", st.delete(key, 2)},
				{"auto_create", st.create(sc, key)},
				{"savepoint", savepoint("conveyor_find") + "; " + rollbackTo("conveyor_find") + "; " + release("conveyor_find")},
				{"offsets table", off.create},
				{"first offset", off.insert},
				{"move an offset", off.update},
				{"one offset", off.one},
				{"a topic's offsets", off.topic},
				{"a topic's offsets, in a table of an older version", off.old},
				{"identity columns there?", off.probe},
				{"upgrade: add cluster_id", off.upgrade[colCluster]},
				{"upgrade: add topic_id", off.upgrade[colTopicID]},
				{"reset a topic's offsets", off.reset},
			} {
				b.WriteString("-- " + s.name + "\n" + s.sql + ";\n\n")
			}
			golden := filepath.Join("testdata", d.Name+".sql")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("statements differ from %s (go test -update rewrites it):\n%s", golden, b.String())
			}
		})
	}
}

func TestRowsPerStatement(t *testing.T) {
	for _, c := range []struct {
		d       sqldb.Dialect
		maxRows int
		cols    int
		want    int
	}{
		{sqldb.Postgres, 1000, 6, 1000},
		{sqldb.Postgres, 100000, 6, 10922}, // 65535 / 6
		{sqldb.MySQL, 100000, 7, 9362},
		{sqldb.SQLite, 100000, 6, 5461}, // 32766 / 6
		{sqldb.SQLite, 10, 100000, 1},   // never zero
	} {
		if got := newStatements(c.d, "t", c.maxRows).rowsPer(c.cols); got != c.want {
			t.Errorf("%s, batch %d, %d columns: %d rows per statement, want %d", c.d.Name, c.maxRows, c.cols, got, c.want)
		}
	}
}

func TestUpdateWithOnlyKeyColumnsIsEmpty(t *testing.T) {
	if q := newStatements(sqldb.Postgres, "t", 10).update([]string{"id"}, []string{"id"}); q != "" {
		t.Errorf("got %q", q)
	}
}
