package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"testing"
)

// roundTripSeeds are documents whose numbers must come back as written:
// integers of any size exactly, other numbers as the same float64.
var roundTripSeeds = []string{
	`{"id": 18446744073709551617, "touched": true}`,
	`{"id": 9223372036854775807, "min": -9223372036854775808}`,
	`{"id": 9223372036854775808, "neg": -9223372036854775809}`,
	`[123456789012345678901234567890123456789, -0, 0, 1, -1]`,
	`{"a": [1e400000000000000000000000000000000000000000]}`,
	`{"f": [0.1, 1.5e300, 1e20, 2.0, 1e-7, -0.0, 12345678901234567890.5]}`,
	`{"nested": {"l": [{"x": 100000000000000000000}, "s", null, false]}}`,
	`"plain string"`,
	`{"bad utf8": "a\xffb", "esc": "\u001b[2J\u2028"}`,
	`100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000`,
}

// FuzzJSONRoundTrip decodes a document with DecodeJSON, encodes it with
// JSON.Encode and compares the result with encoding/json's reading of the
// input (UseNumber, which keeps every literal): integer literals must come
// back with the same value, digit for digit; other numbers as the same
// float64; strings, objects and lists equal. go test runs the seeds;
// go test -fuzz FuzzJSONRoundTrip ./record explores.
func FuzzJSONRoundTrip(f *testing.F) {
	for _, s := range roundTripSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, err := referenceDecode(in)
		if err != nil {
			return // not JSON: DecodeJSON's errors are tested elsewhere
		}
		v, err := DecodeJSON(in)
		if err != nil {
			if hasHugeFloat(want) {
				return // 1e400: no float64 holds it, a decode error is right
			}
			t.Fatalf("DecodeJSON(%q): %v, encoding/json reads it", in, err)
		}
		out, err := JSON.Encode(v)
		if err != nil {
			t.Fatalf("encode %#v: %v", v, err)
		}
		got, err := referenceDecode(out)
		if err != nil {
			t.Fatalf("output %q is not JSON: %v", out, err)
		}
		if path, ok := sameJSON(want, got, "$"); !ok {
			t.Fatalf("round trip of %q changed %s: output %q", in, path, out)
		}
	})
}

// intLiteral matches a JSON number without fraction or exponent.
var intLiteral = regexp.MustCompile(`^-?[0-9]+$`)

func referenceDecode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// sameJSON compares two encoding/json UseNumber trees with the round-trip
// rules and names the first difference.
func sameJSON(want, got any, path string) (string, bool) {
	switch w := want.(type) {
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return path, false
		}
		if intLiteral.MatchString(string(w)) {
			a, _ := new(big.Int).SetString(string(w), 10)
			b, ok := new(big.Int).SetString(string(g), 10)
			return path, ok && a.Cmp(b) == 0
		}
		a, _ := strconv.ParseFloat(string(w), 64)
		b, err := strconv.ParseFloat(string(g), 64)
		return path, err == nil && a == b
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for k, e := range w {
			if p, ok := sameJSON(e, g[k], path+"."+k); !ok {
				return p, false
			}
		}
		return path, true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i, e := range w {
			if p, ok := sameJSON(e, g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return path, true
	default:
		return path, want == got
	}
}

// hasHugeFloat reports a number literal with a fraction or exponent that
// no float64 holds.
func hasHugeFloat(v any) bool {
	switch t := v.(type) {
	case json.Number:
		_, err := strconv.ParseFloat(string(t), 64)
		return !intLiteral.MatchString(string(t)) && err != nil
	case map[string]any:
		for _, e := range t {
			if hasHugeFloat(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasHugeFloat(e) {
				return true
			}
		}
	}
	return false
}
