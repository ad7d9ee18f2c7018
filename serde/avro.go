package serde

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/hamba/avro/v2"

	"github.com/conveyor-dev/conveyor/record"
)

// Avro values are read and written by a plan compiled from the schema once
// (an avroNode tree, see avrodecode.go and avroencode.go) rather than
// through hamba/avro's generic decoder: that one yields int, float32 and
// fixed arrays which would then need a second pass to normalise, and the
// plan is several times faster. hamba/avro parses and validates the schema.
//
// The values, decoding and what encoding accepts:
//
//	null                      nil
//	boolean                   bool
//	int, long                 int64 (encode: any Go integer in range, an integral float64)
//	float, double             float64 (a float is widened: 1.1f decodes as 1.100000023841858)
//	string                    string (encode: also []byte)
//	bytes                     []byte (encode: also string)
//	fixed                     []byte of the fixed size (encode: also string)
//	enum                      string, one of the symbols
//	array                     []any (encode: any slice)
//	map                       map[string]any (encode: any map with string keys)
//	record                    map[string]any of every field; encode: a missing
//	                          field takes its default, or null when its type
//	                          allows null; a key that is not a field is an error
//	union [null, T]           nil or T's value
//	other unions              the value of the branch written; the branch's name
//	                          is not kept, so encoding picks the first branch
//	                          that holds the value exactly (an int64 goes to
//	                          int if it fits, else long), then the first that
//	                          takes it at all
//	timestamp-millis/micros   time.Time in UTC (encode: also an RFC 3339 string,
//	                          or an int64 in the schema's unit)
//	local-timestamp-*         time.Time in UTC, the wall clock read as UTC
//	date                      time.Time at midnight UTC (encode: also
//	                          "2006-01-02", RFC 3339, or an int64 day count)
//	time-millis/micros        int64 in the schema's unit since midnight
//	decimal                   float64: exact up to 15 significant digits, the
//	                          nearest float64 beyond (encode: also int64, or a
//	                          decimal string, which keeps every digit); values
//	                          are rounded half away from zero to the scale and
//	                          checked against the precision
//	uuid                      string (not validated)
//	duration                  []byte, the 12 bytes as written
//
// Schema references (named types from other subjects) are not supported.

// avroSchema is a parsed Avro schema.
type avroSchema struct {
	text string // the schema as compact JSON of the original text
	root *avroNode
	typ  record.Type
	// size is the last payload's size, so Encode allocates once.
	size atomic.Int64
}

func parseAvro(text string) (payloadSchema, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(text)); err != nil {
		return nil, fmt.Errorf("avro schema is not JSON: %w", err)
	}
	// A cache of our own: hamba's default one is global, and two schemas
	// may define the same name differently.
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("avro schema: %w", err)
	}
	c := avroCompiler{named: map[string]*avroNode{}}
	root, err := c.compile(s)
	if err != nil {
		return nil, fmt.Errorf("avro schema: %w", err)
	}
	return &avroSchema{
		text: compact.String(),
		root: root,
		typ:  root.recordType(map[*avroNode]bool{}),
	}, nil
}

func (s *avroSchema) Format() Format    { return Avro }
func (s *avroSchema) Text() string      { return s.text }
func (s *avroSchema) Type() record.Type { return s.typ }

