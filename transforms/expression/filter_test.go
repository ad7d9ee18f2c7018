package expression

import (
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// TestFilter: a filter reads value fields and metadata; compile errors
// name where the expression came from and the column.
func TestFilter(t *testing.T) {
	f, err := CompileFilter("--where", `qty > 1 && _headers["h"] == "x" && _key == "k"`)
	if err != nil {
		t.Fatal(err)
	}
	r := &record.Record{Key: []byte("k"), Value: map[string]any{"qty": int64(2)}, Headers: []record.Header{{Key: "h", Value: []byte("x")}}}
	if ok, err := f.Match(r); !ok || err != nil {
		t.Errorf("match: %v %v", ok, err)
	}
	r.Value = map[string]any{"qty": int64(1)}
	if ok, err := f.Match(r); ok || err != nil {
		t.Errorf("no match: %v %v", ok, err)
	}
	if _, ok := r.Value.(map[string]any)["_key"]; ok {
		t.Error("metadata left in the value")
	}
	if _, err := f.Match(&record.Record{Value: map[string]any{"qty": "two"}}); err == nil {
		t.Error("a string compared with a number matched without error")
	}
	if _, err := CompileFilter("where", "qty >"); err == nil || !strings.HasPrefix(err.Error(), `where "qty >": column`) {
		t.Errorf("compile error: %v", err)
	}
	if f.Source() != `qty > 1 && _headers["h"] == "x" && _key == "k"` {
		t.Errorf("source %q", f.Source())
	}
}
