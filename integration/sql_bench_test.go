package integration

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
)

const benchRows = 200000

// benchTable creates a PostgreSQL table of benchRows six-column rows once
// per benchmark run.
func benchTable(b *testing.B, dsn string) string {
	b.Helper()
	db := openPostgres(b, dsn)
	table := fmt.Sprintf("bench_%d", time.Now().UnixNano()%1e9)
	for _, s := range []string{
		`CREATE TABLE ` + table + ` (id bigint PRIMARY KEY, store text, donut text, qty int, total numeric(10,2), ordered_at timestamptz)`,
		`INSERT INTO ` + table + ` SELECT g, 'store' || (g % 50), 'glazed', g % 24, (g % 24) * 1.25, now() FROM generate_series(1, ` + fmt.Sprint(benchRows) + `) g`,
	} {
		if _, err := db.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	return table
}

// timedRun builds the pipeline in yaml and times it from start until done
// reports true; the stop afterwards is not timed.
func timedRun(b *testing.B, reg connectors.Registry, yaml string, done func() bool) {
	b.Helper()
	p, err := pipeline.Parse("bench.yaml", []byte(yaml), pipeline.Options{Kinds: reg.Kinds()})
	if err != nil {
		b.Fatal(err)
	}
	plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	b.StartTimer()
	go func() { ended <- plan.Run(ctx, engine.RunOptions{Log: slog.New(slog.DiscardHandler)}) }()
	for !done() {
	}
	b.StopTimer()
	cancel()
	if err := <-ended; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSQLSourceToKafka: rows per second from a PostgreSQL table into a
// Kafka topic through a runner source stage (incrementing mode), each op a
// full read of the table into a fresh topic.
func BenchmarkSQLSourceToKafka(b *testing.B) {
	brokers, dsn := service.Kafka(b), service.Postgres(b)
	table := benchTable(b, dsn)
	reg := connectors.Registry{Sources: []connectors.SourceSpec{sqlsource.Spec()}}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		name := unique(fmt.Sprintf("bench-src-%d", i))
		kafkatest.CreateTopic(b, brokers, name, 6)
		src := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '%s'}
sources:
  rows:
    sql: {driver: postgres, dsn: '%s', table: %s, mode: incrementing, incrementing_column: id, batch_size: 5000, poll_interval: 50ms, key_columns: [store]}
    to: %s
`, name, brokers, dsn, table, name)
		timedRun(b, reg, src, func() bool {
			if kafkatest.HasRecords(b, brokers, name, benchRows) {
				return true
			}
			time.Sleep(20 * time.Millisecond)
			return false
		})
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPlainSelect: the same table read with a plain SELECT, every
// column scanned: the ceiling for the source.
func BenchmarkPlainSelect(b *testing.B) {
	dsn := service.Postgres(b)
	table := benchTable(b, dsn)
	db := openPostgres(b, dsn)
	b.ResetTimer()
	for range b.N {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY id`)
		if err != nil {
			b.Fatal(err)
		}
		vals := make([]any, 6)
		ptrs := make([]any, 6)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		if n != benchRows {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// sinkRecords preloads a topic with benchRows order records over 5,000 keys.
func sinkRecords(b *testing.B, brokers string) string {
	b.Helper()
	topic := unique("bench-sink")
	kafkatest.CreateTopic(b, brokers, topic, 6)
	msgs := make([]*kafka.Message, 0, benchRows)
	for i := range benchRows {
		k := fmt.Sprintf("order-%d", i%5000)
		msgs = append(msgs, kafkatest.Message(topic, []byte(k), fmt.Appendf(nil,
			`{"order_id":%q,"store":"store%d","donut":"glazed","qty":%d,"total":%g,"seq":%d}`, k, i%50, i%24, float64(i%24)*1.25, i)))
	}
	kafkatest.Produce(b, brokers, msgs)
	return topic
}

// BenchmarkKafkaToPostgresUpsert: records per second from a Kafka topic
// upserted into PostgreSQL by a runner sink stage, each op a fresh
// consumer group reading the whole topic.
func BenchmarkKafkaToPostgresUpsert(b *testing.B) {
	brokers, dsn := service.Kafka(b), service.Postgres(b)
	topic := sinkRecords(b, brokers)
	db := openPostgres(b, dsn)
	table := fmt.Sprintf("bench_sink_%d", time.Now().UnixNano()%1e9)
	if _, err := db.Exec(`CREATE TABLE ` + table + ` (order_id text PRIMARY KEY, store text, donut text, qty bigint, total double precision, seq bigint)`); err != nil {
		b.Fatal(err)
	}
	reg := connectors.Registry{Sinks: []connectors.SinkSpec{sqlsink.Spec()}}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		group := fmt.Sprintf("%s.g%d", topic, i)
		src := fmt.Sprintf(`pipeline: bench
kafka: {brokers: '%s'}
sinks:
  db:
    from: %s
    group: %s
    sql: {driver: postgres, dsn: '%s', table: %s, mode: upsert, key: [order_id], batch_size: 5000}
`, brokers, topic, group, dsn, table)
		timedRun(b, reg, src, func() bool {
			return kafkatest.WaitCommitted(b, brokers, group, topic, benchRows, 50*time.Millisecond)
		})
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPlainInsert: the same rows written with plain multi-row INSERTs
// of 1,000 rows (no ON CONFLICT), 5,000 rows per transaction: the ceiling.
func BenchmarkPlainInsert(b *testing.B) {
	dsn := service.Postgres(b)
	db := openPostgres(b, dsn)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		table := fmt.Sprintf("bench_plain_%d", time.Now().UnixNano()%1e9)
		if _, err := db.Exec(`CREATE TABLE ` + table + ` (order_id text, store text, donut text, qty bigint, total double precision, seq bigint)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for tx0 := 0; tx0 < benchRows; tx0 += 5000 {
			tx, err := db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			for st := tx0; st < tx0+5000; st += 1000 {
				var sb strings.Builder
				args := make([]any, 0, 6000)
				sb.WriteString(`INSERT INTO ` + table + ` VALUES `)
				for i := st; i < st+1000; i++ {
					if i > st {
						sb.WriteString(",")
					}
					n := len(args)
					fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6)
					args = append(args, fmt.Sprintf("order-%d", i), fmt.Sprintf("store%d", i%50), "glazed", i%24, float64(i%24)*1.25, i)
				}
				if _, err := tx.Exec(sb.String(), args...); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
