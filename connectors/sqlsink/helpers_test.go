package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// parseSink builds a sink from the YAML body of its sql block, indented as
// written under `sql:`, with real file positions.
func parseSink(t testing.TB, body string, env map[string]string) (*Sink, error) {
	t.Helper()
	var b strings.Builder
	b.WriteString("pipeline: p\nkafka: {brokers: embedded}\nsinks:\n  db:\n    from: t\n    sql:\n")
	for _, line := range strings.Split(strings.Trim(body, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p, err := pipeline.Parse("p.yaml", []byte(b.String()), pipeline.Options{Lookup: lookup, Kinds: pipeline.Kinds{Sinks: []string{"sql"}}})
	if err != nil {
		return nil, err
	}
	return New(p.Sinks[0].Connector, connectors.Env{Lookup: lookup, Vars: map[string]any{"rate": int64(3)}})
}

func mustSink(t *testing.T, body string) *Sink { return mustSinkTB(t, body) }

func mustSinkTB(t testing.TB, body string) *Sink {
	t.Helper()
	s, err := parseSink(t, body, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return s
}

// openSink builds and opens a sink and closes it when the test ends.
func openSink(t *testing.T, body string) *Sink {
	t.Helper()
	s := mustSink(t, body)
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rec makes a record with a JSON value ("" is a tombstone) and a key (nil
// for none).
func rec(t testing.TB, key any, value string) *record.Record {
	t.Helper()
	r := &record.Record{Topic: "t", Timestamp: time.Unix(1700000000, 0)}
	switch k := key.(type) {
	case nil:
	case string:
		r.Key = []byte(k)
	default:
		r.Key = []byte(fmt.Sprint(k))
	}
	if value != "" {
		v, err := record.DecodeJSON([]byte(value))
		if err != nil {
			t.Fatal(err)
		}
		r.Value = v
	}
	return r
}

func recs(t testing.TB, values ...string) []*record.Record {
	t.Helper()
	out := make([]*record.Record, len(values))
	for i, v := range values {
		out[i] = rec(t, nil, v)
	}
	return out
}

// writeAll does what the engine does with a batch: records the sink
// rejects are set aside (their original indexes returned) and the rest is
// written again; transient errors are retried for up to 30 seconds.
func writeAll(t testing.TB, s *Sink, batch []*record.Record) []int {
	t.Helper()
	idx := make([]int, len(batch))
	for i := range idx {
		idx[i] = i
	}
	batch = append([]*record.Record(nil), batch...)
	var rejected []int
	deadline := time.Now().Add(30 * time.Second)
	wait := 50 * time.Millisecond
	for len(batch) > 0 {
		err := s.Write(context.Background(), batch)
		var re *connectors.RecordError
		switch {
		case err == nil:
			return rejected
		case errors.As(err, &re):
			rejected = append(rejected, idx[re.Index])
			batch = append(batch[:re.Index], batch[re.Index+1:]...)
			idx = append(idx[:re.Index], idx[re.Index+1:]...)
		case time.Now().After(deadline):
			t.Fatalf("write still failing after 30s: %v", err)
		default:
			t.Logf("transient: %v", err)
			time.Sleep(wait)
			wait = min(2*wait, time.Second)
		}
	}
	return rejected
}

// dump runs a query and prints each row as values joined by |, NULL for
// null, so tests compare tables as text.
func dump(t testing.TB, s *Sink, query string) string {
	t.Helper()
	rows, err := s.db.Queryx(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		vals, err := rows.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				parts[i] = "NULL"
			case []byte:
				parts[i] = string(x)
			case time.Time:
				parts[i] = x.UTC().Format(time.RFC3339Nano)
			default:
				parts[i] = fmt.Sprint(x)
			}
		}
		lines = append(lines, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func run(t testing.TB, s *Sink, query string) {
	t.Helper()
	if _, err := s.db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func wantRows(t testing.TB, s *Sink, query, want string) {
	t.Helper()
	if got := dump(t, s, query); got != strings.TrimSpace(want) {
		t.Errorf("%s:\ngot\n%s\nwant\n%s", query, got, strings.TrimSpace(want))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
