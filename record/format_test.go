package record

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeJSONKeepsIntegers(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"id": 9007199254740993, "qty": 3, "price": 1.25, "exp": 1e3, "list": [1, 2.5], "nested": {"n": -4}, "s": "x", "b": true, "z": null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": int64(9007199254740993), "qty": int64(3), "price": 1.25, "exp": int64(1000),
		"list": []any{int64(1), 2.5}, "nested": map[string]any{"n": int64(-4)}, "s": "x", "b": true, "z": nil,
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	b, err := JSON.Encode(v)
	if err != nil || string(b) != `{"b":true,"exp":1000,"id":9007199254740993,"list":[1,2.5],"nested":{"n":-4},"price":1.25,"qty":3,"s":"x","z":null}` {
		t.Fatalf("encode: %s %v", b, err)
	}
}

// TestDecodeJSONFastPath: without big integers the fast path decides, with
// the same result as the exact one.
func TestDecodeJSONFastPath(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"qty": 3, "exp": 1e3, "two": 2.0, "price": 1.25, "neg": -9007199254740991, "list": [1, {"n": 2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"qty": int64(3), "exp": int64(1000), "two": int64(2), "price": 1.25, "neg": int64(-9007199254740991),
		"list": []any{int64(1), map[string]any{"n": int64(2)}}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, in := range []string{`{"a":`, `not json`, `{"a":1} {"b":2}`, ``} {
		if _, err := DecodeJSON([]byte(in)); err == nil {
			t.Errorf("DecodeJSON(%q) succeeded", in)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		f       Format
		in      []byte
		want    any
		encoded string
	}{
		{String, []byte("héllo"), "héllo", "héllo"},
		{Bytes, []byte{0, 1, 2}, []byte{0, 1, 2}, "\x00\x01\x02"},
		{JSON, []byte(`"s"`), "s", `"s"`},
	} {
		v, err := tc.f.Decode(tc.in)
		if err != nil || !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%s decode: %#v %v", tc.f, v, err)
		}
		b, err := tc.f.Encode(v)
		if err != nil || string(b) != tc.encoded {
			t.Errorf("%s encode: %q %v", tc.f, b, err)
		}
	}
	for _, f := range []Format{JSON, String, Bytes} {
		if v, err := f.Decode(nil); v != nil || err != nil {
			t.Errorf("%s: a tombstone must decode to nil", f)
		}
		if b, err := f.Encode(nil); b != nil || err != nil {
			t.Errorf("%s: nil must encode to a tombstone", f)
		}
	}
	if _, err := Bytes.Encode(map[string]any{}); err == nil {
		t.Error("bytes format must refuse an object")
	}
}

func TestHeaders(t *testing.T) {
	r := &Record{Headers: []Header{{"a", []byte("1")}, {"b", []byte("2")}, {"a", []byte("3")}}}
	if v, ok := r.Header("a"); !ok || string(v) != "3" {
		t.Errorf("Header(a) = %q", v)
	}
	r.SetHeader("a", []byte("4"))
	if len(r.Headers) != 2 || string(r.Headers[1].Value) != "4" {
		t.Errorf("SetHeader: %+v", r.Headers)
	}
	r.DeleteHeader("b")
	if _, ok := r.Header("b"); ok || len(r.Headers) != 1 {
		t.Errorf("DeleteHeader: %+v", r.Headers)
	}
}

// TestDecodeJSONUnterminatedString: a top-level string without its closing
// quote is an error at every length (sonic 1.15 took one at 33 bytes and
// dropped its last byte), and strings ending in escapes still decode.
func TestDecodeJSONUnterminatedString(t *testing.T) {
	for n := 0; n < 80; n++ {
		in := []byte(`"` + strings.Repeat("0", n) + "Ա")
		if v, err := DecodeJSON(in); err == nil {
			t.Fatalf("%d bytes %q decoded to %q, want an error", len(in), in, v)
		}
	}
	for in, want := range map[string]string{`"a\\"`: `a\`, `"a\""`: `a"`, ` "x" `: "x", `"\\\\"`: `\\`} {
		if v, err := DecodeJSON([]byte(in)); err != nil || v != want {
			t.Errorf("%s: %q, %v; want %q", in, v, err, want)
		}
	}
	if _, err := DecodeJSON([]byte(`"a\"`)); err == nil {
		t.Error(`"a\" decoded: its last quote is escaped`)
	}
}
