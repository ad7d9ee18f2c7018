package engine

import (
	"strconv"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/state"
	"github.com/conveyor-dev/conveyor/transforms/stateful"
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
	ps := st.Partition(0)
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = []byte(strconv.Itoa(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := &record.Record{Key: keys[i%len(keys)], Value: map[string]any{"n": int64(i)}}
		if _, _, err := st.Run(ps, r); err != nil {
			b.Fatal(err)
		}
	}
}

// testStageState compiles the stateful steps of the first transform of a
// pipeline file, as Build does, for benchmarks of the per-record path.
func testStageState(tb testing.TB, yaml string) *stateful.Runner {
	tb.Helper()
	p, err := pipeline.Parse("t.yaml", []byte(yaml), pipeline.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var errs pipeline.Errors
	pl := stateful.Compile(&p.Transforms[0], expression.Options{}, &errs)
	if err := errs.Err(); err != nil {
		tb.Fatal(err)
	}
	return pl.NewRunner(expression.Options{}, state.Memory)
}
