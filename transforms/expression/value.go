package expression

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// TypeName names v's type in JSON terms for error messages: null, string,
// bytes, bool, number, big integer, list, object, time, duration, or the Go
// type.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case json.Number:
		return bigInteger
	case string:
		return "string"
	case []byte:
		return "bytes"
	case bool:
		return "bool"
	case time.Time:
		return "time"
	case time.Duration:
		return "duration"
	}
	if _, ok := asFloat(v); ok {
		return "number"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TextBytes is Text as bytes, for record keys and header values; a []byte
// is kept as it is rather than copied.
func TextBytes(v any) ([]byte, error) {
	switch t := v.(type) {
	case []byte:
		return t, nil
	case string:
		return []byte(t), nil
	}
	s, err := Text(v)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Text formats v the way to_string does: strings as they are, numbers as
// JSON writes them, times in RFC 3339 UTC, lists and objects as JSON. Record
// keys and headers use it too, so all three agree. It fails for null, which
// callers treat on their own (a null key, a removed header).
func Text(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", errors.New("null has no text")
	case string:
		return t, nil
	case []byte:
		return string(t), nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case float64:
		return formatFloat(t, 64), nil
	case float32:
		return formatFloat(float64(t), 32), nil
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano), nil
	case time.Duration:
		return t.String(), nil
	case json.Number:
		return string(t), nil
	}
	if i, ok := ExactInt(v); ok {
		return strconv.FormatInt(i, 10), nil
	}
	if u, ok := v.(uint64); ok {
		return strconv.FormatUint(u, 10), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("format %s as JSON: %w", TypeName(v), err)
	}
	return string(b), nil
}

// bigInteger names the json.Number values of decoded records: JSON integer
// literals beyond int64 (record.DecodeJSON), kept as their digits so they
// pass through exactly. Expressions compare them with each other and format
// them, but no arithmetic takes them: it would round.
const bigInteger = "big integer"

// explainBigInteger rewrites an expr run-time message about a json.Number
// ("invalid operation: json.Number + int") in the words of the docs.
func explainBigInteger(msg string) string {
	if !strings.Contains(msg, "json.Number") {
		return msg
	}
	return strings.ReplaceAll(msg, "json.Number", bigInteger) +
		" (integers beyond 64 bits pass through exactly but take no part in arithmetic; to_float(x) converts one, rounding)"
}

// formatFloat writes floats as encoding/json does: plain decimals, with an
// exponent only for very large or small magnitudes.
func formatFloat(f float64, bits int) string {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, bits)
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// asFloat accepts every Go number type: JSON numbers arrive as int64 or
// float64, YAML vars and expr literals as int.
func asFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case float64:
		return t, true
	case int32:
		return float64(t), true
	case int16:
		return float64(t), true
	case int8:
		return float64(t), true
	case uint:
		return float64(t), true
	case uint64:
		return float64(t), true
	case uint32:
		return float64(t), true
	case uint16:
		return float64(t), true
	case uint8:
		return float64(t), true
	case float32:
		return float64(t), true
	}
	return 0, false
}

// ExactInt returns v as int64 when v is of an integer type whose value
// fits: the one test of "is this an integer" for built-ins and connectors.
func ExactInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int64:
		return t, true
	case int32:
		return int64(t), true
	case int16:
		return int64(t), true
	case int8:
		return int64(t), true
	case uint:
		return int64(t), t <= math.MaxInt64
	case uint64:
		return int64(t), t <= math.MaxInt64
	case uint32:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint8:
		return int64(t), true
	}
	return 0, false
}
