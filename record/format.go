package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

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
// exactAPI reads numbers as json.Number, their literal text. DecodeJSON
// uses it only for documents holding a number beyond int64, which
// decodeAPI would have rounded to a float64.
//
// On a platform sonic does not compile for (see sonic.APIKind) it falls
// back to encoding/json, which ignores UseInt64; numbers then arrive as
// json.Number and integers converts them, so ids keep every digit there too.
var (
	decodeAPI = sonic.Config{
		UseInt64:  true,
		UseNumber: sonic.APIKind != sonic.UseSonicJSON,
	}.Froze()
	exactAPI  = sonic.Config{UseNumber: true}.Froze()
	encodeAPI = sonic.Config{
		EscapeHTML:     true,
		SortMapKeys:    true,
		ValidateString: true,
	}.Froze()
)

// DecodeJSON decodes one JSON document. Integers become int64 so ids and
// counts survive a round trip exactly; other numbers become float64.
//
// Integer literals that fit in an int64 are decoded as int64 directly; an
// integer literal beyond int64 stays a json.Number holding its digits, so it
// is written back exactly (a "big integer": expressions pass it through and
// compare it, but do no arithmetic on it). A number written with a fraction
// or exponent (1e3, 2.0) becomes int64 when integral and below 2^53, and
// stays float64 otherwise.
func DecodeJSON(b []byte) (any, error) {
	v, err := unmarshal(decodeAPI, b)
	if _, ok := v.(string); ok && err == nil && !closedString(b) {
		// sonic 1.15 takes some unterminated top-level strings (33 bytes:
		// a quote, 30 digits and a 2-byte rune) and drops their last byte.
		return nil, errors.New("decode json: unexpected end of input inside a string")
	}
	if err == nil {
		var big bool
		if v, big, err = integers(v); err != nil || !big {
			return v, err
		}
	}
	// A float64 at or beyond 2^63 may have been an integer literal that
	// decodeAPI rounded, and an integer literal beyond float64 fails it:
	// read the document again, keeping literals.
	if v, err = unmarshal(exactAPI, b); err != nil {
		return nil, err
	}
	v, _, err = integers(v)
	return v, err
}

// closedString reports whether a document holding one string ends with
// its closing quote (an escaped quote does not close it).
func closedString(b []byte) bool {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) < 2 || b[len(b)-1] != '"' {
		return false
	}
	backslashes := 0
	for i := len(b) - 2; i >= 1 && b[i] == '\\'; i-- {
		backslashes++
	}
	return backslashes%2 == 0
}

func unmarshal(api sonic.API, b []byte) (any, error) {
	var v any
	if err := api.Unmarshal(b, &v); err != nil {
		var se decoder.SyntaxError
		if errors.As(err, &se) {
			// Error() spans lines and quotes the input; keep one line.
			return nil, fmt.Errorf("decode json: %s at offset %d", se.Message(), se.Pos)
		}
		return nil, fmt.Errorf("decode json: %w", err)
	}
	return v, nil
}

// maxExact is the largest integer every float64 up to it represents exactly.
const maxExact = 1 << 53

// integers turns integral float64s below 2^53 into int64, in place, and
// json.Number into int64, a json.Number for integer literals beyond int64,
// or float64. big reports a float64 at or beyond 2^63, which may be a
// rounded integer literal.
func integers(v any) (_ any, big bool, err error) {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < maxExact {
			return int64(t), false, nil
		}
		return t, math.Abs(t) >= 1<<63, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i, false, nil
		}
		if isInteger(string(t)) {
			return t, false, nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, false, fmt.Errorf("decode json: %w", err)
		}
		return integers(f)
	case map[string]any:
		for k, e := range t {
			switch e.(type) {
			case float64, json.Number, map[string]any, []any:
				x, b, err := integers(e)
				if err != nil {
					return nil, false, err
				}
				t[k], big = x, big || b
			}
		}
	case []any:
		for i, e := range t {
			switch e.(type) {
			case float64, json.Number, map[string]any, []any:
				x, b, err := integers(e)
				if err != nil {
					return nil, false, err
				}
				t[i], big = x, big || b
			}
		}
	}
	return v, big, nil
}

// isInteger reports whether a JSON number literal has neither fraction nor
// exponent.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
