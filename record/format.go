package record

import (
	"bytes"
	"fmt"
	"math"

	json "github.com/goccy/go-json"
)

// Format names how a value is encoded on a topic.
type Format string

// Value formats.
const (
	JSON   Format = "json"
	String Format = "string"
	Bytes  Format = "bytes"
)

// Formats lists the valid formats, for validation messages.
var Formats = []string{string(JSON), string(String), string(Bytes)}

// Decode turns value bytes into a Record value. A nil input is a tombstone
// and decodes to nil in every format.
func (f Format) Decode(b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	switch f {
	case String:
		return string(b), nil
	case Bytes:
		return b, nil
	default:
		return DecodeJSON(b)
	}
}

// Encode turns a Record value into bytes. nil encodes to nil (a tombstone).
func (f Format) Encode(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	switch f {
	case String:
		switch t := v.(type) {
		case string:
			return []byte(t), nil
		case []byte:
			return t, nil
		default:
			return []byte(fmt.Sprint(t)), nil
		}
	case Bytes:
		switch t := v.(type) {
		case []byte:
			return t, nil
		case string:
			return []byte(t), nil
		default:
			return nil, fmt.Errorf("bytes format needs a string or bytes value, got %T", v)
		}
	default:
		return json.Marshal(v)
	}
}

// DecodeJSON decodes one JSON document. Integral numbers become int64 so ids
// and counts survive a round trip exactly; other numbers become float64.
//
// The fast path decodes numbers as float64 and turns the integral ones
// into int64; a document holding an integer too large for a float64 to
// represent exactly (beyond 2^53) is decoded again keeping every digit.
func DecodeJSON(b []byte) (any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if v, ok := integers(v); ok {
		return v, nil
	}
	return decodeExact(b)
}

// maxExact is the largest integer every float64 up to it represents exactly.
const maxExact = 1 << 53

// integers converts integral float64s to int64 in place; false means a
// number was too large to trust.
func integers(v any) (any, bool) {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) {
			if math.Abs(t) >= maxExact {
				return v, false
			}
			return int64(t), true
		}
		return t, true
	case map[string]any:
		for k, e := range t {
			x, ok := integers(e)
			if !ok {
				return v, false
			}
			t[k] = x
		}
	case []any:
		for i, e := range t {
			x, ok := integers(e)
			if !ok {
				return v, false
			}
			t[i] = x
		}
	}
	return v, true
}

func decodeExact(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode json: unexpected data after the first value")
	}
	return normalize(v), nil
}

func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		if f == math.Trunc(f) && math.Abs(f) < maxExact {
			return int64(f) // 1e3 or 2.0: integral, as on the fast path
		}
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	default:
		return v
	}
}
