package stateful

import (
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	"github.com/conveyor-dev/conveyor/transforms/state"
)

// TestJoinPassesTombstones: a join has no field to put a row in on a
// tombstone, so it passes the tombstone on unchanged, with or without a
// row for its key, and the steps after it pass it too.
func TestJoinPassesTombstones(t *testing.T) {
	for _, typ := range []string{"inner", "left"} {
		st := testRunner(t, `pipeline: j
kafka: {brokers: embedded}
transforms:
  t:
    from: in
    steps:
      - join: {table: users, as: user, type: `+typ+`}
      - set: {n: 1}
    to: out
`)
		ps := st.Partition(0)
		ps.ApplyTableRow("users", []byte("known"), map[string]any{"name": "ann"})
		for _, key := range []string{"known", "unknown"} {
			out, _, err := st.Run(ps, &record.Record{Key: []byte(key), Value: nil})
			if err != nil {
				t.Fatalf("%s join, key %s: %v", typ, key, err)
			}
			if len(out) != 1 || out[0].Value != nil || string(out[0].Key) != key {
				t.Fatalf("%s join, key %s: %d records out, want the tombstone", typ, key, len(out))
			}
		}
	}
}

// testRunner compiles the stateful steps of the first transform of a
// pipeline file, for tests of the per-record path.
func testRunner(tb testing.TB, yaml string) *Runner {
	tb.Helper()
	p, err := pipeline.Parse("t.yaml", []byte(yaml), pipeline.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var errs pipeline.Errors
	pl := Compile(&p.Transforms[0], expression.Options{}, &errs)
	if err := errs.Err(); err != nil {
		tb.Fatal(err)
	}
	return pl.NewRunner(expression.Options{}, state.Memory)
}
