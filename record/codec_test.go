package record

import (
	"encoding/json"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytedance/sonic"
)

// TestSonicNative fails when sonic has silently fallen back to encoding/json
// (its build constraints cover amd64 and arm64 up to a given Go release): the
// codec would still be correct, but slower than the goccy/go-json it replaced.
func TestSonicNative(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("sonic has no native code for " + runtime.GOARCH)
	}
	if sonic.APIKind != sonic.UseSonicJSON {
		t.Fatalf("sonic falls back to encoding/json on %s %s/%s: update github.com/bytedance/sonic", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}

// TestCodecConcurrent runs the codec from many goroutines, for -race.
func TestCodecConcurrent(t *testing.T) {
	in := []byte(`{"id":9007199254740993,"s":"x<y","f":[1.5,2.0],"m":{"b":1,"a":null}}`)
	want := `{"f":[1.5,2],"id":9007199254740993,"m":{"a":null,"b":1},"s":"x\u003cy"}`
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				v, err := DecodeJSON(in)
				if err != nil {
					t.Error(err)
					return
				}
				if b, err := JSON.Encode(v); err != nil || string(b) != want {
					t.Errorf("got %s %v", b, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestDecodeJSONNumbers pins the Go type of every kind of number.
func TestDecodeJSONNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{`0`, int64(0)},
		{`-0`, int64(0)},
		{`-0.0`, int64(0)},
		{`1.5e3`, int64(1500)},
		{`100e-2`, int64(1)},
		{`9007199254740991.0`, int64(9007199254740991)},
		{`9007199254740992.0`, float64(9007199254740992)},
		{`9007199254740993`, int64(9007199254740993)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775808`, json.Number("9223372036854775808")},
		{`-9223372036854775809`, json.Number("-9223372036854775809")},
		{`18446744073709551617`, json.Number("18446744073709551617")},
		{`99999999999999999999`, json.Number("99999999999999999999")},
		{`1e20`, 1e20},
		{`9223372036854775808.0`, float64(9223372036854775808)},
		{`[1e19, 10000000000000000001]`, []any{1e19, json.Number("10000000000000000001")}},
		{`0.1`, 0.1},
		{`-2.5e-7`, -2.5e-7},
		{`1.7976931348623157e308`, math.MaxFloat64},
		{`[9007199254740993, {"a": [1e300, 2.0]}]`, []any{int64(9007199254740993), map[string]any{"a": []any{1e300, int64(2)}}}},
		{`{"id": 18446744073709551617, "n": 2.0, "l": [1.5, 3]}`, map[string]any{"id": json.Number("18446744073709551617"), "n": int64(2), "l": []any{1.5, int64(3)}}},
	} {
		v, err := DecodeJSON([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(v, tc.want) {
			t.Errorf("DecodeJSON(%s) = %#v, %v; want %#v", tc.in, v, err, tc.want)
		}
	}
}

// TestDecodeJSONStrings: strings are taken as they are, and never share
// memory with the input, which the caller may reuse.
func TestDecodeJSONStrings(t *testing.T) {
	in := []byte("{\"a\":\"x\xffy\",\"b\":\"tab\there\",\"c\":\"\\ud800\\u00e9\",\"d\":\"plain\"}")
	v, err := DecodeJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'z'
	}
	want := map[string]any{"a": "x\xffy", "b": "tab\there", "c": "\ufffdé", "d": "plain"}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	b, err := JSON.Encode(v)
	if err != nil || string(b) != `{"a":"x\ufffdy","b":"tab\there","c":"�é","d":"plain"}` {
		t.Fatalf("encode: %s %v", b, err)
	}
}

func TestEncodeJSON(t *testing.T) {
	v := map[string]any{
		"z":    map[string]any{"y": 1, "b": []any{map[string]any{"q": nil, "p": true}}},
		"html": "<a href='x'>&</a>\u2028",
		"t":    time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC),
		"d":    90 * time.Second,
		"raw":  []byte("hi"),
		"f":    []any{0.5, 1e21, 123456789.125, float64(1 << 60), -3},
		"e":    map[string]any{},
		"n":    []any(nil),
	}
	b, err := JSON.Encode(v)
	want := `{"d":90000000000,"e":{},"f":[0.5,1e+21,123456789.125,1152921504606847000,-3],` +
		`"html":"\u003ca href='x'\u003e\u0026\u003c/a\u003e\u2028","n":null,"raw":"aGk=",` +
		`"t":"2026-12-01T10:00:00.000000005Z","z":{"b":[{"p":true,"q":null}],"y":1}}`
	if err != nil || string(b) != want {
		t.Fatalf("got  %s %v\nwant %s", b, err, want)
	}
	if _, err := JSON.Encode(map[string]any{"x": math.NaN()}); err == nil {
		t.Error("NaN must not encode")
	}
}

// TestDecodeJSONErrorText: errors are one line and do not quote the input.
func TestDecodeJSONErrorText(t *testing.T) {
	for _, in := range []string{`{"a":`, `not json`, `{"a":1} {"b":2}`, ``, ` `, `{"secret":"s3cr3t",}`, `[1e400]`, `{"a":1}x`} {
		_, err := DecodeJSON([]byte(in))
		if err == nil {
			t.Errorf("DecodeJSON(%q) succeeded", in)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "decode json: ") || strings.Contains(msg, "\n") || strings.Contains(msg, "s3cr3t") {
			t.Errorf("DecodeJSON(%q): error %q", in, msg)
		}
	}
}

// TestIntegersFallbackNumbers covers the json.Number branch, which only
// sonic's encoding/json fallback reaches.
func TestIntegersFallbackNumbers(t *testing.T) {
	v, _, err := integers(map[string]any{"a": []any{json.Number("9007199254740993"), json.Number("1e3"), json.Number("0.5"), json.Number("99999999999999999999"), json.Number("1e20")}})
	want := map[string]any{"a": []any{int64(9007199254740993), int64(1000), 0.5, json.Number("99999999999999999999"), 1e20}}
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v %v", v, err)
	}
	if _, _, err := integers([]any{json.Number("1e400")}); err == nil {
		t.Error("1e400 must fail")
	}
}
