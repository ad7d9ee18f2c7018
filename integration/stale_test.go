package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
)

// resetStage runs `runner reset -c cfg --stage stage` and returns what it
// printed.
func resetStage(t *testing.T, cfg, stage string, env ...string) string {
	t.Helper()
	bin, err := runnertest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "reset", "-c", cfg, "--stage", stage)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("runner reset: %v\n%s", err, out)
	}
	return string(out)
}

// failsWith starts the runner and waits for it to exit with status 1 and
// every text of want in its log.
func failsWith(t *testing.T, cfg string, env []string, want ...string) {
	t.Helper()
	p := runnertest.Start(t, cfg, env...)
	exited, err := p.Wait(90 * time.Second)
	if !exited {
		t.Fatalf("the runner did not stop within 90s; stderr:\n%s", p.Stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("runner exit %v, want status 1; stderr:\n%s", err, p.Stderr.String())
	}
	stderr := p.Stderr.String()
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("the runner's log does not say %q:\n%s", w, stderr)
		}
	}
}

// recreateTopic deletes topic and creates it again with partitions: same
// name, new topic id. No metadata request in between: the broker would
// create the topic on one.
func recreateTopic(t *testing.T, brokers, topic string, partitions int) {
	t.Helper()
	a, ctx, done := kafkatest.Admin(t, brokers, 90*time.Second)
	defer done()
	res, err := a.DeleteTopics(ctx, []string{topic})
	if err != nil || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("delete topic %s: %v %v", topic, err, res)
	}
	// Until the deletion completes, the name is taken.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err := a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: -1}})
		if err == nil && res[0].Error.Code() == kafka.ErrNoError {
			return
		}
		if time.Now().After(deadline) || err == nil && res[0].Error.Code() != kafka.ErrTopicAlreadyExists {
			t.Fatalf("create topic %s again: %v %v", topic, err, res)
		}
	}
}

// TestStaleSinkOffsets: a SQL sink's topic is deleted and created again (a
// new topic id) with other records. exactly_once stores its offsets in its
// table: the runner must stop, naming the offsets table, the stored and
// the seen identity and the reset, with none of the new records written
// (before, offsets of the old topic skipped the new one's first records
// silently); after `runner reset` every new record is written.
// at_least_once keeps its offsets in Kafka, which drops them with the
// topic: it writes the new records without a reset.
func TestStaleSinkOffsets(t *testing.T) { eachDelivery(t, testStaleSinkOffsets) }