func (s *avroSchema) decode(payload []byte) (any, error) {
	d := avroDecoder{b: payload}
	v, err := d.value(s.root)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (s *avroSchema) encode(v any) ([]byte, error) {
	return s.encodePrefixed(nil, v)
}

// encodePrefixed returns prefix followed by v's payload: the codec passes
// the wire header, so a record is one allocation.
func (s *avroSchema) encodePrefixed(prefix []byte, v any) ([]byte, error) {
	dst := make([]byte, len(prefix), len(prefix)+int(s.size.Load())+16)
	copy(dst, prefix)
	e := avroEncoder{}
	out, err := e.value(dst, s.root, v)
	if err != nil {
		return nil, err
	}
	if n := int64(len(out) - len(prefix)); n != s.size.Load() {
		s.size.Store(n)
	}
	return out, nil
}

// avroKind is an Avro type, avroLogical its logical type.
type (
	avroKind    uint8
	avroLogical uint8
)

const (
	avroNull avroKind = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroArray
	avroMap
	avroUnion
	avroFixed
)

const (
	logicalNone avroLogical = iota
	logicalDecimal
	logicalUUID
	logicalDate
	logicalTimeMillis
	logicalTimeMicros
	logicalTimestampMillis
	logicalTimestampMicros
	logicalLocalTimestampMillis
	logicalLocalTimestampMicros
	logicalDuration
)

var logicalNames = map[avro.LogicalType]avroLogical{
	avro.Decimal:              logicalDecimal,
	avro.UUID:                 logicalUUID,
	avro.Date:                 logicalDate,
	avro.TimeMillis:           logicalTimeMillis,
	avro.TimeMicros:           logicalTimeMicros,
	avro.TimestampMillis:      logicalTimestampMillis,
	avro.TimestampMicros:      logicalTimestampMicros,
	avro.LocalTimestampMillis: logicalLocalTimestampMillis,
	avro.LocalTimestampMicros: logicalLocalTimestampMicros,
	avro.Duration:             logicalDuration,
}

// avroNode is one type of a compiled schema. Named types appear once and
// are shared, so a recursive record is a cycle.
type avroNode struct {
	kind    avroKind
	logical avroLogical
	name    string // records, enums and fixed: the full name

	precision, scale int // decimal
	size             int // fixed

	fields   []avroField    // record
	symbols  []string       // enum
	symbol   map[string]int // enum: index by symbol
	items    *avroNode      // array items, map values
	branches []*avroNode    // union

	// nullIndex is the index of a union's null branch, -1 without one;
	// valueIndex is the other branch's of a union [null, T], else -1.
	nullIndex, valueIndex int

	// minSize is the fewest bytes a value takes, to bound item counts
	// before allocating.
	minSize int
}

type avroField struct {
	name string
	doc  string
	node *avroNode
	// def is the default's encoding; hasDef tells whether there is one.
	def    []byte
	hasDef bool
	// null is the encoding of null when the type allows null (and there
	// is no default), for a missing field.
	null    []byte
	canNull bool
}

type avroCompiler struct {
	named map[string]*avroNode
}

func (c *avroCompiler) compile(s avro.Schema) (*avroNode, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch s := s.(type) {
	case *avro.NullSchema:
		return &avroNode{kind: avroNull}, nil
	case *avro.PrimitiveSchema:
		n := &avroNode{}
		switch s.Type() {
		case avro.Boolean:
			n.kind, n.minSize = avroBoolean, 1
		case avro.Int:
			n.kind, n.minSize = avroInt, 1
		case avro.Long:
			n.kind, n.minSize = avroLong, 1
		case avro.Float:
			n.kind, n.minSize = avroFloat, 4
		case avro.Double:
			n.kind, n.minSize = avroDouble, 8
		case avro.Bytes:
			n.kind, n.minSize = avroBytes, 1
		case avro.String:
			n.kind, n.minSize = avroString, 1
		default:
			return nil, fmt.Errorf("unsupported primitive type %s", s.Type())
		}
		setLogical(n, s.Logical())
		return n, nil
	case *avro.RecordSchema:
		if n := c.named[s.FullName()]; n != nil {
			return n, nil
		}
		n := &avroNode{kind: avroRecord, name: s.FullName()}
		c.named[n.name] = n // before the fields: they may refer to it
		n.fields = make([]avroField, len(s.Fields()))
		for i, f := range s.Fields() {
			fn, err := c.compile(f.Type())
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name(), err)
			}
			n.fields[i] = avroField{name: f.Name(), doc: f.Doc(), node: fn}
		}
		// Defaults and sizes once every node exists.
		for i, f := range s.Fields() {
			af := &n.fields[i]
			if f.HasDefault() {
				def, err := appendDefault(nil, af.node, f.Default())
				if err != nil {
					return nil, fmt.Errorf("field %s: default: %w", f.Name(), err)
				}
				af.def, af.hasDef = def, true
			} else if af.node.kind == avroNull {
				af.null, af.canNull = []byte{}, true
			} else if af.node.kind == avroUnion && af.node.nullIndex >= 0 {
				af.null, af.canNull = appendLong(nil, int64(af.node.nullIndex)), true
			}
			n.minSize += af.node.minSize
		}
		return n, nil
	case *avro.EnumSchema:
		if n := c.named[s.FullName()]; n != nil {
			return n, nil
		}
		n := &avroNode{kind: avroEnum, name: s.FullName(), symbols: s.Symbols(), minSize: 1,
			symbol: make(map[string]int, len(s.Symbols()))}
		for i, sym := range n.symbols {
			n.symbol[sym] = i
		}
		c.named[n.name] = n
		return n, nil
	case *avro.FixedSchema:
		if n := c.named[s.FullName()]; n != nil {
			return n, nil
		}
		n := &avroNode{kind: avroFixed, name: s.FullName(), size: s.Size(), minSize: s.Size()}
		setLogical(n, s.Logical())
		c.named[n.name] = n
		return n, nil
	case *avro.ArraySchema:
		items, err := c.compile(s.Items())
		if err != nil {
			return nil, err
		}
		return &avroNode{kind: avroArray, items: items, minSize: 1}, nil
	case *avro.MapSchema:
		values, err := c.compile(s.Values())
		if err != nil {
			return nil, err
		}
		return &avroNode{kind: avroMap, items: values, minSize: 1}, nil
	case *avro.UnionSchema:
		n := &avroNode{kind: avroUnion, nullIndex: -1, valueIndex: -1, minSize: 1}
		for i, t := range s.Types() {
			b, err := c.compile(t)
			if err != nil {
				return nil, err
			}
			if b.kind == avroNull {
				n.nullIndex = i
			}
			n.branches = append(n.branches, b)
		}
		if len(n.branches) == 2 && n.nullIndex >= 0 {
			n.valueIndex = 1 - n.nullIndex
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported schema type %s", s.Type())
}

func setLogical(n *avroNode, l avro.LogicalSchema) {
	if l == nil {
		return
	}
	n.logical = logicalNames[l.Type()]
	if d, ok := l.(*avro.DecimalLogicalSchema); ok {
		n.precision, n.scale = d.Precision(), d.Scale()
	}
}

// describe names the type in messages: long, record shop.Order,
// timestamp-millis, union [null, string].
func (n *avroNode) describe() string {
	switch n.logical {
	case logicalDecimal:
		return fmt.Sprintf("decimal(%d,%d)", n.precision, n.scale)
	case logicalNone:
	default:
		for name, l := range logicalNames {
			if l == n.logical {
				return string(name)
			}
		}
	}
	switch n.kind {
	case avroNull:
		return "null"
	case avroBoolean:
		return "boolean"
	case avroInt:
		return "int"
	case avroLong:
		return "long"
	case avroFloat:
		return "float"
	case avroDouble:
		return "double"
	case avroBytes:
		return "bytes"
	case avroString:
		return "string"
	case avroRecord:
		return "record " + n.name
	case avroEnum:
		return "enum " + n.name
	case avroFixed:
		return fmt.Sprintf("fixed %s (%d bytes)", n.name, n.size)
	case avroArray:
		return "array"
	case avroMap:
		return "map"
	case avroUnion:
		s := "union ["
		for i, b := range n.branches {
			if i > 0 {
				s += ", "
			}
			s += b.describe()
		}
		return s + "]"
	}
	return "?"
}

// recordType is what the node promises about values. seen holds the
// records being described, so a recursive record's inner self is Unknown.
func (n *avroNode) recordType(seen map[*avroNode]bool) record.Type {
	switch n.logical {
	case logicalDecimal:
		return record.Type{Kind: record.Float}
	case logicalUUID:
		return record.Type{Kind: record.Text}
	case logicalDate, logicalTimestampMillis, logicalTimestampMicros,
		logicalLocalTimestampMillis, logicalLocalTimestampMicros:
		return record.Type{Kind: record.Time}
	case logicalTimeMillis, logicalTimeMicros:
		return record.Type{Kind: record.Int}
	}
	switch n.kind {
	case avroNull:
		return record.Type{Kind: record.Null, Nullable: true}
	case avroBoolean:
		return record.Type{Kind: record.Bool}
	case avroInt, avroLong:
		return record.Type{Kind: record.Int}
	case avroFloat, avroDouble:
		return record.Type{Kind: record.Float}
	case avroString, avroEnum:
		return record.Type{Kind: record.Text}
	case avroBytes, avroFixed:
		return record.Type{Kind: record.Binary}
	case avroArray:
		e := n.items.recordType(seen)
		return record.Type{Kind: record.List, Elem: &e}
	case avroMap:
		e := n.items.recordType(seen)
		return record.Type{Kind: record.Map, Elem: &e}
	case avroRecord:
		if seen[n] {
			return record.Type{}
		}
		seen[n] = true
		defer delete(seen, n)
		t := record.Type{Kind: record.Object, Fields: make([]record.Field, len(n.fields))}
		for i, f := range n.fields {
			t.Fields[i] = record.Field{Name: f.name, Type: f.node.recordType(seen), Doc: f.doc}
		}
		return t
	case avroUnion:
		// [null, T] is T, nullable; a union whose other branches are all
		// of one scalar kind (["int", "long"]) is that kind; any other
		// union is Unknown.
		var t record.Type
		first := true
		for i, b := range n.branches {
			if i == n.nullIndex {
				continue
			}
			bt := b.recordType(seen)
			switch {
			case first:
				t, first = bt, false
			case bt.Kind != t.Kind || bt.Kind == record.List || bt.Kind == record.Map || bt.Kind == record.Object:
				return record.Type{Nullable: n.nullIndex >= 0}
			}
		}
		if first {
			return record.Type{Kind: record.Null, Nullable: true}
		}
		t.Nullable = t.Nullable || n.nullIndex >= 0
		return t
	}
	return record.Type{}
}
