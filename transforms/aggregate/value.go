package aggregate

import (
	"fmt"
	"math"
	"time"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
	json "github.com/goccy/go-json"
)

// maxExact is the largest magnitude below which every integral float64 is
// an integer JSON decoding turns into int64 (record.DecodeJSON).
const maxExact = 1 << 53

// canonical returns v as it comes back from the changelog: encoded as JSON
// and decoded with record.DecodeJSON. Values are kept in this form from the
// start, so a restored state holds exactly the values of the uninterrupted
// one and emits the same rows (an int from an expression becomes int64, an
// integral float64 becomes int64, a time becomes its RFC 3339 string).
func canonical(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, string, int64:
		return v, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("%v cannot be stored: JSON has no such number", t)
		}
		if t != math.Trunc(t) {
			return v, nil // the shortest decimal form parses back to t
		}
		if math.Abs(t) < maxExact {
			return int64(t), nil
		}
		if math.Abs(t) >= 1<<63 {
			// Written as JSON digits it would read back as a big integer,
			// which min and max cannot compare: appendJSON writes it with
			// an exponent, which reads back as this float.
			return v, nil
		}
	}
	if i, ok := expression.ExactInt(v); ok {
		return i, nil
	}
	// Lists, objects, times, huge integral floats: the real round trip.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s cannot be stored as JSON: %w", expression.TypeName(v), err)
	}
	return record.DecodeJSON(b)
}

// groupKey formats a by result the way the key step formats keys: text as
// it is, numbers and bools formatted, lists and objects as JSON. Null is the
// group "", as is a record with a null key when there is no by.
func groupKey(v any) ([]byte, error) {
	if v == nil {
		return []byte{}, nil
	}
	return expression.TextBytes(v)
}

// formatMillis writes a window bound: RFC 3339, UTC, milliseconds.
func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// millisTime is a row's timestamp: record timestamps are kept in
// milliseconds, Kafka's resolution.
func millisTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// resultType is the type of f's result over inputs of type in, as rows
// hold it: after the JSON round trip of canonical (see storedType). Only
// count and sum are never null: they are 0 before any input.
func resultType(f fn, in record.Type) record.Type {
	var t record.Type
	switch f {
	case fnCount:
		return record.Type{Kind: record.Int}
	case fnSum:
		// int64 while every input is an integer; an input typed float
		// makes it float64 (or the int64 0 when no input came).
		if in.Kind == record.Int || in.Kind == record.Float {
			return record.Type{Kind: in.Kind}
		}
		return record.Type{}
	case fnAvg:
		t = record.Type{Kind: record.Float}
	case fnMin, fnMax, fnFirst, fnLast:
		t = storedType(in)
	case fnCollect:
		elem := storedType(in)
		t = record.Type{Kind: record.List, Elem: &elem}
	}
	if t.Kind != record.Unknown {
		t.Nullable = true
	}
	return t
}

// storedType is the type of values of type t after canonical: times and
// bytes become text, as JSON writes them. A float that happens to be
// integral comes back as int64, but it stays a number: Float says that.
func storedType(t record.Type) record.Type {
	switch t.Kind {
	case record.Time, record.Binary:
		return record.Type{Kind: record.Text, Nullable: t.Nullable}
	case record.List, record.Map:
		if t.Elem != nil {
			elem := storedType(*t.Elem)
			t.Elem = &elem
		}
	case record.Object:
		fields := make([]record.Field, len(t.Fields))
		for i, f := range t.Fields {
			fields[i] = record.Field{Name: f.Name, Type: storedType(f.Type), Doc: f.Doc}
		}
		t.Fields = fields
	}
	return t
}
