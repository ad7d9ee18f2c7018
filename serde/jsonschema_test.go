package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/conveyor-dev/conveyor/record"
)

func readTestSchema(t testing.TB, f Format, name string) payloadSchema {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parse(f, string(b))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return s
}

func mustJSONSchema(t testing.TB, text string) payloadSchema {
	t.Helper()
	s, err := parseJSONSchema(text)
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	return s
}

// recordError asserts err is a *RecordError and returns it.
func recordError(t *testing.T, err error) *RecordError {
	t.Helper()
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("got %T %v, want a *RecordError", err, err)
	}
	return re
}

// jsonOrderValue is a record that matches jsonschema_order.json, with values of
// every kind the encoder takes.
func jsonOrderValue() map[string]any {
	return map[string]any{
		"id":       int64(42),
		"customer": map[string]any{"id": int64(7), "email": "a@example.com"},
		"items": []any{
			map[string]any{"sku": "A-1", "qty": int64(2)},
			map[string]any{"sku": "B-2", "qty": int64(1)},
		},
		"placed_at": time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC),
		"total":     12.5,
		"paid":      true,
		"note":      nil,
		"counts":    map[string]any{"a": int64(1)},
		"labels":    map[string]any{"raw": []byte("hi")},
	}
}

func TestJSONSchemaText(t *testing.T) {
	s := mustJSONSchema(t, "{\n  \"type\": \"object\",\n  \"properties\": {\"b\": {\"type\": \"string\"}, \"a\": {}}\n}\n")
	if got, want := s.Text(), `{"type":"object","properties":{"b":{"type":"string"},"a":{}}}`; got != want {
		t.Errorf("Text() = %s, want %s", got, want)
	}
	if s.Format() != JSONSchema {
		t.Errorf("Format() = %s", s.Format())
	}
}

