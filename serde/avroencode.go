package serde

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// avroEncoder writes one payload.
type avroEncoder struct {
	depth int
}

func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func appendBytes(b, v []byte) []byte { return append(appendLong(b, int64(len(v))), v...) }

func appendString(b []byte, v string) []byte {
	return append(appendLong(b, int64(len(v))), v...)
}

// mismatch is the error for a value the type does not take.
func mismatch(n *avroNode, v any) error {
	return &RecordError{Err: fmt.Errorf("want %s, got %s", n.describe(), describeValue(v))}
}

// describeValue names a value in messages: string "x", int 5, object.
func describeValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		if len(t) > 40 {
			return "string " + strconv.Quote(t[:40]) + "..."
		}
		return "string " + strconv.Quote(t)
	case bool:
		return "bool " + strconv.FormatBool(t)
	case int64:
		return "int " + strconv.FormatInt(t, 10)
	case float64:
		return "float " + strconv.FormatFloat(t, 'g', -1, 64)
	case []byte:
		return fmt.Sprintf("bytes (%d)", len(t))
	case time.Time:
		return "timestamp " + t.Format(time.RFC3339Nano)
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case json.Number:
		return "number " + string(t)
	}
	return fmt.Sprintf("%T", v)
}

// toInt64 converts any Go integer, an integral float64 and an integer
// json.Number.
func toInt64(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case int:
		return int64(t), true
	case int32:
		return int64(t), true
	case int16:
		return int64(t), true
	case int8:
		return int64(t), true
	case uint8:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint:
		if uint64(t) <= math.MaxInt64 {
			return int64(t), true
		}
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), true
		}
	case float64:
		if t == math.Trunc(t) && t >= -(1<<63) && t < 1<<63 {
			return int64(t), true
		}
	case json.Number:
		i, err := strconv.ParseInt(string(t), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func toFloat64(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		return float64(t), true
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		return f, err == nil
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}

func (e *avroEncoder) value(b []byte, n *avroNode, v any) ([]byte, error) {
	switch n.kind {
	case avroNull:
		if v != nil {
			return nil, mismatch(n, v)
		}
		return b, nil
	case avroBoolean:
		t, ok := v.(bool)
		if !ok {
			return nil, mismatch(n, v)
		}
		if t {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case avroInt:
		if n.logical == logicalDate {
			days, err := dateDays(n, v)
			if err != nil {
				return nil, err
			}
			return appendLong(b, days), nil
		}
		i, ok := toInt64(v)
		if !ok {
			return nil, mismatch(n, v)
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return nil, &RecordError{Err: fmt.Errorf("want %s, got int %d (out of the int range)", n.describe(), i)}
		}
		return appendLong(b, i), nil
	case avroLong:
		switch n.logical {
		case logicalTimestampMillis, logicalLocalTimestampMillis, logicalTimestampMicros, logicalLocalTimestampMicros:
			ts, err := timestamp(n, v)
			if err != nil {
				return nil, err
			}
			return appendLong(b, ts), nil
		}
		i, ok := toInt64(v)
		if !ok {
			return nil, mismatch(n, v)
		}
		return appendLong(b, i), nil
	case avroFloat:
		f, ok := toFloat64(v)
		if !ok {
			return nil, mismatch(n, v)
		}
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
	case avroDouble:
		f, ok := toFloat64(v)
		if !ok {
			return nil, mismatch(n, v)
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case avroString:
		switch t := v.(type) {
		case string:
			return appendString(b, t), nil
		case []byte:
			return appendBytes(b, t), nil
		}
		return nil, mismatch(n, v)
	case avroBytes:
		if n.logical == logicalDecimal {
			x, err := decimalUnscaled(n, v)
			if err != nil {
				return nil, err
			}
			return appendBytes(b, twosComplement(x, 0)), nil
		}
		switch t := v.(type) {
		case []byte:
			return appendBytes(b, t), nil
		case string:
			return appendString(b, t), nil
		}
		return nil, mismatch(n, v)
	case avroFixed:
		if n.logical == logicalDecimal {
			x, err := decimalUnscaled(n, v)
			if err != nil {
				return nil, err
			}
			if minBytes(x) > n.size {
				return nil, &RecordError{Err: fmt.Errorf("decimal %s does not fit in %s", describeValue(v), n.describe())}
			}
			return append(b, twosComplement(x, n.size)...), nil
		}
		var raw []byte
		switch t := v.(type) {
		case []byte:
			raw = t
		case string:
			raw = []byte(t)
		default:
			return nil, mismatch(n, v)
		}
		if len(raw) != n.size {
			return nil, &RecordError{Err: fmt.Errorf("want %s, got %d bytes", n.describe(), len(raw))}
		}
		return append(b, raw...), nil
	case avroEnum:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch(n, v)
		}
		i, ok := n.symbol[s]
		if !ok {
			return nil, &RecordError{Err: fmt.Errorf("want %s (one of %v), got %s", n.describe(), n.symbols, describeValue(v))}
		}
		return appendLong(b, int64(i)), nil
	case avroUnion:
		if n.valueIndex >= 0 {
			if v == nil {
				return appendLong(b, int64(n.nullIndex)), nil
			}
			return e.value(appendLong(b, int64(n.valueIndex)), n.branches[n.valueIndex], v)
		}
		return e.union(b, n, v)
	case avroRecord:
		return e.record(b, n, v)
	case avroArray:
		list, ok := v.([]any)
		if !ok {
			return e.reflectArray(b, n, v)
		}
		if len(list) == 0 {
			return append(b, 0), nil
		}
		b = appendLong(b, int64(len(list)))
		for i, x := range list {
			var err error
			if b, err = e.value(b, n.items, x); err != nil {
				return nil, prefixField(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return append(b, 0), nil
	case avroMap:
		m, ok := v.(map[string]any)
		if !ok {
			return e.reflectMap(b, n, v)
		}
		if len(m) == 0 {
			return append(b, 0), nil
		}
		b = appendLong(b, int64(len(m)))
		// Sorted, so a value always has the same bytes.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendString(b, k)
			var err error
			if b, err = e.value(b, n.items, m[k]); err != nil {
				return nil, prefixField(err, "["+strconv.Quote(k)+"]")
			}
		}
		return append(b, 0), nil
	}
	return nil, &RecordError{Err: fmt.Errorf("unsupported type %s", n.describe())}
}

func (e *avroEncoder) record(b []byte, n *avroNode, v any) ([]byte, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, mismatch(n, v)
	}
	if e.depth++; e.depth > maxAvroDepth {
		return nil, &RecordError{Err: fmt.Errorf("records nested more than %d deep", maxAvroDepth)}
	}
	present := 0
	for i := range n.fields {
		f := &n.fields[i]
		fv, ok := m[f.name]
		if !ok {
			switch {
			case f.hasDef:
				b = append(b, f.def...)
			case f.canNull:
				b = append(b, f.null...)
			default:
				return nil, &RecordError{Field: f.name, Err: fmt.Errorf("missing: the field is required (%s, no default)", f.node.describe())}
			}
			continue
		}
		present++
		var err error
		if b, err = e.value(b, f.node, fv); err != nil {
			return nil, prefixField(err, f.name)
		}
	}
	if present < len(m) {
		keys := make([]string, 0, len(m)-present)
		for k := range m {
			if !slices.ContainsFunc(n.fields, func(f avroField) bool { return f.name == k }) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return nil, &RecordError{Field: keys[0], Err: fmt.Errorf("not in the schema (record %s)", n.name)}
	}
	e.depth--
	return b, nil
}

// union writes a value of a union other than [null, T]: into the first
// branch that holds it exactly, else the first that takes it.
func (e *avroEncoder) union(b []byte, n *avroNode, v any) ([]byte, error) {
	depth := e.depth // a failed try may leave it raised
	for pass := range 2 {
		for i, br := range n.branches {
			exact := fits(br, v)
			if pass == 0 && !exact || pass == 1 && (exact || !loosely(br, v)) {
				continue
			}
			// A failed try writes only past len(b), which the next
			// overwrites.
			out, err := e.value(appendLong(b, int64(i)), br, v)
			if err == nil {
				return out, nil
			}
			e.depth = depth
		}
	}
	return nil, &RecordError{Err: fmt.Errorf("want %s, got %s", n.describe(), describeValue(v))}
}

// fits reports whether a branch holds v without conversion or loss, so a
// decoded value is written back to the branch it came from where the
// branches can tell.
func fits(n *avroNode, v any) bool {
	switch t := v.(type) {
	case nil:
		return n.kind == avroNull
	case bool:
		return n.kind == avroBoolean
	case int64:
		switch {
		case n.logical != logicalNone && n.logical != logicalTimeMillis && n.logical != logicalTimeMicros:
			return false
		case n.kind == avroInt:
			return t >= math.MinInt32 && t <= math.MaxInt32
		}
		return n.kind == avroLong
	case float64:
		switch {
		case n.logical != logicalNone:
			return false
		case n.kind == avroFloat:
			return float64(float32(t)) == t || t != t
		}
		return n.kind == avroDouble
	case string:
		switch n.kind {
		case avroString:
			return true
		case avroEnum:
			_, ok := n.symbol[t]
			return ok
		}
		return false
	case []byte:
		return n.logical == logicalNone && n.kind == avroBytes || n.kind == avroFixed && len(t) == n.size
	case time.Time:
		switch n.logical {
		case logicalTimestampMicros, logicalLocalTimestampMicros:
			return t.Nanosecond()%1e3 == 0
		case logicalTimestampMillis, logicalLocalTimestampMillis:
			return t.Nanosecond()%1e6 == 0
		case logicalDate:
			return t.Equal(t.Truncate(24 * time.Hour))
		}
		return false
	case map[string]any:
		switch n.kind {
		case avroMap:
			return true
		case avroRecord:
			if len(t) != len(n.fields) {
				return false
			}
			for _, f := range n.fields {
				if _, ok := t[f.name]; !ok {
					return false
				}
			}
			return true
		}
		return false
	case []any:
		return n.kind == avroArray
	}
	return false
}

// loosely reports whether a branch may take v with a conversion; the
// encoder decides.
func loosely(n *avroNode, v any) bool {
	switch v.(type) {
	case nil:
		return false
	case map[string]any:
		return n.kind == avroRecord || n.kind == avroMap
	}
	return n.kind != avroNull && n.kind != avroRecord && n.kind != avroMap
}

func (e *avroEncoder) reflectArray(b []byte, n *avroNode, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if v == nil || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, mismatch(n, v)
	}
	if rv.Len() == 0 {
		return append(b, 0), nil
	}
	b = appendLong(b, int64(rv.Len()))
	for i := range rv.Len() {
		var err error
		if b, err = e.value(b, n.items, rv.Index(i).Interface()); err != nil {
			return nil, prefixField(err, "["+strconv.Itoa(i)+"]")
		}
	}
	return append(b, 0), nil
}

func (e *avroEncoder) reflectMap(b []byte, n *avroNode, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if v == nil || rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, mismatch(n, v)
	}
	if rv.Len() == 0 {
		return append(b, 0), nil
	}
	keys := rv.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		if a.String() < b.String() {
			return -1
		}
		if a.String() > b.String() {
			return 1
		}
		return 0
	})
	b = appendLong(b, int64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k.String())
		var err error
		if b, err = e.value(b, n.items, rv.MapIndex(k).Interface()); err != nil {
			return nil, prefixField(err, "["+strconv.Quote(k.String())+"]")
		}
	}
	return append(b, 0), nil
}

