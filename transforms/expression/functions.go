package expression

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// FunctionDoc describes one built-in function for the reference docs.
type FunctionDoc struct {
	Name      string
	Signature string
	Example   string
	Result    string
	Doc       string
}

// function is one built-in: its documentation is its single definition.
type function struct {
	doc FunctionDoc
	fn  func(args ...any) (any, error)
	// types are the signatures the checker matches, so wrong arity fails
	// at compile time. One each: expr's checker tries every signature on
	// all the arguments, so two made nested calls cost twice per level. An
	// optional argument is variadic, bounded by maxArgs.
	types   []any
	maxArgs int
	random  bool // receives the machine's generator as a hidden last argument
}

// Functions lists conveyor's built-ins (in addition to expr's own) in the
// order the reference documents them.
func Functions() []FunctionDoc {
	fns := functions()
	docs := make([]FunctionDoc, len(fns))
	for i, f := range fns {
		docs[i] = f.doc
	}
	return docs
}

// functions builds the table on each call: it is only needed at compile time
// and keeping it out of package state keeps it immutable.
func functions() []function {
	return []function{
		{
			doc: FunctionDoc{Name: "uuid", Signature: "uuid()", Result: "string",
				Example: `uuid()`, Doc: "A random version 4 UUID from the machine's generator (repeatable with a seed)."},
			fn: uuidFn, types: []any{new(func(any) string)}, random: true,
		},
		{
			doc: FunctionDoc{Name: "pick", Signature: "pick(list)", Result: "any",
				Example: `pick(["glazed", "maple"])`, Doc: "A random element; null for an empty list; error for null or a non-list."},
			fn: pick, types: []any{new(func(any, any) any)}, random: true,
		},
		{
			doc: FunctionDoc{Name: "int_between", Signature: "int_between(a, b)", Result: "int",
				Example: `int_between(1, 6)`, Doc: "A random integer in [a, b], both ends included; error when a > b or an argument is null."},
			fn: intBetween, types: []any{new(func(any, any, any) int)}, random: true,
		},
		{
			doc: FunctionDoc{Name: "float_between", Signature: "float_between(a, b)", Result: "float",
				Example: `float_between(0.5, 2)`, Doc: "A random number in [a, b); error when a > b or an argument is null."},
			fn: floatBetween, types: []any{new(func(any, any, any) float64)}, random: true,
		},
		{
			doc: FunctionDoc{Name: "coalesce", Signature: "coalesce(a, b, ...)", Result: "any",
				Example: `coalesce(nickname, name, "anonymous")`, Doc: "The first argument that is not null, or null."},
			fn: coalesce, types: []any{new(func(any, ...any) any)},
		},
		{
			doc: FunctionDoc{Name: "round_to", Signature: "round_to(x, places)", Result: "number",
				Example: `round_to(2.675, 2) == 2.68`, Doc: "x rounded to places decimals (negative: tens, hundreds), half away from zero, on the decimal digits as written; null gives null."},
			fn: roundTo, types: []any{new(func(any, any) any)},
		},
		{
			doc: FunctionDoc{Name: "sha256", Signature: "sha256(s)", Result: "string",
				Example: `sha256("abc")`, Doc: "Hex SHA-256 of a string, bytes, number or bool; error for null, lists and objects."},
			fn:    digest("sha256", func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }),
			types: []any{new(func(any) string)},
		},
		{
			doc: FunctionDoc{Name: "md5", Signature: "md5(s)", Result: "string",
				Example: `md5("abc")`, Doc: "Hex MD5 (not for security) of a string, bytes, number or bool; error for null, lists and objects."},
			fn:    digest("md5", func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }),
			types: []any{new(func(any) string)},
		},
		{
			doc: FunctionDoc{Name: "hash", Signature: "hash(s)", Result: "int",
				Example: `hash(user_id) % 16`, Doc: "FNV-1a 64-bit hash with the sign bit cleared, for bucketing; same inputs and errors as sha256."},
			fn: hashFn, types: []any{new(func(any) int)},
		},
		{
			doc: FunctionDoc{Name: "parse_time", Signature: "parse_time(s [, layout])", Result: "time",
				Example: `parse_time("2026-12-01T10:00:00Z")`, Doc: "Parses s with a Go layout (default RFC 3339) or a layout name such as DateOnly, DateTime, RFC1123; a time passes through; null gives null."},
			fn: parseTime, types: []any{new(func(any, ...string) any)}, maxArgs: 2,
		},
		{
			doc: FunctionDoc{Name: "format_time", Signature: "format_time(t [, layout])", Result: "string",
				Example: `format_time(_timestamp, "2006-01-02")`, Doc: "Formats t in UTC with a Go layout or layout name (default RFC 3339 with fractional seconds when present); null gives null."},
			fn: formatTime, types: []any{new(func(any, ...string) any)}, maxArgs: 2,
		},
		{
			doc: FunctionDoc{Name: "unix_ms", Signature: "unix_ms(t)", Result: "int",
				Example: `unix_ms(_timestamp)`, Doc: "Milliseconds since the Unix epoch; null gives null."},
			fn: unixMS, types: []any{new(func(any) any)},
		},
		{
			doc: FunctionDoc{Name: "from_unix_ms", Signature: "from_unix_ms(n)", Result: "time",
				Example: `from_unix_ms(1700000000000)`, Doc: "The UTC time n milliseconds after the Unix epoch; null gives null."},
			fn: fromUnixMS, types: []any{new(func(any) any)},
		},
		{
			doc: FunctionDoc{Name: "to_int", Signature: "to_int(x)", Result: "int",
				Example: `to_int("42")`, Doc: "A number (truncated toward zero) or numeric string as an int; null gives null; error for other types and out-of-range values."},
			fn: toInt, types: []any{new(func(any) any)},
		},
		{
			doc: FunctionDoc{Name: "to_float", Signature: "to_float(x)", Result: "float",
				Example: `to_float("2.5")`, Doc: "A number (a big integer too, rounded) or numeric string as a float; null gives null; error for other types."},
			fn: toFloat, types: []any{new(func(any) any)},
		},
		{
			doc: FunctionDoc{Name: "to_string", Signature: "to_string(x)", Result: "string",
				Example: `to_string(3.5)`, Doc: "Text of x: numbers as JSON writes them, times in RFC 3339 UTC, lists and objects as JSON; null gives null."},
			fn: toString, types: []any{new(func(any) any)},
		},
	}
}

