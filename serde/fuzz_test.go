package serde

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzSchemas are the schemas FuzzAvroDecode reads with, chosen by the
// input's first byte. The last holds decimals, which decode to the nearest
// float64: for it only "never panics" holds, not the round trip.
func fuzzSchemas(t testing.TB) []*avroSchema {
	all, err := os.ReadFile("testdata/all_types.avsc")
	if err != nil {
		t.Fatal(err)
	}
	// all_types without its decimals.
	lossless := strings.NewReplacer(
		`{"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},`, "",
		`{"name": "decfx", "type": {"type": "fixed", "name": "Dec", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},`, "",
	).Replace(string(all))
	if lossless == string(all) {
		t.Fatal("the decimals were not taken out")
	}
	texts := []string{
		lossless,
		`{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]}`,
		`["null","int","long","float","double","string",{"type":"enum","name":"E","symbols":["A","B"]},
		  {"type":"record","name":"P","fields":[{"name":"x","type":"long"}]},
		  {"type":"record","name":"Q","fields":[{"name":"x","type":"long"},{"name":"y","type":"long","default":0}]},
		  {"type":"map","values":["null","string"]},{"type":"array","items":"long"},
		  {"type":"long","logicalType":"timestamp-millis"},{"type":"int","logicalType":"date"},
		  "boolean","bytes",{"type":"fixed","name":"F","size":2}]`,
		`{"type":"array","items":["null",{"type":"array","items":"null"}]}`,
		`{"type":"map","values":{"type":"array","items":["string","long"]}}`,
		`{"type":"record","name":"D","fields":[
		  {"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
		  {"name":"b","type":{"type":"fixed","name":"DF","size":3,"logicalType":"decimal","precision":6,"scale":6}}]}`,
	}
	out := make([]*avroSchema, len(texts))
	for i, text := range texts {
		out[i] = parseAvroT(t, text)
	}
	return out
}

func FuzzAvroDecode(f *testing.F) {
	schemas := fuzzSchemas(f)
	seed := func(i int, v any) {
		b, err := schemas[i].encode(v)
		if err != nil {
			f.Fatalf("seed %d: %v", i, err)
		}
		f.Add(append([]byte{byte(i)}, b...))
	}
	all := allTypesValue()
	delete(all, "dec")
	delete(all, "decfx")
	seed(0, all)
	seed(1, map[string]any{"v": int64(1), "next": map[string]any{"v": int64(2), "next": nil}})
	for _, v := range []any{nil, int64(1), int64(1) << 40, 1.5, "A", "s", map[string]any{"x": int64(1)},
		map[string]any{"k": nil}, []any{int64(3)}, time.UnixMilli(5).UTC(), true, []byte{1, 2, 3}} {
		seed(2, v)
	}
	seed(3, []any{nil, []any{nil, nil}})
	seed(4, map[string]any{"k": []any{"a", int64(2)}})
	seed(5, map[string]any{"a": 12.34, "b": -0.5})
	f.Add([]byte{3, 0xfe, 0xff, 0xff, 0xff, 0x0f})

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		i := int(data[0]) % len(schemas)
		s := schemas[i]
		v, err := s.decode(data[1:])
		if err != nil {
			if _, ok := err.(*RecordError); !ok {
				t.Fatalf("decode error %T %v is not a RecordError", err, err)
			}
			return
		}
		b, err := s.encode(v)
		if i == len(schemas)-1 {
			return // decimals: a decoded value may be beyond the precision
		}
		if err != nil {
			t.Fatalf("schema %d: %#v decoded but does not encode: %v", i, v, err)
		}
		again, err := s.decode(b)
		if err != nil {
			t.Fatalf("schema %d: re-encoded %x does not decode: %v", i, b, err)
		}
		if !sameValue(v, again) {
			t.Fatalf("schema %d: decoded %#v\nre-encoded and decoded %#v", i, v, again)
		}
	})
}

// sameValue is reflect.DeepEqual with NaN equal to NaN.
func sameValue(a, b any) bool { return sameTree(a, b, sameLeaf) }

// sameLeaf compares two values that are not lists or objects: NaN equals
// itself, bytes by content.
func sameLeaf(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return reflect.DeepEqual(a, b)
}

// sameTree compares decoded values: lists element by element, objects key
// by key, everything else with leaf.
func sameTree(a, b any, leaf func(a, b any) bool) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameTree(x[i], y[i], leaf) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameTree(v, w, leaf) {
				return false
			}
		}
		return true
	}
	return leaf(a, b)
}
