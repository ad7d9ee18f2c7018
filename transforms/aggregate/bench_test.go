package aggregate

import (
	"fmt"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// BenchmarkAdd: count and sum over 100k distinct keys, no windows. The
// first 100k iterations create groups, later ones update them.
func BenchmarkAdd(b *testing.B) {
	const keys = 100_000
	spec := compileStep(b, "values:\n  n: count\n  total: {sum: amount}")
	recs := make([]*record.Record, keys)
	for i := range recs {
		recs[i] = rec(fmt.Sprintf("key-%06d", i), int64(i), obj("amount", int64(i%100), "note", "x"))
	}
	st := spec.NewState()
	var out []Output
	var changes []Change
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var err error
		out, changes, err = st.Add(recs[i%keys], out[:0], changes[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if b.N >= keys && st.Len() != keys {
		b.Fatalf("Len = %d, want %d", st.Len(), keys)
	}
}
