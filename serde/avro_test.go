package serde

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/conveyor-dev/conveyor/record"
)

func readAvro(t testing.TB, path string) *avroSchema {
	t.Helper()
	s, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*avroSchema)
}

func parseAvroT(t testing.TB, text string) *avroSchema {
	t.Helper()
	s, err := parseAvro(text)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*avroSchema)
}

// allTypesValue is a value of testdata/all_types.avsc as Decode yields it.
func allTypesValue() map[string]any {
	return map[string]any{
		"n":       nil,
		"b":       true,
		"i":       int64(-7),
		"l":       int64(1) << 40,
		"f":       1.5,
		"d":       2.25,
		"s":       "héllo",
		"by":      []byte{0, 1, 2},
		"fx":      []byte{1, 2, 3, 4},
		"e":       "GREEN",
		"a":       []any{int64(1), int64(-2)},
		"m":       map[string]any{"k": "v", "k2": "w"},
		"opt":     "x",
		"u":       int64(5),
		"rec":     map[string]any{"x": int64(9)},
		"recs":    []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(2)}},
		"tsms":    time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC),
		"tsus":    time.Date(2024, 1, 2, 3, 4, 5, 6007e3, time.UTC),
		"ltsms":   time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC),
		"ltsus":   time.Date(1969, 12, 31, 23, 59, 59, 999999e3, time.UTC),
		"date":    time.Date(1960, 3, 4, 0, 0, 0, 0, time.UTC),
		"tms":     int64(3_600_000),
		"tus":     int64(3_600_000_001),
		"dec":     12345.67,
		"decfx":   -1.2345,
		"id":      "123e4567-e89b-12d3-a456-426614174000",
		"dur":     []byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0},
		"withdef": int64(42),
	}
}

func TestAvroRoundTripAllTypes(t *testing.T) {
	s := readAvro(t, "testdata/all_types.avsc")
	want := allTypesValue()
	b, err := s.encode(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
	}
	// Only the normalised Go types.
	for k, v := range got.(map[string]any) {
		switch v.(type) {
		case nil, bool, int64, float64, string, []byte, time.Time, []any, map[string]any:
		default:
			t.Errorf("field %s: decoded as %T", k, v)
		}
	}
}

// hambaAllTypes is allTypesValue in hamba/avro's own Go types.
func hambaAllTypes() map[string]any {
	ns := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	return map[string]any{
		"n":       nil,
		"b":       true,
		"i":       -7,
		"l":       int64(1) << 40,
		"f":       float32(1.5),
		"d":       2.25,
		"s":       "héllo",
		"by":      []byte{0, 1, 2},
		"fx":      [4]byte{1, 2, 3, 4},
		"e":       "GREEN",
		"a":       []any{int64(1), int64(-2)},
		"m":       map[string]any{"k": "v", "k2": "w"},
		"opt":     "x",
		"u":       int64(5),
		"rec":     map[string]any{"x": int64(9)},
		"recs":    []any{map[string]any{"x": int64(1)}, map[string]any{"x": int64(2)}},
		"tsms":    ns("2024-01-02T03:04:05.006Z"),
		"tsus":    ns("2024-01-02T03:04:05.006007Z"),
		"ltsms":   ns("2024-01-02T03:04:05.006Z"),
		"ltsus":   ns("1969-12-31T23:59:59.999999Z"),
		"date":    ns("1960-03-04T00:00:00Z"),
		"tms":     time.Hour,
		"tus":     time.Hour + time.Microsecond,
		"dec":     big.NewRat(1234567, 100),
		"decfx":   big.NewRat(-12345, 10000),
		"id":      "123e4567-e89b-12d3-a456-426614174000",
		"dur":     avro.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3},
		"withdef": int64(42),
	}
}