// generator is the hidden last argument of random built-ins.
func generator(args []any) *rand.Rand {
	return args[len(args)-1].(*rand.Rand)
}

func uuidFn(args ...any) (any, error) {
	rng := generator(args)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return uuid.UUID(b).String(), nil
}

func pick(args ...any) (any, error) {
	rng := generator(args)
	switch list := args[0].(type) {
	case []any:
		if len(list) == 0 {
			return nil, nil
		}
		return list[rng.IntN(len(list))], nil
	case nil:
		return nil, fmt.Errorf("pick: want a list, got null")
	}
	v := reflect.ValueOf(args[0])
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return nil, fmt.Errorf("pick: want a list, got %s", TypeName(args[0]))
	}
	if v.Len() == 0 {
		return nil, nil
	}
	return v.Index(rng.IntN(v.Len())).Interface(), nil
}

func intBetween(args ...any) (any, error) {
	a, err := intArg("int_between", "a", args[0])
	if err != nil {
		return nil, err
	}
	b, err := intArg("int_between", "b", args[1])
	if err != nil {
		return nil, err
	}
	if a > b {
		return nil, fmt.Errorf("int_between: a (%d) is greater than b (%d)", a, b)
	}
	rng := generator(args)
	span := uint64(b-a) + 1
	if span == 0 { // the whole int64 range
		return int(rng.Uint64()), nil
	}
	return int(a + int64(rng.Uint64N(span))), nil
}

