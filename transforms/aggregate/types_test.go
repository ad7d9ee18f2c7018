package aggregate

import (
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// The row types say what rows hold after canonical: numbers as they are,
// times and bytes as text; only count and sum are never null.
func TestResultType(t *testing.T) {
	k := func(kind record.Kind) record.Type { return record.Type{Kind: kind} }
	obj := record.Type{Kind: record.Object, Fields: []record.Field{{Name: "at", Type: k(record.Time)}, {Name: "n", Type: k(record.Int)}}}
	for _, tt := range []struct {
		f    fn
		in   record.Type
		want string
	}{
		{fnCount, record.Type{}, "int"},
		{fnSum, k(record.Int), "int"},
		{fnSum, k(record.Float), "float"},
		{fnSum, k(record.Text), "any"},
		{fnAvg, k(record.Int), "float?"},
		{fnMin, k(record.Text), "string?"},
		{fnMax, k(record.Time), "string?"},
		{fnFirst, k(record.Binary), "string?"},
		{fnLast, obj, "{at: string, n: int}?"},
		{fnLast, record.Type{}, "any"},
		{fnCollect, k(record.Float), "[float]?"},
		{fnCollect, record.Type{}, "[any]?"},
	} {
		if got := resultType(tt.f, tt.in).String(); got != tt.want {
			t.Errorf("%s of %s: %s, want %s", tt.f, tt.in, got, tt.want)
		}
	}
}