// The bytes agree with hamba/avro's, both ways: the binary encoding is
// the spec's, not only our own round trip.
func TestAvroMatchesHamba(t *testing.T) {
	text, err := os.ReadFile("testdata/all_types.avsc")
	if err != nil {
		t.Fatal(err)
	}
	hs := avro.MustParse(string(text))
	s := readAvro(t, "testdata/all_types.avsc")

	theirs, err := avro.Marshal(hs, hambaAllTypes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decode(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if want := allTypesValue(); !reflect.DeepEqual(got, want) {
		t.Errorf("decoding hamba's bytes:\n got %#v\nwant %#v", got, want)
	}

	ours, err := s.encode(allTypesValue())
	if err != nil {
		t.Fatal(err)
	}
	// hamba writes blocks with byte sizes (a negative count), we as Java
	// does: the bytes differ, the values do not.
	var fromOurs, fromTheirs map[string]any
	if err := avro.Unmarshal(hs, ours, &fromOurs); err != nil {
		t.Fatalf("hamba cannot read our bytes: %v", err)
	}
	if err := avro.Unmarshal(hs, theirs, &fromTheirs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromOurs, fromTheirs) {
		t.Errorf("hamba reads ours as\n%#v\nand its own as\n%#v", fromOurs, fromTheirs)
	}
}

func TestAvroDecodeNormalises(t *testing.T) {
	cases := []struct {
		name   string
		schema string
		value  any // in hamba's types
		want   any
	}{
		{"int", `"int"`, 5, int64(5)},
		{"float", `"float"`, float32(1.1), float64(float32(1.1))},
		{"nullable null", `["null","long"]`, nil, nil},
		{"nullable value", `["null","long"]`, int64(3), int64(3)},
		{"value first", `["long","null"]`, int64(3), int64(3)},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, "B", "B"},
		{"fixed", `{"type":"fixed","name":"F","size":2}`, [2]byte{9, 8}, []byte{9, 8}},
		{"date", `{"type":"int","logicalType":"date"}`, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"decimal negative", `{"type":"bytes","logicalType":"decimal","precision":5,"scale":3}`, big.NewRat(-1, 1000), -0.001},
		{"decimal big", `{"type":"bytes","logicalType":"decimal","precision":38,"scale":2}`, new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil), big.NewInt(1)), 1e30},
		{"decimal zero scale", `{"type":"bytes","logicalType":"decimal","precision":4}`, big.NewRat(1234, 1), 1234.0},
		{"map", `{"type":"map","values":"int"}`, map[string]any{"a": 1}, map[string]any{"a": int64(1)}},
		{"empty array", `{"type":"array","items":"int"}`, []any{}, []any{}},
		{"empty string", `"string"`, "", ""},
		{"empty bytes", `"bytes"`, []byte{}, []byte{}},
		{"null", `"null"`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := avro.Marshal(avro.MustParse(c.schema), c.value)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseAvroT(t, c.schema).decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, c.want, c.want)
			}
		})
	}
}

