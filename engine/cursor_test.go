package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/pipeline"
)

const sqlPipeline = `
pipeline: cursor
kafka: {brokers: '${BROKERS}'}
sources:
  rows:
    sql: {driver: sqlite, dsn: '${DSN}', table: items, mode: incrementing, incrementing_column: id, batch_size: 7, poll_interval: 50ms}
    to: items
`

// TestCursorSurvivesRestart: a SQL source stores its cursor in Kafka only
// after its rows are acknowledged, and a second run resumes after them.
func TestCursorSurvivesRestart(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	dsn := "file:" + filepath.Join(t.TempDir(), "items.db")
	db, err := sqldb.Open(sqldb.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			if _, err := db.Exec("INSERT INTO items VALUES (?, ?)", i, fmt.Sprintf("item %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
		t.Fatal(err)
	}
	insert(1, 50)
	reg := registry()
	run := func(wantTotal int) {
		lookup := func(k string) (string, bool) {
			v, ok := map[string]string{"BROKERS": brokers, "DSN": dsn}[k]
			return v, ok
		}
		p, err := pipeline.Parse("test.yaml", []byte(sqlPipeline), pipeline.Options{Lookup: lookup, Kinds: reg.Kinds()})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{Lookup: lookup})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
		got := kafkatest.ReadUntil(t, brokers, "items", 30*time.Second, kafkatest.Count(wantTotal))
		time.Sleep(300 * time.Millisecond) // a few more polls: nothing new may appear
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if all := kafkatest.ReadAll(t, brokers, "items", 10*time.Second); len(all) != wantTotal || len(got) < wantTotal {
			t.Fatalf("topic has %d records, want %d", len(all), wantTotal)
		}
	}
	run(50)
	cursors := kafkatest.ReadAll(t, brokers, pipeline.DefaultCursorTopic, 10*time.Second)
	last := cursors[len(cursors)-1]
	if string(last.Key) != "cursor/rows" || string(last.Value) != `{"inc":50}` {
		t.Fatalf("stored cursor %s=%s, want cursor/rows={\"inc\":50}", last.Key, last.Value)
	}
	insert(51, 60)
	run(60) // only the ten new rows are added
}