// timestamp converts a time.Time, an RFC 3339 string or an int64 (already
// in the schema's unit) to the schema's unit.
func timestamp(n *avroNode, v any) (int64, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return 0, &RecordError{Err: fmt.Errorf("want %s, got %s (not RFC 3339)", n.describe(), describeValue(v))}
		}
	default:
		if i, ok := toInt64(v); ok {
			return i, nil
		}
		return 0, mismatch(n, v)
	}
	if n.logical == logicalLocalTimestampMillis || n.logical == logicalLocalTimestampMicros {
		// The wall clock, read as if in UTC.
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		t = time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
	}
	if n.logical == logicalTimestampMillis || n.logical == logicalLocalTimestampMillis {
		return t.UnixMilli(), nil
	}
	return t.UnixMicro(), nil
}

// dateDays converts a time.Time (its UTC day), "2006-01-02", RFC 3339 or an
// int64 day count to days since 1970-01-01.
func dateDays(n *avroNode, v any) (int64, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.DateOnly, x); err != nil {
			if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return 0, &RecordError{Err: fmt.Errorf("want date, got %s (neither 2006-01-02 nor RFC 3339)", describeValue(v))}
			}
		}
	default:
		i, ok := toInt64(v)
		if !ok {
			return 0, mismatch(n, v)
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return 0, &RecordError{Err: fmt.Errorf("want date, got %s (out of range)", describeValue(v))}
		}
		return i, nil
	}
	secs := t.Unix()
	days := secs / 86400
	if secs%86400 < 0 {
		days-- // floor, for days before 1970
	}
	if days < math.MinInt32 || days > math.MaxInt32 {
		return 0, &RecordError{Err: fmt.Errorf("want date, got %s (out of range)", describeValue(v))}
	}
	return days, nil
}

