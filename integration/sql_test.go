package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestSQLSourceCrash SIGKILLs a runner polling a PostgreSQL table while rows
// keep arriving, and restarts it: the cursor, stored in Kafka only after
// the rows it covers are acknowledged, must not skip a row.
func TestSQLSourceCrash(t *testing.T) {
	brokers := service.Kafka(t)
	dsn := service.Postgres(t)
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := unique("sqlsrc")
	table := "rows_" + name[len("sqlsrc-"):]
	if _, err := db.Exec(`CREATE TABLE ` + table + ` (id bigserial PRIMARY KEY, k text NOT NULL, payload text)`); err != nil {
		t.Fatal(err)
	}
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
`, name, table, name)
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
	faults.add(fmt.Sprintf("SIGKILL runner polling PostgreSQL x%d", kills), tl)
	if tl.Lost != 0 {
		t.Fatalf("%s: rows lost", tl)
	}
}

// distinctIDs waits for n distinct "id" values.
func distinctIDs(n int) func([]*kafka.Message) bool {
	seen := map[string]bool{}
	checked := 0
	return func(ms []*kafka.Message) bool {
		for _, m := range ms[checked:] {
			var v struct{ ID json.RawMessage }
			if json.Unmarshal(m.Value, &v) == nil {
				seen[string(v.ID)] = true
			}
		}
		checked = len(ms)
		return len(seen) >= n
	}
}