func floatBetween(args ...any) (any, error) {
	a, err := floatArg("float_between", "a", args[0])
	if err != nil {
		return nil, err
	}
	b, err := floatArg("float_between", "b", args[1])
	if err != nil {
		return nil, err
	}
	if a > b {
		return nil, fmt.Errorf("float_between: a (%v) is greater than b (%v)", a, b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return nil, fmt.Errorf("float_between: bounds must be finite")
	}
	return a + generator(args).Float64()*(b-a), nil
}

func coalesce(args ...any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}

func roundTo(args ...any) (any, error) {
	x := args[0]
	if x == nil {
		return nil, nil
	}
	places, err := intArg("round_to", "places", args[1])
	if err != nil {
		return nil, err
	}
	if places < -18 || places > 18 {
		return nil, fmt.Errorf("round_to: places must be between -18 and 18, got %d", places)
	}
	if i, ok := ExactInt(x); ok {
		if places >= 0 {
			return x, nil // already exact
		}
		return roundInt(i, int(-places))
	}
	f, ok := asFloat(x)
	if !ok {
		return nil, fmt.Errorf("round_to: want a number, got %s", TypeName(x))
	}
	return roundDecimal(f, int(places)), nil
}

// roundInt rounds i to a multiple of 10^digits, half away from zero.
func roundInt(i int64, digits int) (any, error) {
	unit := int64(1)
	for range digits {
		unit *= 10
	}
	q, r := i/unit, i%unit
	if r >= unit-r && r > 0 {
		q++
	} else if -r >= unit+r && r < 0 {
		q--
	}
	if q > math.MaxInt64/unit || q < math.MinInt64/unit {
		return nil, fmt.Errorf("round_to: %d rounded to %d digits overflows int", i, -digits)
	}
	return int(q * unit), nil
}

// roundDecimal rounds half away from zero on the shortest decimal form of f,
// so round_to(1.005, 2) is 1.01 as a person expects, not 1.0 as
// math.Round(f*100)/100 gives for the binary value 1.00499999...
func roundDecimal(f float64, places int) float64 {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], math.Abs(f), 'e', -1, 64) // d.ddddde±XX
	mant, expo, _ := strings.Cut(string(s), "e")
	exp, _ := strconv.Atoi(expo)
	digits := strings.Replace(mant, ".", "", 1)
	keep := exp + places + 1 // digits at or above 10^-places
	if keep >= len(digits) {
		return f
	}
	var kept uint64
	if keep > 0 {
		kept, _ = strconv.ParseUint(digits[:keep], 10, 64)
	}
	if keep >= 0 && digits[keep] >= '5' {
		kept++
	}
	out := strconv.AppendUint(buf[:0], kept, 10)
	out = append(out, 'e')
	out = strconv.AppendInt(out, int64(-places), 10)
	r, _ := strconv.ParseFloat(string(out), 64)
	return math.Copysign(r, f)
}

// digest builds sha256 and md5.
func digest(name string, sum func([]byte) string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		b, err := hashInput(name, args[0])
		if err != nil {
			return nil, err
		}
		return sum(b), nil
	}
}

func hashFn(args ...any) (any, error) {
	b, err := hashInput("hash", args[0])
	if err != nil {
		return nil, err
	}
	// FNV-1a, 64 bit.
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return int(h & math.MaxInt64), nil
}

// hashInput accepts text and scalars; a null would silently hash all
// missing values alike, so it is an error.
func hashInput(name string, v any) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case []byte:
		return t, nil
	case nil:
		return nil, fmt.Errorf("%s: argument is null", name)
	case json.Number:
		return []byte(t), nil
	}
	if _, ok := asFloat(v); ok {
		s, err := Text(v)
		return []byte(s), err
	}
	if b, ok := v.(bool); ok {
		return strconv.AppendBool(nil, b), nil
	}
	return nil, fmt.Errorf("%s: want a string, got %s (use toJSON first)", name, TypeName(v))
}

func parseTime(args ...any) (any, error) {
	layout := time.RFC3339
	if len(args) > 1 {
		l, err := layoutArg("parse_time", args[1])
		if err != nil {
			return nil, err
		}
		layout = l
	}
	var s string
	switch t := args[0].(type) {
	case nil:
		return nil, nil
	case time.Time:
		return t, nil
	case string:
		s = t
	case []byte:
		s = string(t)
	default:
		return nil, fmt.Errorf("parse_time: want a string, got %s", TypeName(t))
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return nil, fmt.Errorf("parse_time: %w", err)
	}
	return t, nil
}

func formatTime(args ...any) (any, error) {
	layout := time.RFC3339Nano
	if len(args) > 1 {
		l, err := layoutArg("format_time", args[1])
		if err != nil {
			return nil, err
		}
		layout = l
	}
	switch t := args[0].(type) {
	case nil:
		return nil, nil
	case time.Time:
		return t.UTC().Format(layout), nil
	default:
		return nil, fmt.Errorf("format_time: want a time, got %s (use parse_time first)", TypeName(t))
	}
}

