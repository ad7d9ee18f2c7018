package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/decoder"
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
		return encodeAPI.Marshal(v)
	}
}

// decodeAPI and encodeAPI are sonic set up to read and write records as
// goccy/go-json and encoding/json did. Decoding keeps integer literals
// that fit as int64 and takes strings as they are (no UTF-8 validation);
// Unmarshal copies its input, so decoded strings never alias the caller's
// buffer. Encoding sorts map keys, escapes HTML characters and writes
// invalid UTF-8 as \ufffd: the output is byte for byte what encoding/json
// writes.
//
// On a platform sonic does not compile for (see sonic.APIKind) it falls
// back to encoding/json, which ignores UseInt64; numbers then arrive as
// json.Number and integers converts them, so ids keep every digit there too.
var (
	decodeAPI = sonic.Config{
		UseInt64:  true,
		UseNumber: sonic.APIKind != sonic.UseSonicJSON,
	}.Froze()
	encodeAPI = sonic.Config{
		EscapeHTML:     true,
		SortMapKeys:    true,
		ValidateString: true,
	}.Froze()
)

// DecodeJSON decodes one JSON document. Integral numbers become int64 so ids
// and counts survive a round trip exactly; other numbers become float64.
//
// Integer literals that fit in an int64 are decoded as int64 directly, so
// big ids keep every digit; a number written with a fraction or exponent
// (1e3, 2.0) becomes int64 too when integral and below 2^53. Larger
// numbers stay float64.
func DecodeJSON(b []byte) (any, error) {
	var v any
	if err := decodeAPI.Unmarshal(b, &v); err != nil {
		var se decoder.SyntaxError
		if errors.As(err, &se) {
			// Error() spans lines and quotes the input; keep one line.
			return nil, fmt.Errorf("decode json: %s at offset %d", se.Message(), se.Pos)
		}
		return nil, fmt.Errorf("decode json: %w", err)
	}
	return integers(v)
}

// maxExact is the largest integer every float64 up to it represents exactly.
const maxExact = 1 << 53

// integers turns integral float64s below 2^53 into int64, in place, and
// json.Number (only from the encoding/json fallback) into int64 or float64.
func integers(v any) (any, error) {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < maxExact {
			return int64(t), nil
		}
		return t, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("decode json: %w", err)
		}
		return integers(f)
	case map[string]any:
		for k, e := range t {
			switch e.(type) {
			case float64, json.Number, map[string]any, []any:
				x, err := integers(e)
				if err != nil {
					return nil, err
				}
				t[k] = x
			}
		}
	case []any:
		for i, e := range t {
			switch e.(type) {
			case float64, json.Number, map[string]any, []any:
				x, err := integers(e)
				if err != nil {
					return nil, err
				}
				t[i] = x
			}
		}
	}
	return v, nil
}