func TestJSONSchemaParseErrors(t *testing.T) {
	for name, text := range map[string]string{
		"not json":        `{"type": `,
		"bad keyword":     `{"type": 5}`,
		"external ref":    `{"$ref": "other.json"}`,
		"remote ref":      `{"$ref": "https://example.com/s.json"}`,
		"missing def":     `{"$ref": "#/$defs/nope"}`,
		"trailing tokens": `{} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseJSONSchema(text); err == nil {
				t.Errorf("parse %s: no error", text)
			}
		})
	}
}

func TestJSONSchemaType(t *testing.T) {
	s := readTestSchema(t, JSONSchema, "jsonschema_order.json")
	typ := s.Type()
	want := "{id: int, customer: {id: int, email: string?, ...}, items: [{sku: string, qty: int}], " +
		"placed_at: string, total: float, paid: bool, note: string?, counts: map[int]?, labels: map[any]?, " +
		"coupon: {code: string}?, extra: any, ...}"
	if got := typ.String(); got != want {
		t.Errorf("Type() =\n%s\nwant\n%s", got, want)
	}
	if id, _ := typ.Field("id"); id.Kind != record.Int {
		t.Errorf("id: %v", id)
	}
	if typ.Fields[0].Doc != "The order's id." {
		t.Errorf("id doc = %q", typ.Fields[0].Doc)
	}
	for text, want := range map[string]string{
		`{"type": "integer"}`:                    "int",
		`{"type": ["integer", "number"]}`:        "float",
		`{"type": ["integer", "string"]}`:        "any",
		`{"type": "null"}`:                       "null",
		`{"type": ["null", "boolean"]}`:          "bool?",
		`{"type": "array"}`:                      "[any]",
		`{"type": "array", "prefixItems": [{}]}`: "[any]",
		`{"$schema": "http://json-schema.org/draft-07/schema#", "type": "array", "items": [{"type": "string"}]}`: "[any]",
		`{"type": "object", "additionalProperties": false}`:                                                      "{}",
		`{"properties": {"a": {"type": "string"}}, "required": ["a"]}`:                                           "{a: string, ...}",
		`{"allOf": [{"type": "string"}]}`:                                                                        "string",
		`{"allOf": [{"type": "string"}, {"minLength": 1}]}`:                                                      "any",
		`{"anyOf": [{"type": "string"}, {"type": "null"}]}`:                                                      "string?",
		`{"not": {"type": "string"}}`:                                                                            "any",
		`true`:                                                                                                   "any",
		// A recursive schema: the reference back to itself is any.
		`{"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}, "additionalProperties": false}`: "{kids: [{kids: [any]?}]?}",
		`{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"}`:             "{next: any, ...}",
	} {
		got := mustJSONSchema(t, text).Type().String()
		if got != want {
			t.Errorf("Type() of %s = %s, want %s", text, got, want)
		}
	}
}

func TestJSONSchemaRoundTrip(t *testing.T) {
	s := readTestSchema(t, JSONSchema, "jsonschema_order.json")
	v := jsonOrderValue()
	b, err := s.encode(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := s.decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	// Times and bytes come back as JSON writes them: RFC 3339 and base64.
	want := jsonOrderValue()
	want["placed_at"] = "2024-05-06T07:08:09.123Z"
	want["labels"] = map[string]any{"raw": "aGk="}
	if !reflect.DeepEqual(got, any(want)) {
		t.Errorf("decode(encode(v)) =\n%#v\nwant\n%#v", got, want)
	}
	// The encoder's input is not modified by the conversion for validation.
	if _, ok := v["placed_at"].(time.Time); !ok {
		t.Errorf("encode changed its input: placed_at is %T", v["placed_at"])
	}
	// Every kind on its own.
	for _, c := range []struct {
		schema string
		in     any
		want   any
	}{
		{`{"type": "integer"}`, int64(math.MaxInt64), int64(math.MaxInt64)},
		{`{"type": "integer"}`, int64(math.MinInt64), int64(math.MinInt64)},
		{`{"type": "integer"}`, json.Number("18446744073709551616"), json.Number("18446744073709551616")},
		{`{"type": "number"}`, 0.25, 0.25},
		{`{"type": "number"}`, int64(3), int64(3)},
		{`{"type": "string"}`, "héllo \"x\"", "héllo \"x\""},
		{`{"type": "string", "format": "date-time"}`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), "2024-01-02T03:04:05+01:00"},
		{`{"type": "string", "contentEncoding": "base64"}`, []byte{0, 1, 255}, "AAH/"},
		{`{"type": "boolean"}`, false, false},
		{`{"type": "null"}`, nil, nil},
		{`{"type": "array", "items": {"type": "integer"}}`, []any{int64(1), int64(2)}, []any{int64(1), int64(2)}},
		{`{"type": "array"}`, []any{}, []any{}},
		{`{"type": "object"}`, map[string]any{}, map[string]any{}},
		// Go values beyond ours are validated as the JSON they write.
		{`{"type": "object", "additionalProperties": {"type": "string"}}`, map[string]string{"a": "b"}, map[string]any{"a": "b"}},
	} {
		s := mustJSONSchema(t, c.schema)
		b, err := s.encode(c.in)
		if err != nil {
			t.Errorf("%s: encode %#v: %v", c.schema, c.in, err)
			continue
		}
		got, err := s.decode(b)
		if err != nil {
			t.Errorf("%s: decode %s: %v", c.schema, b, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %#v came back as %#v, want %#v", c.schema, c.in, got, c.want)
		}
	}
}

func TestJSONSchemaEncodeErrors(t *testing.T) {
	s := readTestSchema(t, JSONSchema, "jsonschema_order.json")
	for _, c := range []struct {
		name  string
		edit  func(v map[string]any)
		field string
		msg   string
	}{
		{"wrong type in a list element", func(v map[string]any) {
			v["items"] = []any{
				map[string]any{"sku": "A", "qty": int64(1)},
				map[string]any{"sku": "B", "qty": int64(1)},
				map[string]any{"sku": "C", "qty": "three"},
			}
		}, "items[2].qty", "got string, want integer"},
		{"int64 below the minimum", func(v map[string]any) {
			v["items"].([]any)[1].(map[string]any)["qty"] = int64(0)
		}, "items[1].qty", "minimum"},
		{"float for an integer", func(v map[string]any) { v["id"] = 1.5 }, "id", "want integer"},
		{"missing required field", func(v map[string]any) { delete(v["customer"].(map[string]any), "id") }, "customer.id", "missing"},
		{"field of a closed object", func(v map[string]any) {
			v["items"].([]any)[0].(map[string]any)["colour"] = "red"
		}, "items[0].colour", "allows no other fields"},
		{"time for an integer", func(v map[string]any) { v["total"] = time.Unix(0, 0) }, "total", "got string, want number"},
		{"null for a required field", func(v map[string]any) { v["paid"] = nil }, "paid", "got null, want boolean"},
		{"NaN", func(v map[string]any) { v["counts"] = map[string]any{"x": math.NaN()} }, "counts.x", "no JSON form"},
		{"time beyond year 9999", func(v map[string]any) {
			v["labels"] = map[string]any{"t": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
		}, "labels.t", "no RFC 3339 form"},
		{"a number key of an object", func(v map[string]any) { v["counts"] = map[string]any{"2": "x"} }, "counts.2", "want integer"},
		{"not an object", func(v map[string]any) { v["customer"] = []any{int64(1)} }, "customer", "want object"},
		{"no alternative of a oneOf", func(v map[string]any) { v["coupon"] = map[string]any{} }, "coupon",
			"none of the schema's oneOf alternatives (the first: field coupon.code: required by the schema but missing)"},
		{"no alternative of an anyOf", func(v map[string]any) { v["extra"] = true }, "extra", "none of the schema's anyOf alternatives"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := jsonOrderValue()
			c.edit(v)
			_, err := s.encode(v)
			if err == nil {
				t.Fatal("no error")
			}
			re := recordError(t, err)
			if re.Field != c.field || !strings.Contains(re.Err.Error(), c.msg) {
				t.Errorf("got field %q, error %q; want field %q, error containing %q", re.Field, re.Err, c.field, c.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestJSONSchemaErrorIsStable: with several fields at fault, the error
// names the same one every time, though the validator visits properties
// in map order.
func TestJSONSchemaErrorIsStable(t *testing.T) {
	s := readTestSchema(t, JSONSchema, "jsonschema_order.json")
	v := jsonOrderValue()
	v["id"] = "x"
	v["paid"] = "x"
	v["total"] = "x"
	v["note"] = int64(1)
	var first string
	for i := range 30 {
		_, err := s.encode(v)
		re := recordError(t, err)
		if i == 0 {
			first = re.Error()
			if re.Field != "id" || !strings.Contains(first, "(and 3 more problems)") {
				t.Errorf("error %q: want field id and 3 more problems", first)
			}
		} else if re.Error() != first {
			t.Fatalf("error changed from %q to %q", first, re.Error())
		}
	}
}

// TestJSONSchemaDecodeDoesNotValidate: the reader trusts the writer, which
// validated against the same schema id.
func TestJSONSchemaDecodeDoesNotValidate(t *testing.T) {
	s := mustJSONSchema(t, `{"type": "integer"}`)
	got, err := s.decode([]byte(`"not an integer"`))
	if err != nil || got != "not an integer" {
		t.Errorf("decode = %#v, %v", got, err)
	}
	_, err = s.decode([]byte(`{"a": `))
	recordError(t, err)
	_, err = s.decode(nil)
	recordError(t, err)
}

var jsonSchemaFuzzSchemas = []string{
	`{}`,
	`{"type": "object", "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["id"]}`,
}

// FuzzJSONSchemaDecode: decode never panics; a document it reads that the
// schema admits encodes to bytes that decode to the same value, and the
// empty schema admits every document.
func FuzzJSONSchemaDecode(f *testing.F) {
	for _, s := range []string{
		`{"id": 1, "tags": ["a", "b"]}`, `{"id": 9223372036854775808}`, `[1, 2.5, null, true, "x"]`,
		`{"id": "x"}`, `"\u00e9\ud83d\ude00"`, `1e400`, `{"a": {"b": [{}]}}`, `-0.0`, `{`,
	} {
		f.Add([]byte(s))
	}
	schemas := make([]payloadSchema, len(jsonSchemaFuzzSchemas))
	for i, text := range jsonSchemaFuzzSchemas {
		schemas[i] = mustJSONSchema(f, text)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for i, s := range schemas {
			v, err := s.decode(in)
			if err != nil {
				recordError(t, err)
				continue
			}
			out, err := s.encode(v)
			if err != nil {
				recordError(t, err)
				if i == 0 {
					t.Fatalf("the empty schema refused %q, read as %#v: %v", in, v, err)
				}
				continue
			}
			if !validStrings(v) {
				// Invalid UTF-8 is read as is and written as U+FFFD: the
				// second reading differs by design (see record.DecodeJSON).
				// Valid input can read so too: sonic v1.15.5 takes some
				// unterminated strings, their last byte dropped (corpus
				// entry 9e92ce0741b8e75a).
				continue
			}
			again, err := s.decode(out)
			if err != nil {
				t.Fatalf("decode of encoded %q: %v", out, err)
			}
			if !sameJSONValue(v, again) {
				t.Fatalf("%q read as %#v, written as %q, read back as %#v", in, v, out, again)
			}
			if out2, err := s.encode(again); err != nil || !bytes.Equal(out, out2) {
				t.Fatalf("%q written as %q, then as %q (%v)", in, out, out2, err)
			}
		}
	})
}

// validStrings reports whether every string in a decoded document, keys
// too, is valid UTF-8.
func validStrings(v any) bool {
	switch t := v.(type) {
	case string:
		return utf8.ValidString(t)
	case map[string]any:
		for k, e := range t {
			if !utf8.ValidString(k) || !validStrings(e) {
				return false
			}
		}
	case []any:
		for _, e := range t {
			if !validStrings(e) {
				return false
			}
		}
	}
	return true
}

// sameJSONValue compares decoded documents, numbers by value: 1e20 is
// read as a float64 but written as 100000000000000000000, which reads
// back as a json.Number (see record.DecodeJSON); integers must be exact,
// and a float64 the same float64.
func sameJSONValue(a, b any) bool { return sameTree(a, b, sameJSONLeaf) }

func sameJSONLeaf(a, b any) bool {
	switch a.(type) {
	case int64, float64, json.Number:
		_, af := a.(float64)
		_, bf := b.(float64)
		if af || bf {
			// A float64 comes back as the same float64, maybe written
			// as integer digits (as encoding/json writes 1e20).
			p, q := jsonRat(a), jsonRat(b)
			if p == nil || q == nil {
				return false
			}
			pf, _ := p.Float64()
			qf, _ := q.Float64()
			return pf == qf
		}
		p, q := jsonRat(a), jsonRat(b)
		return p != nil && q != nil && p.Cmp(q) == 0
	}
	return reflect.DeepEqual(a, b)
}

func jsonRat(v any) *big.Rat {
	switch t := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(t)
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil
		}
		return new(big.Rat).SetFloat64(t)
	case json.Number:
		r, ok := new(big.Rat).SetString(string(t))
		if !ok {
			return nil
		}
		return r
	}
	return nil
}

func BenchmarkJSONSchema(b *testing.B) {
	s := mustJSONSchema(b, `{
		"type": "object",
		"properties": {
			"id": {"type": "integer"}, "customer": {"type": "string"},
			"total": {"type": "number"}, "paid": {"type": "boolean"},
			"items": {"type": "array", "items": {"type": "object", "properties": {
				"sku": {"type": "string"}, "qty": {"type": "integer"}}, "required": ["sku", "qty"]}}
		},
		"required": ["id", "customer", "total", "paid", "items"]
	}`)
	payload := []byte(`{"customer":"c-000123","id":123456,"items":[{"qty":2,"sku":"A-1"},{"qty":1,"sku":"B-22"}],"paid":true,"total":42.5}`)
	v, err := s.decode(payload)
	if err != nil {
		b.Fatal(err)
	}
	benchPayload(b, s, payload, v)
}
