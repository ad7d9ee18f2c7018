package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestSQLSourceCrash SIGKILLs a runner polling a PostgreSQL table while rows
// keep arriving, and restarts it. at_least_once: the cursor, stored in
// Kafka only after the rows it covers are acknowledged, must not skip a
// row. exactly_once: rows and cursor commit in one transaction, so no row
// is skipped or repeated either.
func TestSQLSourceCrash(t *testing.T) { eachDelivery(t, testSQLSourceCrash) }

func testSQLSourceCrash(t *testing.T, delivery string) {
	pg := startPGCase(t, "sqlsrc", "rows_", `CREATE TABLE %[1]s (id bigserial PRIMARY KEY, k text NOT NULL, payload text)`)
	brokers, dsn, db, name, table := pg.brokers, pg.dsn, pg.db, pg.name, pg.table
	insert := func(n int) {
		if _, err := db.Exec(`INSERT INTO `+table+` (k, payload) SELECT 'k' || (g % 20), md5(g::text) FROM generate_series(1, $1) g`, n); err != nil {
			t.Fatal(err)
		}
	}
	const first, kills, perKill = 40000, 3, 10000
	insert(first)
	kafkatest.CreateTopic(t, brokers, name, 3)
	cfg := filepath.Join(t.TempDir(), "sql.yaml")
	pipeline := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
sources:
  rows:
    sql:
      driver: postgres
      dsn: ${PG_DSN}
      table: %s
      mode: incrementing
      incrementing_column: id
      batch_size: 500
      poll_interval: 100ms
      key_columns: [k]
    to: %s
    delivery: %s
`, name, table, name, delivery)
	if err := os.WriteFile(cfg, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn}
	total := first
	for k := range kills {
		p := runnertest.Start(t, cfg, env...)
		want := (k + 1) * first / (kills + 1)
		if got := kafkatest.ReadUntil(t, brokers, name, 60*time.Second, kafkatest.Count(want)); len(got) < want {
			t.Fatalf("kill %d: only %d rows in Kafka; stderr:\n%s", k+1, len(got), p.Stderr.String())
		}
		p.Kill(t)
		insert(perKill) // rows keep arriving while the runner is down
		total += perKill
	}
	p := runnertest.Start(t, cfg, env...)
	kafkatest.ReadUntil(t, brokers, name, 120*time.Second, distinctIDs(total))
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	msgs := kafkatest.ReadAll(t, brokers, name, 60*time.Second)
	tl := countIDs(t, msgs, total)
	faults.add(fmt.Sprintf("SIGKILL runner polling PostgreSQL x%d", kills), delivery, tl)
	expect(t, delivery, tl, total)
}

// countIDs tallies records of rows with ids 1..total (keyed by column k):
// lost and duplicated ids.
func countIDs(t *testing.T, msgs []*kafka.Message, total int) runnertest.Tally {
	t.Helper()
	tl := runnertest.Tally{Records: total, Received: len(msgs)}
	seen := map[int64]int{}
	for _, m := range msgs {
		var v struct {
			ID int64
			K  string
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || string(m.Key) != v.K {
			t.Fatalf("bad record key %q value %s: %v", m.Key, m.Value, err)
		}
		if seen[v.ID]++; seen[v.ID] > 1 {
			tl.Duplicated++
		}
	}
	for id := int64(1); id <= int64(total); id++ {
		if seen[id] == 0 {
			tl.Lost++
		}
	}
	return tl
}

// distinctIDs waits for n distinct "id" values.
func distinctIDs(n int) func([]*kafka.Message) bool {
	return runnertest.UniqueBy(n, func(m *kafka.Message) (string, bool) {
		var v struct{ ID json.RawMessage }
		err := json.Unmarshal(m.Value, &v)
		return string(v.ID), err == nil
	})
}

// TestSQLSinkRestartAndReplay upserts a keyed stream into PostgreSQL while
// the database crash-restarts mid-stream, then replays the whole topic
// through a second consumer group: the table ends with one row per key,
// each holding its latest value, and the replay changes nothing.
func TestSQLSinkRestartAndReplay(t *testing.T) {
	pg := startPGCase(t, "sqlsink", "latest_", `CREATE TABLE %[1]s (k text PRIMARY KEY, seq bigint NOT NULL, amount bigint NOT NULL)`)
	brokers, dsn, db, name, table := pg.brokers, pg.dsn, pg.db, pg.name, pg.table
	const n, keys = 60000, 500
	kafkatest.CreateTopic(t, brokers, name, 6)
	var msgs []*kafka.Message
	for i := range n {
		k := fmt.Sprintf("k%d", i%keys)
		msgs = append(msgs, kafkatest.Message(name, []byte(k), fmt.Appendf(nil, `{"k":%q,"seq":%d,"amount":%d}`, k, i/keys, i)))
	}
	kafkatest.Produce(t, brokers, msgs)
	pipeline := func(group string) string {
		cfg := filepath.Join(t.TempDir(), group+".yaml")
		text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
sinks:
  latest:
    from: %s
    group: %s
    rate: ${RATE:-}
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, mode: upsert, key: [k], batch_size: 500}
`, name, name, group, table)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn}
	snapshot := func() string {
		var rows []struct {
			K      string
			Seq    int64
			Amount int64
		}
		if err := db.Select(&rows, `SELECT k, seq, amount FROM `+table+` ORDER BY k`); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rows)
		return string(b)
	}

	p := runnertest.Start(t, pipeline(name+".first"), append(env, "RATE=20000/s")...)
	if !waitRows(t, db, table, keys/2, 60*time.Second) {
		t.Fatalf("no rows arrived; stderr:\n%s", p.Stderr.String())
	}
	service.RestartPostgres(t) // crash-stop and start, mid-stream
	if !kafkatest.WaitCommitted(t, brokers, name+".first", name, n, 120*time.Second) {
		t.Fatalf("the sink did not commit the whole topic; stderr:\n%s", p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	first := snapshot()
	var count, bad int
	if err := db.Get(&count, `SELECT count(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	// The latest record of key k%d has seq n/keys-1 and amount (n/keys-1)*keys + i.
	if err := db.Get(&bad, `SELECT count(*) FROM `+table+` WHERE seq <> $1 OR amount <> $2 + substr(k, 2)::bigint`, n/keys-1, (n/keys-1)*keys); err != nil {
		t.Fatal(err)
	}
	if count != keys || bad != 0 {
		t.Fatalf("after the restart: %d rows (want %d), %d not at their latest value", count, keys, bad)
	}

	p = runnertest.Start(t, pipeline(name+".replay"), env...)
	if !kafkatest.WaitCommitted(t, brokers, name+".replay", name, n, 120*time.Second) {
		t.Fatalf("the replay did not commit the whole topic; stderr:\n%s", p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v", err)
	}
	if second := snapshot(); second != first {
		t.Fatal("replaying the topic changed the table")
	}
	t.Logf("sink: %d records over %d keys, PostgreSQL restarted mid-stream: %d rows, all at their latest value; replay left the table unchanged", n, keys, count)
}

func waitRows(t *testing.T, db interface {
	Get(dest any, query string, args ...any) error
}, table string, n int, timeout time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var c int
		if db.Get(&c, `SELECT count(*) FROM `+table) == nil && c >= n {
			return true
		}
	}
	return false
}

// TestSQLSinkCrash appends a stream to a PostgreSQL table (insert mode, so
// every repeat would be a row of its own) while the runner is SIGKILLed
// twice and the database crash-restarts in between. exactly_once keeps the
// consumer offsets in the same transaction as the rows: no row lost,
// repeated or out of order per key.
func TestSQLSinkCrash(t *testing.T) { eachDelivery(t, testSQLSinkCrash) }

func testSQLSinkCrash(t *testing.T, delivery string) {
	pg := startPGCase(t, "sqlcrash", "events_", `CREATE TABLE %[1]s (ord bigserial PRIMARY KEY, id bigint NOT NULL, key text NOT NULL, seq bigint NOT NULL)`)
	brokers, dsn, db, name, table := pg.brokers, pg.dsn, pg.db, pg.name, pg.table
	const n, keys = 60000, 100
	kafkatest.CreateTopic(t, brokers, name, 6)
	runnertest.Preload(t, brokers, name, n, keys)
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}', config: {session.timeout.ms: "3000", heartbeat.interval.ms: "500"}}
sinks:
  events:
    from: %s
    rate: 15000/s
    delivery: %s
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, mode: insert, batch_size: 500}
`, name, name, delivery, table)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn}
	step := func(rows int, then func(p *runnertest.Proc)) {
		p := runnertest.Start(t, cfg, env...)
		if !waitRows(t, db, table, rows, 90*time.Second) {
			t.Fatalf("fewer than %d rows arrived; stderr:\n%s", rows, p.Stderr.String())
		}
		then(p)
	}
	step(n/4, func(p *runnertest.Proc) { p.Kill(t) })
	step(n/2, func(p *runnertest.Proc) {
		service.RestartPostgres(t) // crash-stop and start, mid-stream
		if !waitRows(t, db, table, 3*n/4, 90*time.Second) {
			t.Fatalf("no progress after the database restart; stderr:\n%s", p.Stderr.String())
		}
		p.Kill(t)
	})
	p := runnertest.Start(t, cfg, env...)
	var distinct int
	for deadline := time.Now().Add(120 * time.Second); distinct < n && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_ = db.Get(&distinct, `SELECT count(DISTINCT id) FROM `+table)
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	var rows []struct {
		ID  int64
		Key string
		Seq int64
	}
	if err := db.Select(&rows, `SELECT id, key, seq FROM `+table+` ORDER BY ord`); err != nil {
		t.Fatal(err)
	}
	tl := runnertest.Tally{Records: n, Received: len(rows)}
	seen := map[int64]bool{}
	last := map[string]int64{}
	for _, r := range rows {
		if seen[r.ID] {
			tl.Duplicated++
			continue
		}
		seen[r.ID] = true
		if prev, ok := last[r.Key]; ok && r.Seq < prev {
			tl.Reordered++
		}
		last[r.Key] = r.Seq
	}
	tl.Lost = n - len(seen)
	faults.add("SIGKILL runner x2 + PostgreSQL restart (sink)", delivery, tl)
	expect(t, delivery, tl, n)
}