func layoutArg(fn string, v any) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%s: layout must be a non-empty string, got %s", fn, TypeName(v))
	}
	return namedLayout(s), nil
}

// namedLayout turns the name of a Go layout constant into the layout.
func namedLayout(name string) string {
	switch name {
	case "RFC3339":
		return time.RFC3339
	case "RFC3339Nano":
		return time.RFC3339Nano
	case "RFC1123":
		return time.RFC1123
	case "RFC1123Z":
		return time.RFC1123Z
	case "RFC822":
		return time.RFC822
	case "RFC822Z":
		return time.RFC822Z
	case "RFC850":
		return time.RFC850
	case "ANSIC":
		return time.ANSIC
	case "UnixDate":
		return time.UnixDate
	case "Kitchen":
		return time.Kitchen
	case "DateTime":
		return time.DateTime
	case "DateOnly":
		return time.DateOnly
	case "TimeOnly":
		return time.TimeOnly
	}
	return name
}

func unixMS(args ...any) (any, error) {
	switch t := args[0].(type) {
	case nil:
		return nil, nil
	case time.Time:
		return int(t.UnixMilli()), nil
	default:
		return nil, fmt.Errorf("unix_ms: want a time, got %s", TypeName(t))
	}
}

func fromUnixMS(args ...any) (any, error) {
	v := args[0]
	if v == nil {
		return nil, nil
	}
	if i, ok := ExactInt(v); ok {
		return time.UnixMilli(i).UTC(), nil
	}
	f, ok := asFloat(v)
	if !ok {
		return nil, fmt.Errorf("from_unix_ms: want a number, got %s", TypeName(v))
	}
	if math.IsNaN(f) || math.Abs(f) > 9e15 { // beyond that milliseconds lose precision and years 285,000
		return nil, fmt.Errorf("from_unix_ms: %v is out of range", f)
	}
	return time.UnixMicro(int64(math.Round(f * 1000))).UTC(), nil
}

func toInt(args ...any) (any, error) {
	v := args[0]
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return parseInt(t)
	case []byte:
		return parseInt(string(t))
	}
	if i, ok := ExactInt(v); ok {
		return int(i), nil
	}
	f, ok := asFloat(v)
	if !ok {
		return nil, fmt.Errorf("to_int: cannot convert %s to int", TypeName(v))
	}
	return truncate(f)
}

func parseInt(s string) (any, error) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return int(i), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("to_int: cannot parse %q as a number", s)
	}
	return truncate(f)
}

func truncate(f float64) (any, error) {
	// float64(MaxInt64) rounds up to 2^63, itself out of range.
	if math.IsNaN(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return nil, fmt.Errorf("to_int: %v is out of the int range", f)
	}
	return int(f), nil
}

func toFloat(args ...any) (any, error) {
	v := args[0]
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			return nil, fmt.Errorf("to_float: cannot parse %q as a number", t)
		}
		return f, nil
	case json.Number: // a big integer: the one way to do arithmetic on it, rounded
		return strconv.ParseFloat(string(t), 64)
	}
	f, ok := asFloat(v)
	if !ok {
		return nil, fmt.Errorf("to_float: cannot convert %s to float", TypeName(v))
	}
	return f, nil
}

func toString(args ...any) (any, error) {
	if args[0] == nil {
		return nil, nil
	}
	s, err := Text(args[0])
	if err != nil {
		return nil, fmt.Errorf("to_string: %w", err)
	}
	return s, nil
}

func intArg(fn, name string, v any) (int64, error) {
	if v == nil {
		return 0, fmt.Errorf("%s: %s is null", fn, name)
	}
	if i, ok := ExactInt(v); ok {
		return i, nil
	}
	if f, ok := asFloat(v); ok && f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f), nil
	}
	return 0, fmt.Errorf("%s: %s must be an integer, got %s", fn, name, describe(v))
}

func floatArg(fn, name string, v any) (float64, error) {
	if v == nil {
		return 0, fmt.Errorf("%s: %s is null", fn, name)
	}
	f, ok := asFloat(v)
	if !ok || math.IsNaN(f) {
		return 0, fmt.Errorf("%s: %s must be a number, got %s", fn, name, describe(v))
	}
	return f, nil
}

// describe names v's type, with the value for numbers.
func describe(v any) string {
	if _, ok := asFloat(v); ok {
		return fmt.Sprintf("%v", v)
	}
	return TypeName(v)
}