// Encoding takes the looser values the brief lists and writes what the
// strict value would.
func TestAvroEncodeTolerant(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	cases := []struct {
		name   string
		schema string
		loose  any
		strict any // what decoding yields
	}{
		{"int64 into int", `"int"`, int64(7), int64(7)},
		{"go int into long", `"long"`, 7, int64(7)},
		{"integral float into long", `"long"`, 3.0, int64(3)},
		{"int64 into double", `"double"`, int64(2), 2.0},
		{"int64 into float", `"float"`, int64(2), 2.0},
		{"rfc3339 into timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, "2024-05-06T09:08:09.123456+02:00", ts},
		{"zoned time into timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, ts.In(time.FixedZone("x", 3600)), ts.Truncate(time.Millisecond)},
		{"epoch millis into timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, ts.UnixMilli(), ts.Truncate(time.Millisecond)},
		{"wall clock into local-timestamp", `{"type":"long","logicalType":"local-timestamp-micros"}`, time.Date(2024, 5, 6, 9, 8, 9, 123456000, time.FixedZone("x", 7200)), time.Date(2024, 5, 6, 9, 8, 9, 123456000, time.UTC)},
		{"string into date", `{"type":"int","logicalType":"date"}`, "2024-05-06", time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"time into date", `{"type":"int","logicalType":"date"}`, ts, time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"string into bytes", `"bytes"`, "ab", []byte("ab")},
		{"bytes into string", `"string"`, []byte("ab"), "ab"},
		{"string into fixed", `{"type":"fixed","name":"F","size":2}`, "ab", []byte("ab")},
		{"nil into nullable", `["null","string"]`, nil, nil},
		{"decimal string keeps digits", `{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}`, "123456789012345678.91", 123456789012345678.91},
		{"decimal rounds half away", `{"type":"bytes","logicalType":"decimal","precision":5,"scale":1}`, -2.25, -2.3},
		{"int into decimal", `{"type":"fixed","name":"D","size":4,"logicalType":"decimal","precision":9,"scale":2}`, int64(-5), -5.0},
		{"typed slice into array", `{"type":"array","items":"string"}`, []string{"a", "b"}, []any{"a", "b"}},
		{"typed map into map", `{"type":"map","values":"long"}`, map[string]int64{"a": 1}, map[string]any{"a": int64(1)}},
		{"int64 into union picks int", `["string","int","long"]`, int64(1), int64(1)},
		{"json number into long", `"long"`, json.Number("12"), int64(12)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := parseAvroT(t, c.schema)
			b, err := s.encode(c.loose)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.strict) {
				t.Errorf("got %#v, want %#v", got, c.strict)
			}
		})
	}
}

func TestAvroMissingFieldTakesDefault(t *testing.T) {
	s := parseAvroT(t, `{"type":"record","name":"R","fields":[
		{"name":"id","type":"long"},
		{"name":"n","type":"int","default":3},
		{"name":"s","type":"string","default":"x"},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]},"default":"B"},
		{"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"\u0001\u0002"},
		{"name":"tags","type":{"type":"array","items":"string"},"default":["a"]},
		{"name":"opt","type":["null","string"],"default":null},
		{"name":"opt2","type":["string","null"],"default":"d"},
		{"name":"nodefault","type":["null","long"]},
		{"name":"sub","type":{"type":"record","name":"S","fields":[{"name":"x","type":"long","default":1}]},"default":{}},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"},"default":1000}
	]}`)
	b, err := s.encode(map[string]any{"id": int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": int64(1), "n": int64(3), "s": "x", "e": "B", "fx": []byte{1, 2},
		"tags": []any{"a"}, "opt": nil, "opt2": "d", "nodefault": nil,
		"sub": map[string]any{"x": int64(1)}, "ts": time.UnixMilli(1000).UTC(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestAvroEncodeErrorsNameTheField(t *testing.T) {
	s := readAvro(t, "testdata/order.avsc")
	good := func() map[string]any {
		return map[string]any{
			"id": int64(1), "customer": "ann", "status": "NEW", "total": 9.5,
			"items": []any{
				map[string]any{"sku": "a", "qty": int64(1)},
				map[string]any{"sku": "b", "qty": int64(2)},
				map[string]any{"sku": "c", "qty": int64(3)},
			},
			"created": time.Now(),
		}
	}
	if _, err := s.encode(good()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(m map[string]any)
		field string
		msg   string
	}{
		{"type mismatch deep", func(m map[string]any) {
			m["items"].([]any)[2].(map[string]any)["qty"] = "x"
		}, "items[2].qty", `want long, got string "x"`},
		{"missing required", func(m map[string]any) { delete(m, "customer") }, "customer", "missing"},
		{"not in schema", func(m map[string]any) { m["extra"] = 1 }, "extra", "not in the schema"},
		{"not in nested schema", func(m map[string]any) {
			m["items"].([]any)[0].(map[string]any)["color"] = "red"
		}, "items[0].color", "not in the schema"},
		{"bad enum", func(m map[string]any) { m["status"] = "LOST" }, "status", `want enum shop.Status (one of [NEW PAID SHIPPED]), got string "LOST"`},
		{"null into required", func(m map[string]any) { m["total"] = nil }, "total", "want double, got null"},
		{"bad timestamp", func(m map[string]any) { m["created"] = "yesterday" }, "created", "not RFC 3339"},
		{"not a list", func(m map[string]any) { m["items"] = "none" }, "items", `want array, got string "none"`},
		{"nullable gets wrong type", func(m map[string]any) { m["note"] = true }, "note", "want string, got bool true"},
		{"fractional into long", func(m map[string]any) { m["id"] = 1.5 }, "id", "want long, got float 1.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := good()
			c.edit(v)
			_, err := s.encode(v)
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a RecordError", err)
			}
			if re.Field != c.field || !strings.Contains(re.Err.Error(), c.msg) {
				t.Errorf("got field %q error %q, want field %q error containing %q", re.Field, re.Err, c.field, c.msg)
			}
		})
	}
}

func TestAvroEncodeRangeErrors(t *testing.T) {
	cases := []struct{ schema, want string }{
		{`"int"`, "out of the int range"},
		{`{"type":"bytes","logicalType":"decimal","precision":3,"scale":1}`, "more than the precision"},
		{`{"type":"fixed","name":"D","size":1,"logicalType":"decimal","precision":2,"scale":0}`, "more than the precision"},
	}
	for _, c := range cases {
		_, err := parseAvroT(t, c.schema).encode(int64(1) << 40)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.schema, err, c.want)
		}
	}
	_, err := parseAvroT(t, `{"type":"fixed","name":"F","size":2}`).encode([]byte{1})
	if err == nil || !strings.Contains(err.Error(), "got 1 bytes") {
		t.Errorf("short fixed: got %v", err)
	}
}

func TestAvroUnionPicksTheBranch(t *testing.T) {
	s := parseAvroT(t, `["null","int","long","double","string",{"type":"enum","name":"E","symbols":["A"]},
		{"type":"record","name":"P","fields":[{"name":"x","type":"long"}]},
		{"type":"record","name":"Q","fields":[{"name":"x","type":"long"},{"name":"y","type":"long","default":0}]},
		{"type":"map","values":"long"},{"type":"array","items":"long"},
		{"type":"long","logicalType":"timestamp-micros"},"boolean","bytes"]`)
	cases := []struct {
		v      any
		branch int64
	}{
		{nil, 0},
		{int64(1), 1},
		{int64(1) << 40, 2},
		{1.5, 3},
		{"A", 4}, // string before the enum: the first that holds it
		{map[string]any{"x": int64(1)}, 6},
		{map[string]any{"x": int64(1), "y": int64(2)}, 7},
		{map[string]any{"z": int64(1)}, 8}, // records do not take z; the map does
		{[]any{int64(1)}, 9},
		{time.UnixMicro(5), 10},
		{true, 11},
		{[]byte{1}, 12},
		{3.0, 3},
	}
	for _, c := range cases {
		b, err := s.encode(c.v)
		if err != nil {
			t.Errorf("%#v: %v", c.v, err)
			continue
		}
		d := avroDecoder{b: b}
		if i, _ := d.long(); i != c.branch {
			t.Errorf("%#v: branch %d, want %d", c.v, i, c.branch)
		}
		got, err := s.decode(b)
		if err != nil || !reflect.DeepEqual(got, normaliseTime(c.v)) {
			t.Errorf("%#v: decoded %#v, %v", c.v, got, err)
		}
	}
	if _, err := s.encode(struct{}{}); err == nil || !strings.Contains(err.Error(), "want union [null, int") {
		t.Errorf("no branch: got %v", err)
	}
}

func normaliseTime(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC()
	}
	return v
}