func testStaleSinkOffsets(t *testing.T, delivery string) {
	pg := startPGCase(t, "stale-sink", "stale_", "CREATE TABLE %[1]s (id text PRIMARY KEY, n bigint NOT NULL)", "DROP TABLE IF EXISTS %[1]s_offsets")
	brokers, dsn, db, name, table := pg.brokers, pg.dsn, pg.db, pg.name, pg.table
	const n, partitions = 300, 3
	produce := func(prefix string) {
		var msgs []*kafka.Message
		for i := range n {
			msgs = append(msgs, kafkatest.Message(name, fmt.Appendf(nil, "k%d", i%20), fmt.Appendf(nil, `{"id": "%s%d", "n": %d}`, prefix, i, i)))
		}
		kafkatest.Produce(t, brokers, msgs)
	}
	kafkatest.CreateTopic(t, brokers, name, partitions)
	produce("old-")
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
sinks:
  db:
    from: %s
    delivery: %s
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, offsets_table: %s_offsets, mode: insert, batch_size: 100}
`, name, name, delivery, table, table)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn}
	p := runnertest.Start(t, cfg, env...)
	if !kafkatest.WaitCommitted(t, brokers, name+".db", name, n, 90*time.Second) || !waitRows(t, db, table, n, 30*time.Second) {
		t.Fatalf("the first %d records never arrived; stderr:\n%s", n, p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}

	recreateTopic(t, brokers, name, partitions)
	produce("new-")
	if delivery == "exactly_once" {
		failsWith(t, cfg, env, "sink db: stored position is stale", "table "+table+"_offsets holds offsets of group "+name+".db",
			"topic "+name+" (partitions ", "but "+name+" now is cluster ", "runner reset -c "+cfg+" --stage db")
		var newRows int
		if err := db.Get(&newRows, "SELECT count(*) FROM "+table+" WHERE id LIKE 'new-%'"); err != nil || newRows != 0 {
			t.Fatalf("%d records of the new topic written from stale offsets (%v)", newRows, err)
		}
		out := resetStage(t, cfg, "db", env...)
		if !strings.Contains(out, fmt.Sprintf("deleted %d stored offset(s) of group %s.db", partitions, name)) {
			t.Errorf("runner reset printed %q", out)
		}
	}
	p = runnertest.Start(t, cfg, env...)
	if !waitRows(t, db, table, 2*n, 90*time.Second) {
		t.Errorf("the new records never all arrived; stderr:\n%s", p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	var distinct, written int
	if err := db.Get(&distinct, "SELECT count(DISTINCT id) FROM "+table+" WHERE id LIKE 'new-%'"); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&written, "SELECT count(*) FROM "+table+" WHERE id LIKE 'new-%'"); err != nil {
		t.Fatal(err)
	}
	tl := runnertest.Tally{Records: n, Received: written, Lost: n - distinct, Duplicated: written - distinct}
	faults.add("topic deleted and created again (SQL sink)", delivery, tl)
	if tl.Lost != 0 || tl.Duplicated != 0 {
		t.Errorf("after the topic came back: %s", tl)
	}
}

// TestStaleSourceCursor: a SQL source stores its cursor in Kafka; its
// PostgreSQL table is then dropped and created again with more rows than
// before (so its ids pass the cursor, and only the table's identity tells
// it is another table). The runner must stop, naming the table, the
// cursor and the reset, with none of the new rows sent (before, the first
// rows of the new table were skipped silently); after `runner reset` every
// new row is sent.
func TestStaleSourceCursor(t *testing.T) { eachDelivery(t, testStaleSourceCursor) }

func testStaleSourceCursor(t *testing.T, delivery string) {
	pg := startPGCase(t, "stale-src", "stale_")
	brokers, dsn, db, name, table := pg.brokers, pg.dsn, pg.db, pg.name, pg.table
	const before, after = 50, 80
	create := func(rows int, payload string) {
		for _, q := range []string{"DROP TABLE IF EXISTS " + table, "CREATE TABLE " + table + " (id bigserial PRIMARY KEY, payload text NOT NULL)"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec("INSERT INTO "+table+" (payload) SELECT $1 || g FROM generate_series(1, $2) g", payload, rows); err != nil {
			t.Fatal(err)
		}
	}
	create(before, "old-")
	kafkatest.CreateTopic(t, brokers, name, 1)
	cfg := filepath.Join(t.TempDir(), "source.yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
cursor_topic: %s-cursors
sources:
  rows:
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %s, mode: incrementing, incrementing_column: id, poll_interval: 100ms}
    to: %s
    delivery: %s
`, name, name, table, name, delivery)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn}
	p := runnertest.Start(t, cfg, env...)
	if got := kafkatest.ReadUntil(t, brokers, name, 60*time.Second, kafkatest.Count(before)); len(got) < before {
		t.Fatalf("only %d rows in Kafka; stderr:\n%s", len(got), p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}

	create(after, "new-")
	failsWith(t, cfg, env, "source rows: table "+table+": the stored cursor (id "+fmt.Sprint(before)+") was stored for a table with oid ",
		"but "+table+" now has oid ", "dropped and created again", "runner reset -c "+cfg+" --stage rows")
	payloads := func() map[string]int {
		seen := map[string]int{}
		for _, m := range kafkatest.ReadAll(t, brokers, name, 60*time.Second) {
			var v struct{ Payload string }
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatal(err)
			}
			seen[v.Payload]++
		}
		return seen
	}
	for k := range payloads() {
		if strings.HasPrefix(k, "new-") {
			t.Fatalf("rows of the new table sent from a stale cursor: %s", k)
		}
	}

	out := resetStage(t, cfg, "rows", env...)
	if !strings.Contains(out, "source rows: deleted its cursor") {
		t.Errorf("runner reset printed %q", out)
	}
	p = runnertest.Start(t, cfg, env...)
	kafkatest.ReadUntil(t, brokers, name, 60*time.Second, kafkatest.Count(before+after))
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	seen := payloads()
	tl := runnertest.Tally{Records: after}
	for i := 1; i <= after; i++ {
		c := seen[fmt.Sprintf("new-%d", i)]
		tl.Received += c
		if c == 0 {
			tl.Lost++
		} else {
			tl.Duplicated += c - 1
		}
	}
	faults.add("source table dropped and created again", delivery, tl)
	if tl.Lost != 0 || tl.Duplicated != 0 {
		t.Errorf("after the reset: %s", tl)
	}
}
