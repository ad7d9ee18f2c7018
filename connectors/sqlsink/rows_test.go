package sqlsink

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/record"
)

// describe prints ops compactly: kind, record index, then column=value.
func describe(ops []op) string {
	var lines []string
	for _, o := range ops {
		k := "write"
		if o.kind == opDelete {
			k = "delete"
		}
		parts := []string{fmt.Sprintf("%s#%d", k, o.index)}
		for j, c := range o.cols {
			parts = append(parts, fmt.Sprintf("%s=%v", c, o.vals[j]))
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	return strings.Join(lines, "\n")
}

// describePlan plans batch with a sink of config cfg and describes the
// operations; a planning error ends the test.
func describePlan(t *testing.T, cfg string, batch []*record.Record) string {
	t.Helper()
	ops, err := mustSink(t, cfg).rows.plan(batch)
	if err != nil {
		t.Fatal(err)
	}
	return describe(ops)
}

func TestLastRecordPerKeyWins(t *testing.T) {
	got := describePlan(t, `
driver: postgres
dsn: x
table: t
key: [id]
key_from: record_key
delete_on_tombstone: true`, []*record.Record{
		rec(t, "a", `{"n": 1}`),
		rec(t, "b", `{"n": 1}`),
		rec(t, "a", `{"n": 2}`),
		rec(t, "c", `{"n": 1}`),
		rec(t, "c", ""), // deleted: nothing of c is written
		rec(t, "b", ""), // deleted, then written again
		rec(t, "b", `{"n": 3}`),
		rec(t, "d", ""),
	})
	want := strings.Join([]string{
		"delete#5 id=b",
		"delete#4 id=c",
		"delete#7 id=d",
		"write#2 id=a n=2",
		"write#6 id=b n=3",
	}, "\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestMergeKeepsFieldsOfEarlierRecords(t *testing.T) {
	got := describePlan(t, `
driver: sqlite
dsn: x
table: t
key: [id]`, recs(t,
		`{"id": 1, "a": "x", "b": "y"}`,
		`{"id": 2, "a": "other"}`,
		`{"id": 1, "b": "z", "c": true}`, // a from the first record stays
	))
	want := "write#1 id=2 a=other\nwrite#2 id=1 a=x b=z c=1"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestInsertModeKeepsEveryRecordInOrder(t *testing.T) {
	got := describePlan(t, `
driver: sqlite
dsn: x
table: t
mode: insert
key: [id]
key_from: record_key
delete_on_tombstone: true`, []*record.Record{rec(t, 1, `{"v": 1}`), rec(t, 1, ""), rec(t, 1, `{"v": 2}`), rec(t, 2, `{"v": 3}`)})
	want := "write#0 id=1 v=1\ndelete#1 id=1\nwrite#2 id=1 v=2\nwrite#3 id=2 v=3"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTombstonesSkippedWithoutDelete(t *testing.T) {
	s := mustSink(t, `
driver: sqlite
dsn: x
table: t
key: [id]`)
	ops, err := s.rows.plan([]*record.Record{rec(t, nil, ""), rec(t, nil, `{"id": 1}`)})
	if err != nil || describe(ops) != "write#1 id=1" {
		t.Fatalf("%v\n%s", err, describe(ops))
	}
}

func TestRecordKey(t *testing.T) {
	for _, c := range []struct {
		key  []byte
		cols []string
		want []any
		err  string
	}{
		{[]byte("abc"), []string{"id"}, []any{"abc"}, ""},
		{[]byte("42"), []string{"id"}, []any{"42"}, ""},
		{[]byte(`{"id": 7, "x": 1}`), []string{"id"}, []any{int64(7)}, ""},
		{[]byte(`{"store": "s", "day": 3}`), []string{"store", "day"}, []any{"s", int64(3)}, ""},
		{[]byte(`{broken`), []string{"id"}, []any{"{broken"}, ""},
		{[]byte(`{"store": "s"}`), []string{"store", "day"}, nil, "no value for key column day"},
		{[]byte(`s1`), []string{"store", "day"}, nil, "needs a JSON object record key"},
		{nil, []string{"id"}, nil, "the record key is null"},
	} {
		got, err := recordKey(c.key, c.cols)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: want error %q, got %v", c.key, c.err, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, %v; want %#v", c.key, got, err, c.want)
		}
	}
}

func TestRecordsThatCannotBeRows(t *testing.T) {
	s := mustSink(t, `
driver: postgres
dsn: x
table: t
key: [id]`)
	for _, c := range []struct {
		value, want string
	}{
		{`"just text"`, "the value is string, not an object"},
		{`{"id": 1, "bad name": 2}`, `field "bad name" cannot be a column name`},
		{`{"id": null, "a": 1}`, "key column id is null or missing"},
		{`{"a": 1}`, "key column id is null or missing"},
	} {
		_, err := s.rows.plan(recs(t, `{"id": 9}`, c.value))
		var re *connectors.RecordError
		if !errors.As(err, &re) || re.Index != 1 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want a RecordError for index 1 with %q, got %v", c.value, c.want, err)
		}
	}

	s = mustSink(t, `
driver: postgres
dsn: x
table: t
key: [id]
columns: {id: id, ratio: 1 / zero.x}`)
	_, err := s.rows.plan(recs(t, `{"id": 1, "zero": {"x": "a"}}`))
	var re *connectors.RecordError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "column ratio") {
		t.Errorf("want an expression RecordError, got %v", err)
	}
}

func TestColumnsFromExpressions(t *testing.T) {
	got := describePlan(t, `
driver: sqlite
dsn: x
table: t
key: [store]
key_from: record_key
columns:
  total_cents: round(total * 100)
  store: store
  topic: _topic
  scaled: qty * rate
  missing: nope`, []*record.Record{rec(t, "k1", `{"store": "ignored", "total": 1.235, "qty": 2}`)})
	want := "write#0 store=k1 total_cents=124 topic=t scaled=6 missing=<nil>"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBindValues(t *testing.T) {
	ts := time.Date(2026, 12, 1, 10, 0, 0, 500, time.UTC)
	for _, c := range []struct {
		in                   any
		postgres, mysql, lit any
	}{
		{nil, nil, nil, nil},
		{true, "true", true, int64(1)},
		{false, "false", false, int64(0)},
		{int64(math.MaxInt64), "9223372036854775807", int64(math.MaxInt64), int64(math.MaxInt64)},
		{int64(math.MinInt64), "-9223372036854775808", int64(math.MinInt64), int64(math.MinInt64)},
		{uint64(math.MaxUint64), "18446744073709551615", "18446744073709551615", "18446744073709551615"},
		{json.Number("-18446744073709551617"), "-18446744073709551617", "-18446744073709551617", "-18446744073709551617"},
		{1.5, "1.5", 1.5, 1.5},
		{0.1, "0.1", 0.1, 0.1},
		{1e21, "1e+21", 1e21, 1e21},
		{"text", "text", "text", "text"},
		{[]byte{0, 1}, []byte{0, 1}, []byte{0, 1}, []byte{0, 1}},
		{map[string]any{"b": []any{int64(1), "<x>"}, "a": nil}, `{"a":null,"b":[1,"<x>"]}`, `{"a":null,"b":[1,"<x>"]}`, `{"a":null,"b":[1,"<x>"]}`},
		{[]any{}, "[]", "[]", "[]"},
		{ts, "2026-12-01T10:00:00.0000005Z", ts, "2026-12-01T10:00:00.0000005Z"},
	} {
		for d, want := range map[sqldb.Dialect]any{sqldb.Postgres: c.postgres, sqldb.MySQL: c.mysql, sqldb.SQLite: c.lit} {
			got, err := bind(d, c.in)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: bind(%#v) = %#v, %v; want %#v", d.Name, c.in, got, err, want)
			}
		}
	}
	if _, err := bind(sqldb.Postgres, struct{}{}); err == nil {
		t.Error("want an error for an unsupported type")
	}
}

func TestKeyTextJoinsEqualKeys(t *testing.T) {
	if keyText("7") != keyText(int64(7)) || keyText(nil) == keyText("") {
		t.Error("7 and \"7\" are one key; null and \"\" are not")
	}
}
