package engine

import (
	"strconv"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// BenchmarkStatefulRun is one record through a set step, an aggregate and
// a map: the per-record path of a stateful transform, without Kafka.
func BenchmarkStatefulRun(b *testing.B) {
	st := testStageState(b, `pipeline: b
kafka: {brokers: embedded}
transforms:
  t:
    from: in
    steps:
      - set: {double: n * 2}
      - aggregate: {values: {count: count, total: {sum: double}}}
      - map: '{"total": total}'
    to: out
`)
	ps := st.partition(0)
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = []byte(strconv.Itoa(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := &record.Record{Key: keys[i%len(keys)], Value: map[string]any{"n": int64(i)}}
		if _, _, err := st.run(ps, r); err != nil {
			b.Fatal(err)
		}
	}
}
