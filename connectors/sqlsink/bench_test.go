package sqlsink

import (
	"context"
	"fmt"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

const benchRows = 10000

// benchBatch is 10k records of a 6-column row, ids from first.
func benchBatch(first int64) []*record.Record {
	b := make([]*record.Record, benchRows)
	for i := range b {
		id := first + int64(i)
		b[i] = &record.Record{Value: map[string]any{
			"id": id, "store": fmt.Sprintf("store-%d", id%50), "qty": id % 24,
			"price": float64(id%1000) / 7, "paid": id%2 == 0, "note": "glazed, maple and plain",
		}}
	}
	return b
}

const benchDDL = `CREATE TABLE %s (id bigint PRIMARY KEY, store text, qty int, price double precision, paid boolean, note text)`

// BenchmarkUpsertPostgres upserts the same 10k keys per op (the update
// path of ON CONFLICT), one transaction per op.
func BenchmarkUpsertPostgres(b *testing.B) {
	for _, perStmt := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rows_per_statement=%d", perStmt), func(b *testing.B) {
			s := pgSink(b, "bench_upsert", fmt.Sprintf(benchDDL, "bench_upsert"), fmt.Sprintf("key: [id]\nbatch_size: %d", perStmt))
			batch := benchBatch(0)
			if err := s.Write(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.Write(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkPlainInsertPostgres inserts 10k new rows per op with plain
// multi-row INSERTs (insert mode: no ON CONFLICT), one transaction per op,
// into the same table shape, as the baseline for the upsert's cost.
func BenchmarkPlainInsertPostgres(b *testing.B) {
	for _, perStmt := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rows_per_statement=%d", perStmt), func(b *testing.B) {
			s := pgSink(b, "bench_insert", fmt.Sprintf(benchDDL, "bench_insert"), fmt.Sprintf("mode: insert\nbatch_size: %d", perStmt))
			batch := benchBatch(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for j, r := range batch {
					r.Value.(map[string]any)["id"] = int64(i*benchRows + j)
				}
				b.StartTimer()
				if err := s.Write(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
