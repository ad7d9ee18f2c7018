package serde

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// Limits that keep hostile or corrupt payloads from exhausting the stack or
// memory: nesting of records, and items that take no bytes (an array of
// nulls can claim any length without carrying it).
const (
	maxAvroDepth     = 1000
	maxAvroZeroItems = 1 << 16
)

var errTruncated = errors.New("truncated: the payload ends inside a value")

// avroDecoder reads one payload. Strings are substrings of one copy of the
// payload (text), made at the first string: a record is then one string
// allocation however many text fields it has. bytes values are copies of
// their own.
type avroDecoder struct {
	b         []byte
	text      string
	pos       int
	depth     int
	zeroItems int
}

func (d *avroDecoder) fail(field string, err error) error {
	return &RecordError{Field: field, Err: err}
}

func (d *avroDecoder) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.pos >= len(d.b) {
			return 0, d.fail("", errTruncated)
		}
		c := d.b[d.pos]
		d.pos++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, d.fail("", errors.New("malformed: a varint longer than 10 bytes"))
}

func (d *avroDecoder) int() (int64, error) {
	v, err := d.long()
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		return 0, d.fail("", fmt.Errorf("malformed: int %d out of range", v))
	}
	return v, err
}

// span reads a length-prefixed bytes or string and returns its bounds.
func (d *avroDecoder) span() (int, int, error) {
	n, err := d.long()
	if err != nil {
		return 0, 0, err
	}
	if n < 0 {
		return 0, 0, d.fail("", fmt.Errorf("malformed: negative length %d", n))
	}
	if n > int64(len(d.b)-d.pos) {
		return 0, 0, d.fail("", errTruncated)
	}
	start := d.pos
	d.pos += int(n)
	return start, d.pos, nil
}

func (d *avroDecoder) str() (string, error) {
	i, j, err := d.span()
	if err != nil || i == j {
		return "", err
	}
	if d.text == "" {
		d.text = string(d.b)
	}
	return d.text[i:j], nil
}

func (d *avroDecoder) bytes(n int) ([]byte, error) {
	if n > len(d.b)-d.pos {
		return nil, d.fail("", errTruncated)
	}
	b := make([]byte, n)
	copy(b, d.b[d.pos:])
	d.pos += n
	return b, nil
}

func (d *avroDecoder) value(n *avroNode) (any, error) {
	switch n.kind {
	case avroNull:
		return nil, nil
	case avroBoolean:
		if d.pos >= len(d.b) {
			return nil, d.fail("", errTruncated)
		}
		c := d.b[d.pos]
		d.pos++
		if c > 1 {
			return nil, d.fail("", fmt.Errorf("malformed: boolean byte 0x%02x", c))
		}
		return c == 1, nil
	case avroInt:
		v, err := d.int()
		if err != nil {
			return nil, err
		}
		if n.logical == logicalDate {
			return time.Unix(v*86400, 0).UTC(), nil
		}
		return v, nil
	case avroLong:
		v, err := d.long()
		if err != nil {
			return nil, err
		}
		switch n.logical {
		case logicalTimestampMillis, logicalLocalTimestampMillis:
			return time.UnixMilli(v).UTC(), nil
		case logicalTimestampMicros, logicalLocalTimestampMicros:
			return time.UnixMicro(v).UTC(), nil
		}
		return v, nil
	case avroFloat:
		if len(d.b)-d.pos < 4 {
			return nil, d.fail("", errTruncated)
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(d.b[d.pos:]))
		d.pos += 4
		return float64(f), nil
	case avroDouble:
		if len(d.b)-d.pos < 8 {
			return nil, d.fail("", errTruncated)
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.pos:]))
		d.pos += 8
		return f, nil
	case avroString:
		return d.str()
	case avroBytes:
		i, j, err := d.span()
		if err != nil {
			return nil, err
		}
		if n.logical == logicalDecimal {
			return decimalFloat(d.b[i:j], n.scale), nil
		}
		b := make([]byte, j-i)
		copy(b, d.b[i:j])
		return b, nil
	case avroFixed:
		if n.logical == logicalDecimal {
			if n.size > len(d.b)-d.pos {
				return nil, d.fail("", errTruncated)
			}
			f := decimalFloat(d.b[d.pos:d.pos+n.size], n.scale)
			d.pos += n.size
			return f, nil
		}
		return d.bytes(n.size)
	case avroEnum:
		i, err := d.int()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.symbols)) {
			return nil, d.fail("", fmt.Errorf("malformed: enum index %d, %s has %d symbols", i, n.name, len(n.symbols)))
		}
		return n.symbols[i], nil
	case avroUnion:
		i, err := d.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return nil, d.fail("", fmt.Errorf("malformed: union branch %d, %s has %d", i, n.describe(), len(n.branches)))
		}
		return d.value(n.branches[i])
	case avroRecord:
		if d.depth++; d.depth > maxAvroDepth {
			return nil, d.fail("", fmt.Errorf("records nested more than %d deep", maxAvroDepth))
		}
		m := make(map[string]any, len(n.fields))
		for i := range n.fields {
			f := &n.fields[i]
			v, err := d.value(f.node)
			if err != nil {
				return nil, prefixField(err, f.name)
			}
			m[f.name] = v
		}
		d.depth--
		return m, nil
	case avroArray:
		var list []any
		for {
			count, err := d.blockCount(n.items.minSize)
			if err != nil {
				return nil, prefixField(err, "["+strconv.Itoa(len(list))+"]")
			}
			if count == 0 {
				break
			}
			if list == nil {
				list = make([]any, 0, count)
			}
			for range count {
				v, err := d.value(n.items)
				if err != nil {
					return nil, prefixField(err, "["+strconv.Itoa(len(list))+"]")
				}
				list = append(list, v)
			}
		}
		if list == nil {
			list = []any{}
		}
		return list, nil
	case avroMap:
		var m map[string]any
		for {
			// An entry holds a key of at least one byte.
			count, err := d.blockCount(1 + n.items.minSize)
			if err != nil {
				return nil, err
			}
			if count == 0 {
				break
			}
			if m == nil {
				m = make(map[string]any, count)
			}
			for range count {
				k, err := d.str()
				if err != nil {
					return nil, err
				}
				v, err := d.value(n.items)
				if err != nil {
					return nil, prefixField(err, "["+strconv.Quote(k)+"]")
				}
				m[k] = v
			}
		}
		if m == nil {
			m = map[string]any{}
		}
		return m, nil
	}
	return nil, d.fail("", fmt.Errorf("unsupported type %s", n.describe()))
}

