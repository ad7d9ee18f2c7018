package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/pipeline"
)

const staleSink = `
pipeline: stale
kafka: {brokers: '${BROKERS}'}
sinks:
  db:
    from: orders
    delivery: exactly_once
    sql: {driver: sqlite, dsn: '${DSN}', table: orders, mode: upsert, key: [id], auto_create: true, flush_interval: 10ms}
`

// sqlPlan builds staleSink with the real SQL sink.
func sqlPlan(t *testing.T, brokers, dsn string) *engine.Plan {
	t.Helper()
	reg := connectors.Registry{Sinks: []connectors.SinkSpec{sqlsink.Spec()}}
	env := map[string]string{"BROKERS": brokers, "DSN": dsn}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p, err := pipeline.Parse("stale.yaml", []byte(staleSink), pipeline.Options{Lookup: lookup, Kinds: reg.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{Lookup: lookup})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// orders creates topic orders on brokers with records whose ids are
// prefix0, prefix1, ...
func orders(t *testing.T, brokers, prefix string, n int) {
	t.Helper()
	kafkatest.CreateTopic(t, brokers, "orders", 1)
	var msgs []*kafka.Message
	for i := range n {
		msgs = append(msgs, kafkatest.Message("orders", nil, fmt.Appendf(nil, `{"id": "%s%d"}`, prefix, i)))
	}
	kafkatest.Produce(t, brokers, msgs)
}

// runUntil runs plan until the table holds want rows, then stops it; a
// run that ends by itself returns its error.
func runUntil(t *testing.T, plan *engine.Plan, db *sqlx.DB, want int) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- plan.Run(ctx, engine.RunOptions{}) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(60 * time.Second); ; {
		select {
		case err := <-done:
			return err
		case <-deadline:
			t.Fatalf("the table never held %d rows", want)
		case <-tick.C:
			var n int
			if db.Get(&n, "SELECT count(*) FROM orders") == nil && n >= want {
				cancel()
				return <-done
			}
		}
	}
}

func rowIDs(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var ids []string
	if err := db.Select(&ids, "SELECT id FROM orders ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	return strings.Join(ids, ",")
}

// TestStaleSinkOffsets is the case: offsets stored in the sink's
// table by a run on one broker, then a run on another (a fresh embedded
// broker: a new cluster) whose topic has other records. The second run
// must stop, naming the table, both identities and the reset, and write
// nothing; after runner reset every record of the new topic is written.
// Offsets stored before identities were kept are bound on first use.
func TestStaleSinkOffsets(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "sink.db")
	db, err := sqldb.Open(sqldb.SQLite, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	a := kafkatest.Embedded(t)
	orders(t, a, "a", 10)
	if err := runUntil(t, sqlPlan(t, a, dsn), db, 10); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// Offsets of an older version carry no identity: they are taken as
	// the topic's, and the run goes on from them.
	if _, err := db.Exec("UPDATE conveyor_offsets SET cluster_id = NULL, topic_id = NULL"); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, a, []*kafka.Message{kafkatest.Message("orders", nil, []byte(`{"id": "a10"}`))})
	if err := runUntil(t, sqlPlan(t, a, dsn), db, 11); err != nil {
		t.Fatalf("run with offsets of an older version: %v", err)
	}
	var unbound int
	if err := db.Get(&unbound, "SELECT count(*) FROM conveyor_offsets WHERE cluster_id IS NULL OR topic_id IS NULL"); err != nil || unbound != 0 {
		t.Fatalf("offsets not bound to their topic: %d (%v)", unbound, err)
	}

	b := kafkatest.Embedded(t)
	orders(t, b, "b", 15)
	err = runUntil(t, sqlPlan(t, b, dsn), db, 26)
	if !errors.Is(err, connectors.ErrStalePosition) {
		t.Fatalf("run on another broker: want a stale position, got %v", err)
	}
	t.Logf("run on another broker: %v", err)
	for _, want := range []string{"sink db", "table conveyor_offsets", `group stale.db`, "topic orders (partitions 0) stored for cluster embedded-",
		"but orders now is cluster embedded-", "runner reset -c stale.yaml --stage db"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if got := rowIDs(t, db); strings.Contains(got, "b") {
		t.Fatalf("wrote records of the other topic from stale offsets: %s", got)
	}

	msg, err := sqlPlan(t, b, dsn).Reset(context.Background(), "db", nil)
	if err != nil || !strings.Contains(msg, "deleted 1 stored offset(s) of group stale.db") {
		t.Fatalf("reset: %q, %v", msg, err)
	}
	if err := runUntil(t, sqlPlan(t, b, dsn), db, 26); err != nil {
		t.Fatalf("run after the reset: %v", err)
	}
	var want []string
	for i := range 11 {
		want = append(want, fmt.Sprintf("a%d", i))
	}
	for i := range 15 {
		want = append(want, fmt.Sprintf("b%d", i))
	}
	slices.Sort(want)
	if got := rowIDs(t, db); got != strings.Join(want, ",") {
		t.Errorf("rows after the reset: %s", got)
	}
}