// decimalUnscaled turns a float64, integer or decimal string into the
// decimal's unscaled integer, rounding half away from zero to the scale,
// and checks it against the precision.
func decimalUnscaled(n *avroNode, v any) (*big.Int, error) {
	var r *big.Rat
	switch t := v.(type) {
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, &RecordError{Err: fmt.Errorf("want %s, got %s", n.describe(), describeValue(v))}
		}
		if n.scale <= 15 {
			if s := t * pow10[n.scale]; math.Abs(s) < 1<<52 {
				return checkPrecision(n, v, big.NewInt(int64(math.Round(s))))
			}
		}
		r = new(big.Rat).SetFloat64(t)
	case string:
		var ok bool
		if r, ok = new(big.Rat).SetString(t); !ok {
			return nil, &RecordError{Err: fmt.Errorf("want %s, got %s (not a number)", n.describe(), describeValue(v))}
		}
	case json.Number:
		var ok bool
		if r, ok = new(big.Rat).SetString(string(t)); !ok {
			return nil, mismatch(n, v)
		}
	default:
		i, ok := toInt64(v)
		if !ok {
			return nil, mismatch(n, v)
		}
		r = new(big.Rat).SetInt64(i)
	}
	scaled := r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n.scale)), nil)))
	// Round half away from zero: trunc(x + sign(x)/2).
	half := big.NewRat(1, 2)
	if scaled.Sign() < 0 {
		half.Neg(half)
	}
	scaled.Add(scaled, half)
	x := new(big.Int).Quo(scaled.Num(), scaled.Denom())
	return checkPrecision(n, v, x)
}