// blockCount reads an array or map block's item count (skipping the byte
// size a negative count announces) and checks the payload can hold that
// many items of at least minSize bytes.
func (d *avroDecoder) blockCount(minSize int) (int, error) {
	count, err := d.long()
	if err != nil {
		return 0, err
	}
	if count < 0 {
		if count == math.MinInt64 {
			return 0, d.fail("", fmt.Errorf("malformed: block count %d", count))
		}
		count = -count
		if _, err := d.long(); err != nil {
			return 0, err
		}
	}
	if minSize == 0 {
		d.zeroItems += int(min(count, maxAvroZeroItems+1))
		if d.zeroItems > maxAvroZeroItems {
			return 0, d.fail("", fmt.Errorf("malformed: more than %d items that take no bytes", maxAvroZeroItems))
		}
	} else if count > int64(len(d.b)-d.pos)/int64(minSize) {
		return 0, d.fail("", errTruncated)
	}
	return int(count), nil
}

// decimalFloat reads a decimal's big-endian two's-complement unscaled
// value and scales it to the nearest float64.
func decimalFloat(b []byte, scale int) float64 {
	if len(b) <= 8 {
		var u uint64
		for _, c := range b {
			u = u<<8 | uint64(c)
		}
		var v int64
		if len(b) > 0 {
			shift := uint(64 - 8*len(b))
			v = int64(u<<shift) >> shift // sign-extend
		}
		if v > -1<<53 && v < 1<<53 && scale <= 22 {
			// Both exact as float64: one correctly rounded division.
			return float64(v) / pow10[scale]
		}
		return ratFloat(big.NewInt(v), scale)
	}
	x := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return ratFloat(x, scale)
}

func ratFloat(x *big.Int, scale int) float64 {
	r := new(big.Rat).SetFrac(x, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	f, _ := r.Float64()
	return f
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// prefixField puts name in front of a RecordError's field path:
// items + [2].qty is items[2].qty, order + qty is order.qty.
func prefixField(err error, name string) error {
	var re *RecordError
	if !errors.As(err, &re) {
		return &RecordError{Field: name, Err: err}
	}
	switch {
	case re.Field == "":
		re.Field = name
	case re.Field[0] == '[':
		re.Field = name + re.Field
	default:
		re.Field = name + "." + re.Field
	}
	return re
}
