package integration

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/config"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

const benchRows = 200000

// benchTable creates a PostgreSQL table of benchRows six-column rows once
// per benchmark run.
func benchTable(b *testing.B, dsn string) string {
	b.Helper()
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
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

// BenchmarkSQLSourceToKafka: rows per second from a PostgreSQL table into a
// Kafka topic through a runner source stage (incrementing mode), each op a
// full read of the table into a fresh topic.
func BenchmarkSQLSourceToKafka(b *testing.B) {
	brokers, dsn := service.Kafka(b), service.Postgres(b)
	table := benchTable(b, dsn)
	reg := engine.Registry{Sources: map[string]engine.SourceFactory{
		"sql": func(c config.Connector, env engine.Env) (engine.Source, error) { return sqlsource.New(c, env) },
	}}
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
		p, err := config.Parse("bench.yaml", []byte(src), config.Options{Kinds: reg.Kinds()})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := engine.Build([]*config.Pipeline{p}, reg, engine.Env{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- plan.Run(ctx, engine.RunOptions{Log: slog.New(slog.DiscardHandler)}) }()
		for !kafkatest.HasRecords(b, brokers, name, benchRows) {
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPlainSelect: the same table read with a plain SELECT, every
// column scanned: the ceiling for the source.
func BenchmarkPlainSelect(b *testing.B) {
	dsn := service.Postgres(b)
	table := benchTable(b, dsn)
	db, err := sqldb.Open(sqldb.Postgres, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
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