func TestAvroDecodeErrors(t *testing.T) {
	s := readAvro(t, "testdata/order.avsc")
	b, err := s.encode(map[string]any{
		"id": int64(1), "customer": "ann", "status": "PAID", "total": 1.0,
		"items":   []any{map[string]any{"sku": "a", "qty": int64(1)}},
		"created": time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		_, err := s.decode(b[:n])
		var re *RecordError
		if !errors.As(err, &re) {
			t.Fatalf("truncated to %d: got %v, want a RecordError", n, err)
		}
	}
	// A bad enum index in the nested position names the field.
	_, err = parseAvroT(t, `{"type":"record","name":"R","fields":[{"name":"l","type":{"type":"array","items":{"type":"enum","name":"E","symbols":["A"]}}}]}`).
		decode([]byte{4, 0, 4, 0})
	var re *RecordError
	if !errors.As(err, &re) || re.Field != "l[1]" || !strings.Contains(err.Error(), "enum index 2") {
		t.Errorf("bad enum: got %v", err)
	}
	// A claimed length beyond the payload fails before allocating.
	if _, err := parseAvroT(t, `{"type":"array","items":"long"}`).decode([]byte{0xfe, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Error("huge array: no error")
	}
	if _, err := parseAvroT(t, `{"type":"array","items":"null"}`).decode([]byte{0xfe, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Error("huge array of nulls: no error")
	}
	// A record that can only hold itself: the depth limit, not a crash.
	if _, err := parseAvroT(t, `{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}`).decode(nil); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("endless record: got %v", err)
	}
}

func TestAvroRecursiveRecord(t *testing.T) {
	s := parseAvroT(t, `{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"],"default":null}]}`)
	v := map[string]any{"v": int64(1), "next": map[string]any{"v": int64(2), "next": nil}}
	b, err := s.encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decode(b)
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Errorf("got %#v, %v", got, err)
	}
	if typ := s.Type().String(); typ != "{v: int, next: any}" {
		t.Errorf("type %s", typ)
	}
}

func TestAvroText(t *testing.T) {
	a := parseAvroT(t, "{\n  \"type\": \"record\", \"name\": \"R\",\n  \"fields\": [{\"name\": \"ts\", \"type\": {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}, \"default\": 0}]\n}\n")
	want := `{"type":"record","name":"R","fields":[{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}]}`
	if a.Text() != want {
		t.Errorf("Text() = %s\nwant %s", a.Text(), want)
	}
	if _, err := parseAvro("string"); err == nil {
		t.Error("bare word: no error")
	}
	if _, err := parseAvro(`{"type":"record","name":"R","fields":[{"name":"x","type":"Unknown"}]}`); err == nil || !strings.Contains(err.Error(), "Unknown") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestAvroType(t *testing.T) {
	s := readAvro(t, "testdata/all_types.avsc")
	want := "{n: null, b: bool, i: int, l: int, f: float, d: float, s: string, by: bytes, fx: bytes, e: string, " +
		"a: [int], m: map[string], opt: string?, u: any, rec: {x: int}, recs: [{x: int}], " +
		"tsms: timestamp, tsus: timestamp, ltsms: timestamp, ltsus: timestamp, date: timestamp, tms: int, tus: int, " +
		"dec: float, decfx: float, id: string, dur: bytes, withdef: int}"
	if got := s.Type().String(); got != want {
		t.Errorf("Type():\n got %s\nwant %s", got, want)
	}
	if l, _ := s.Type().Field("l"); l.Kind != record.Int {
		t.Errorf("l: %v", l)
	}
	if f := s.Type().Fields[3]; f.Doc != "a long" {
		t.Errorf("doc %q", f.Doc)
	}
	for schema, want := range map[string]string{
		`["int","long"]`:           "int",
		`["null","int","long"]`:    "int?",
		`["null","string","long"]`: "any",
		`["null"]`:                 "null",
		`"string"`:                 "string",
	} {
		if got := parseAvroT(t, schema).Type().String(); got != want {
			t.Errorf("%s: %s, want %s", schema, got, want)
		}
	}
}

func TestAvroFromType(t *testing.T) {
	typ := record.Type{Kind: record.Object, Fields: []record.Field{
		{Name: "id", Type: record.Type{Kind: record.Int}},
		{Name: "price", Type: record.Type{Kind: record.Float}},
		{Name: "name", Type: record.Type{Kind: record.Text, Nullable: true}, Doc: "the name"},
		{Name: "ok", Type: record.Type{Kind: record.Bool}},
		{Name: "raw", Type: record.Type{Kind: record.Binary}},
		{Name: "at", Type: record.Type{Kind: record.Time}},
		{Name: "tags", Type: record.Type{Kind: record.List, Elem: &record.Type{Kind: record.Text}}},
		{Name: "attrs", Type: record.Type{Kind: record.Map, Elem: &record.Type{Kind: record.Int, Nullable: true}}},
		{Name: "addr", Type: record.Type{Kind: record.Object, Nullable: true, Fields: []record.Field{
			{Name: "city", Type: record.Type{Kind: record.Text}},
		}}},
	}}
	s, err := AvroFromType("public.order-lines", typ)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"record","name":"public.order_lines","fields":[` +
		`{"name":"id","type":"long"},{"name":"price","type":"double"},` +
		`{"name":"name","doc":"the name","type":["null","string"],"default":null},` +
		`{"name":"ok","type":"boolean"},{"name":"raw","type":"bytes"},` +
		`{"name":"at","type":{"type":"long","logicalType":"timestamp-micros"}},` +
		`{"name":"tags","type":{"type":"array","items":"string"}},` +
		`{"name":"attrs","type":{"type":"map","values":["null","long"]}},` +
		`{"name":"addr","type":["null",{"type":"record","name":"public.order_lines_addr","fields":[{"name":"city","type":"string"}]}],"default":null}]}`
	if s.Text() != want {
		t.Errorf("Text():\n got %s\nwant %s", s.Text(), want)
	}
	// Its Type is the type given (a nullable object keeps its fields).
	if got, want := s.Type().String(), typ.String(); got != want {
		t.Errorf("Type() %s, want %s", got, want)
	}
	// And it holds values of that type.
	ps := s.(*avroSchema)
	v := map[string]any{"id": int64(1), "price": 2.5, "name": nil, "ok": true, "raw": []byte{1},
		"at": time.UnixMicro(77).UTC(), "tags": []any{"a"}, "attrs": map[string]any{"k": nil},
		"addr": map[string]any{"city": "x"}}
	b, err := ps.encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ps.decode(b); err != nil || !reflect.DeepEqual(got, v) {
		t.Errorf("round trip %#v, %v", got, err)
	}

	for name, want := range map[string]string{"9lives": "_9lives", "a b.c-d": "a_b.c_d", "": "record", "..x": "x"} {
		if got := avroFullName(name); got != want {
			t.Errorf("avroFullName(%q) = %q, want %q", name, got, want)
		}
	}
	if _, err := AvroFromType("t", record.Type{Kind: record.Object, Fields: []record.Field{{Name: "bad-name", Type: record.Type{Kind: record.Int}}}}); err == nil || !strings.Contains(err.Error(), "bad-name") {
		t.Errorf("bad field name: %v", err)
	}
	if _, err := AvroFromType("t", record.Type{Kind: record.Object, Fields: []record.Field{{Name: "x"}}}); err == nil || !strings.Contains(err.Error(), "field x") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := AvroFromType("t", record.Type{Kind: record.Int}); err == nil {
		t.Error("not an object: no error")
	}
}

// Adding a nullable column is a backward-compatible change: the new
// schema reads data written with the old one.
func TestAvroFromTypeNullableColumnIsBackward(t *testing.T) {
	cols := []record.Field{{Name: "id", Type: record.Type{Kind: record.Int}}}
	old, err := AvroFromType("t", record.Type{Kind: record.Object, Fields: cols})
	if err != nil {
		t.Fatal(err)
	}
	cols = append(cols, record.Field{Name: "note", Type: record.Type{Kind: record.Text, Nullable: true}})
	next, err := AvroFromType("t", record.Type{Kind: record.Object, Fields: cols})
	if err != nil {
		t.Fatal(err)
	}
	if err := avro.NewSchemaCompatibility().Compatible(avro.MustParse(next.Text()), avro.MustParse(old.Text())); err != nil {
		t.Errorf("not backward compatible: %v", err)
	}
}

func TestDecimalFloat(t *testing.T) {
	for _, c := range []struct {
		b     []byte
		scale int
		want  float64
	}{
		{nil, 2, 0},
		{[]byte{0x80}, 0, -128},
		{[]byte{0x00, 0x80}, 1, 12.8},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 3, -0.001},
		{[]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, math.MaxInt64},
	} {
		if got := decimalFloat(c.b, c.scale); got != c.want {
			t.Errorf("decimalFloat(%x, %d) = %v, want %v", c.b, c.scale, got, c.want)
		}
	}
	for _, x := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, -32768, math.MaxInt64, math.MinInt64} {
		b := twosComplement(big.NewInt(x), 0)
		if got := decimalFloat(b, 0); got != float64(x) {
			t.Errorf("%d: bytes %x read back as %v", x, b, got)
		}
		if len(b) != minBytes(big.NewInt(x)) {
			t.Errorf("%d: %d bytes", x, len(b))
		}
	}
}