func checkPrecision(n *avroNode, v any, x *big.Int) (*big.Int, error) {
	if n.precision > 0 {
		digits := len(new(big.Int).Abs(x).String())
		if x.Sign() != 0 && digits > n.precision {
			return nil, &RecordError{Err: fmt.Errorf("want %s, got %s (%d digits, more than the precision)", n.describe(), describeValue(v), digits)}
		}
	}
	return x, nil
}

// minBytes is the fewest bytes x takes in two's complement.
func minBytes(x *big.Int) int {
	if x.Sign() < 0 {
		return new(big.Int).Not(x).BitLen()/8 + 1
	}
	return x.BitLen()/8 + 1
}

// twosComplement is x in big-endian two's complement, in size bytes (the
// fewest if size is 0).
func twosComplement(x *big.Int, size int) []byte {
	if size == 0 {
		size = minBytes(x)
	}
	if x.Sign() >= 0 {
		return x.FillBytes(make([]byte, size))
	}
	y := new(big.Int).Add(x, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	return y.FillBytes(make([]byte, size))
}

// appendDefault encodes a field's default as hamba/avro parsed it (int for
// int, float32 for float, a byte array for fixed, the first branch's
// value for a union) in the type's underlying encoding: a logical type's
// default is in its underlying type, as the spec has it.
func appendDefault(b []byte, n *avroNode, def any) ([]byte, error) {
	if n == nil {
		return nil, errors.New("refers to a record still being defined")
	}
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("%v (%T) is not a %s", def, def, n.describe())
	}
	switch n.kind {
	case avroNull:
		return b, nil
	case avroBoolean:
		t, ok := def.(bool)
		if !ok {
			return bad()
		}
		if t {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case avroInt, avroLong:
		i, ok := toInt64(def)
		if !ok {
			return bad()
		}
		return appendLong(b, i), nil
	case avroFloat:
		f, ok := toFloat64(def)
		if !ok {
			return bad()
		}
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
	case avroDouble:
		f, ok := toFloat64(def)
		if !ok {
			return bad()
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case avroString:
		s, ok := def.(string)
		if !ok {
			return bad()
		}
		return appendString(b, s), nil
	case avroBytes:
		switch t := def.(type) {
		case []byte:
			return appendBytes(b, t), nil
		case string:
			return appendString(b, t), nil
		}
		return bad()
	case avroFixed:
		rv := reflect.ValueOf(def)
		if def == nil || (rv.Kind() != reflect.Array && rv.Kind() != reflect.Slice) || rv.Len() != n.size {
			return bad()
		}
		for i := range rv.Len() {
			b = append(b, byte(rv.Index(i).Uint()))
		}
		return b, nil
	case avroEnum:
		s, _ := def.(string)
		i, ok := n.symbol[s]
		if !ok {
			return bad()
		}
		return appendLong(b, int64(i)), nil
	case avroUnion:
		return appendDefault(appendLong(b, 0), n.branches[0], def)
	case avroArray:
		list, ok := def.([]any)
		if !ok {
			return bad()
		}
		if len(list) > 0 {
			b = appendLong(b, int64(len(list)))
			for _, x := range list {
				var err error
				if b, err = appendDefault(b, n.items, x); err != nil {
					return nil, err
				}
			}
		}
		return append(b, 0), nil
	case avroMap:
		m, ok := def.(map[string]any)
		if !ok {
			return bad()
		}
		if len(m) > 0 {
			b = appendLong(b, int64(len(m)))
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				var err error
				if b, err = appendDefault(appendString(b, k), n.items, m[k]); err != nil {
					return nil, err
				}
			}
		}
		return append(b, 0), nil
	case avroRecord:
		m, ok := def.(map[string]any)
		if !ok {
			return bad()
		}
		for _, f := range n.fields {
			var err error
			if b, err = appendDefault(b, f.node, m[f.name]); err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
		}
		return b, nil
	}
	return bad()
}
