package serde

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/conveyor-dev/conveyor/record"
)

// protoFileName is the name the schema's text compiles under; imports of
// the well-known types (google/protobuf/timestamp.proto, ...) resolve to
// the copies compiled into the protobuf runtime.
const protoFileName = "schema.proto"

// Well-known messages with a value of their own.
const (
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	// Timestamps range over years 1 to 9999, as the protobuf runtime's.
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// wrapperNames are the google/protobuf/wrappers.proto messages: a single
// field named value, read and written as that value (or nil when unset).
var wrapperNames = map[protoreflect.FullName]bool{
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value": true, "google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue": true, "google.protobuf.StringValue": true,
	"google.protobuf.BytesValue": true,
}

// protoSchema is a compiled .proto file. Its payloads are Confluent's:
// the message indexes naming a message of the file, then that message in
// the protobuf encoding. Records are written as the file's first message,
// as Confluent's serializers do by default.
type protoSchema struct {
	text string
	file protoreflect.FileDescriptor
	msg  protoreflect.MessageDescriptor // the writer's: the first message
	typ  record.Type
}

func parseProtobuf(text string) (payloadSchema, error) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{protoFileName: text}),
		}),
		MaxParallelism: 1,
		// Comments become the fields' docs.
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(context.Background(), protoFileName)
	if err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	compiled := files.FindFileByPath(protoFileName)
	if compiled == nil || compiled.Messages().Len() == 0 {
		return nil, errors.New("protobuf: the file declares no message")
	}
	// Rebuilt as the protobuf runtime's own descriptors, which answer
	// HasPresence, Syntax and the like from fields rather than working
	// them out on every call as the compiler's do: a third of decoding.
	// Its imports can only be the well-known files, which the runtime has.
	fd, err := protodesc.NewFile(protodesc.ToFileDescriptorProto(compiled), protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	md := fd.Messages().Get(0)
	return &protoSchema{
		text: text,
		file: fd,
		msg:  md,
		typ:  protoMessageType(md, map[protoreflect.FullName]bool{}),
	}, nil
}

func (s *protoSchema) Format() Format    { return Protobuf }
func (s *protoSchema) Text() string      { return s.text }
func (s *protoSchema) Type() record.Type { return s.typ }

func (s *protoSchema) decode(payload []byte) (any, error) {
	md, n, err := s.readIndexes(payload)
	if err != nil {
		return nil, &RecordError{Err: err}
	}
	m := dynamicpb.NewMessage(md)
	if err := unmarshalProto(payload[n:], m); err != nil {
		return nil, &RecordError{Err: fmt.Errorf("decode protobuf %s: %w", md.FullName(), err)}
	}
	return protoMessageValue(m)
}

// unmarshalProto is proto.Unmarshal, turning a panic into an error. The
// runtime's reflective decoder (the one dynamic messages use) panics on
// some malformed map entries: a key field given twice, the second time
// with the wrong wire type, leaves the key invalid (found by
// FuzzProtobufDecode; google.golang.org/protobuf v1.36.12).
func unmarshalProto(b []byte, m proto.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed protobuf: %v", r)
		}
	}()
	// Unknown fields would be dropped by the walk anyway. The walk checks
	// required fields too, for less than the runtime's check costs.
	return proto.UnmarshalOptions{DiscardUnknown: true, AllowPartial: true}.Unmarshal(b, m)
}

func (s *protoSchema) encode(v any) ([]byte, error) {
	return s.encodeAs([]int{0}, s.msg, v)
}

// encodeAs writes v as the message md, which the indexes name.
func (s *protoSchema) encodeAs(indexes []int, md protoreflect.MessageDescriptor, v any) ([]byte, error) {
	m := dynamicpb.NewMessage(md)
	if err := setProtoMessage(m, v); err != nil {
		return nil, err
	}
	// setProtoMessage checked the required fields.
	b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.MarshalAppend(appendIndexes(nil, indexes), m)
	if err != nil {
		return nil, &RecordError{Err: fmt.Errorf("encode protobuf %s: %w", md.FullName(), err)}
	}
	return b, nil
}

// readIndexes reads the message indexes at the start of a payload and
// returns the message they name and their length in bytes. The indexes are
// a zigzag varint count and as many zigzag varints: the index of a
// top-level message in the file, then of a message nested in it, and so
// on, counting messages only (see declaredMessage). A count of 0 stands
// for [0], the first message.
func (s *protoSchema) readIndexes(b []byte) (protoreflect.MessageDescriptor, int, error) {
	if len(b) > 0 && b[0] == 0 {
		return s.msg, 1, nil
	}
	count, n := binary.Varint(b)
	if n <= 0 {
		return nil, 0, errors.New("protobuf message indexes: truncated or malformed varint")
	}
	// Each index takes a byte at least: a count beyond the payload is
	// corrupt, and must not size an allocation.
	if count < 0 || count > int64(len(b)-n) {
		return nil, 0, fmt.Errorf("protobuf message indexes: bad count %d", count)
	}
	if count == 0 {
		return s.msg, n, nil // 0 written in more bytes than it needs
	}
	msgs := s.file.Messages()
	var md protoreflect.MessageDescriptor
	path := make([]string, 0, count)
	for range count {
		i, k := binary.Varint(b[n:])
		if k <= 0 {
			return nil, 0, errors.New("protobuf message indexes: truncated or malformed varint")
		}
		n += k
		path = append(path, strconv.FormatInt(i, 10))
		if md = declaredMessage(msgs, i); md == nil {
			return nil, 0, fmt.Errorf("protobuf message indexes [%s] name no message of the schema", strings.Join(path, ", "))
		}
		msgs = md.Messages()
	}
	return md, n, nil
}

// declaredMessage returns the i-th message declared in a file or message,
// or nil. The map entry messages the compiler adds for map fields do not
// count: Confluent's serializers number the messages of the .proto text.
func declaredMessage(msgs protoreflect.MessageDescriptors, i int64) protoreflect.MessageDescriptor {
	if i < 0 {
		return nil
	}
	for j := range msgs.Len() {
		md := msgs.Get(j)
		if md.IsMapEntry() {
			continue
		}
		if i == 0 {
			return md
		}
		i--
	}
	return nil
}

// appendIndexes writes message indexes as readIndexes reads them; [0] is
// the single byte 0.
func appendIndexes(b []byte, indexes []int) []byte {
	if len(indexes) == 1 && indexes[0] == 0 {
		return append(b, 0)
	}
	b = binary.AppendVarint(b, int64(len(indexes)))
	for _, i := range indexes {
		b = binary.AppendVarint(b, int64(i))
	}
	return b
}

// protoMessageValue renders a message as our values: every field of the
// message under its proto name. A field that records presence (a message,
// an optional or proto2 field, a oneof member) is nil when unset; any
// other is its value, the zero value when unset.
//
// The only error is a Timestamp out of its range (years 1 to 9999, nanos
// below a second), which no time value the encoder accepts stands for.
func protoMessageValue(m protoreflect.Message) (any, error) {
	md := m.Descriptor()
	switch name := md.FullName(); {
	case name == timestampName:
		f := md.Fields()
		sec, nanos := m.Get(f.ByNumber(1)).Int(), m.Get(f.ByNumber(2)).Int()
		if sec < minTimestampSeconds || sec > maxTimestampSeconds || nanos < 0 || nanos >= 1e9 {
			return nil, &RecordError{Err: fmt.Errorf("timestamp {seconds: %d, nanos: %d} is out of range", sec, nanos)}
		}
		return time.Unix(sec, nanos).UTC(), nil
	case wrapperNames[name]:
		fd := md.Fields().ByNumber(1)
		return protoScalarValue(fd, m.Get(fd))
	}
	fields := md.Fields()
	out := make(map[string]any, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		v, err := protoFieldValue(m, fd)
		if err != nil {
			return nil, withStep(err, "."+string(fd.Name()))
		}
		out[string(fd.Name())] = v
	}
	return out, nil
}

func protoFieldValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) (any, error) {
	switch {
	case fd.IsList():
		l := m.Get(fd).List()
		out := make([]any, l.Len())
		for i := range out {
			v, err := protoScalarValue(fd, l.Get(i))
			if err != nil {
				return nil, withStep(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = v
		}
		return out, nil
	case fd.IsMap():
		mp := m.Get(fd).Map()
		out := make(map[string]any, mp.Len())
		vd := fd.MapValue()
		var err error
		mp.Range(func(k protoreflect.MapKey, pv protoreflect.Value) bool {
			var v any
			if v, err = protoScalarValue(vd, pv); err != nil {
				err = withStep(err, "."+k.String())
				return false
			}
			out[k.String()] = v
			return true
		})
		return out, err
	case fd.HasPresence() && !m.Has(fd):
		if fd.Cardinality() == protoreflect.Required {
			return nil, &RecordError{Err: errors.New("required by the schema but missing")}
		}
		return nil, nil
	}
	return protoScalarValue(fd, m.Get(fd))
}

// protoScalarValue renders one value of a field (an element, for lists
// and maps). A uint64 beyond int64 becomes float64, the nearest: our
// values have no unsigned integers.
func protoScalarValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u := v.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return float64(v.Uint()), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float(), nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		if b := v.Bytes(); b != nil {
			return b, nil
		}
		return []byte{}, nil
	case protoreflect.EnumKind:
		n := v.Enum()
		if ev := fd.Enum().Values().ByNumber(n); ev != nil {
			return string(ev.Name()), nil
		}
		return int64(n), nil // a number this schema does not name (open enums)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoMessageValue(v.Message())
	}
	return nil, &RecordError{Err: fmt.Errorf("unsupported field kind %s", fd.Kind())}
}

// setProtoMessage fills m from v, which must be an object of m's fields.
func setProtoMessage(m protoreflect.Message, v any) error {
	md := m.Descriptor()
	obj, ok := v.(map[string]any)
	if !ok {
		return &RecordError{Err: fmt.Errorf("message %s wants an object, got %s", md.FullName(), valueKind(v))}
	}
	fields := md.Fields()
	found := 0
	var oneofs map[protoreflect.FullName]protoreflect.Name
	for i := range fields.Len() {
		fd := fields.Get(i)
		e, ok := obj[string(fd.Name())]
		if ok {
			found++
		}
		if e == nil {
			if fd.Cardinality() == protoreflect.Required {
				return &RecordError{Field: string(fd.Name()), Err: errors.New("required by the schema but missing")}
			}
			continue
		}
		if od := fd.ContainingOneof(); od != nil {
			if other, dup := oneofs[od.FullName()]; dup {
				return &RecordError{Field: string(fd.Name()),
					Err: fmt.Errorf("set together with %s, but both are of oneof %s", other, od.Name())}
			}
			if oneofs == nil {
				oneofs = map[protoreflect.FullName]protoreflect.Name{}
			}
			oneofs[od.FullName()] = fd.Name()
		}
		if err := setProtoField(m, fd, e); err != nil {
			return withStep(err, "."+string(fd.Name()))
		}
	}
	if found < len(obj) {
		var unknown []string
		for k := range obj {
			if fields.ByName(protoreflect.Name(k)) == nil {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		return &RecordError{Field: unknown[0], Err: fmt.Errorf("no such field in message %s", md.FullName())}
	}
	return nil
}

func setProtoField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v any) error {
	switch {
	case fd.IsList():
		l, ok := v.([]any)
		if !ok {
			return &RecordError{Err: fmt.Errorf("repeated field wants a list, got %s", valueKind(v))}
		}
		list := m.Mutable(fd).List()
		for i, e := range l {
			pv, err := protoValue(fd, e, list.NewElement)
			if err != nil {
				return withStep(err, "["+strconv.Itoa(i)+"]")
			}
			list.Append(pv)
		}
		return nil
	case fd.IsMap():
		obj, ok := v.(map[string]any)
		if !ok {
			return &RecordError{Err: fmt.Errorf("map field wants an object, got %s", valueKind(v))}
		}
		mp := m.Mutable(fd).Map()
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys) // so the first bad entry is always the same one
		for _, k := range keys {
			mk, err := protoMapKey(fd.MapKey(), k)
			if err != nil {
				return withStep(err, "."+k)
			}
			pv, err := protoValue(fd.MapValue(), obj[k], mp.NewValue)
			if err != nil {
				return withStep(err, "."+k)
			}
			mp.Set(mk, pv)
		}
		return nil
	}
	pv, err := protoValue(fd, v, func() protoreflect.Value { return m.NewField(fd) })
	if err != nil {
		return err
	}
	m.Set(fd, pv)
	return nil
}

// protoValue converts one value for a field (an element, for lists and
// maps); newMessage makes the message a message field's value goes into.
func protoValue(fd protoreflect.FieldDescriptor, v any, newMessage func() protoreflect.Value) (protoreflect.Value, error) {
	if v == nil {
		return protoreflect.Value{}, &RecordError{Err: errors.New("null in a repeated or map field")}
	}
	mismatch := func(want string) (protoreflect.Value, error) {
		return protoreflect.Value{}, &RecordError{Err: fmt.Errorf("%s field wants %s, got %s", fd.Kind(), want, valueKind(v))}
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if b, ok := v.(bool); ok {
			return protoreflect.ValueOfBool(b), nil
		}
		return mismatch("a bool")
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		i, ok, err := pbInt64(v)
		if !ok {
			return mismatch("an integer")
		}
		if err == nil && (i < math.MinInt32 || i > math.MaxInt32) {
			err = fmt.Errorf("%d is out of range for %s", i, fd.Kind())
		}
		if err != nil {
			return protoreflect.Value{}, &RecordError{Err: err}
		}
		return protoreflect.ValueOfInt32(int32(i)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, ok, err := pbInt64(v)
		if !ok {
			return mismatch("an integer")
		}
		if err != nil {
			return protoreflect.Value{}, &RecordError{Err: err}
		}
		return protoreflect.ValueOfInt64(i), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		u, ok, err := pbUint64(v)
		if !ok {
			return mismatch("an integer")
		}
		if err == nil && u > math.MaxUint32 {
			err = fmt.Errorf("%d is out of range for %s", u, fd.Kind())
		}
		if err != nil {
			return protoreflect.Value{}, &RecordError{Err: err}
		}
		return protoreflect.ValueOfUint32(uint32(u)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u, ok, err := pbUint64(v)
		if !ok {
			return mismatch("an integer")
		}
		if err != nil {
			return protoreflect.Value{}, &RecordError{Err: err}
		}
		return protoreflect.ValueOfUint64(u), nil
	case protoreflect.FloatKind:
		f, ok := pbFloat64(v)
		if !ok {
			return mismatch("a number")
		}
		if !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
			return protoreflect.Value{}, &RecordError{Err: fmt.Errorf("%g is out of range for float", f)}
		}
		return protoreflect.ValueOfFloat32(float32(f)), nil
	case protoreflect.DoubleKind:
		f, ok := pbFloat64(v)
		if !ok {
			return mismatch("a number")
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return mismatch("a string")
		}
		// proto3 strings must be UTF-8; Marshal would refuse them later,
		// without saying which field.
		if fd.ParentFile() != nil && fd.ParentFile().Syntax() == protoreflect.Proto3 && !utf8.ValidString(s) {
			return protoreflect.Value{}, &RecordError{Err: errors.New("string is not valid UTF-8")}
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		switch t := v.(type) {
		case []byte:
			return protoreflect.ValueOfBytes(t), nil
		case string:
			return protoreflect.ValueOfBytes([]byte(t)), nil
		}
		return mismatch("bytes or a string")
	case protoreflect.EnumKind:
		return protoEnumValue(fd, v)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoMessageField(fd, v, newMessage)
	}
	return mismatch("a value of a kind this codec does not write")
}

func protoEnumValue(fd protoreflect.FieldDescriptor, v any) (protoreflect.Value, error) {
	ed := fd.Enum()
	if s, ok := v.(string); ok {
		ev := ed.Values().ByName(protoreflect.Name(s))
		if ev == nil {
			return protoreflect.Value{}, &RecordError{Err: fmt.Errorf("%q is not a value of enum %s", s, ed.FullName())}
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	}
	i, ok, err := pbInt64(v)
	if !ok {
		return protoreflect.Value{}, &RecordError{Err: fmt.Errorf("enum field wants a value name or number, got %s", valueKind(v))}
	}
	if err == nil && (i < math.MinInt32 || i > math.MaxInt32) {
		err = fmt.Errorf("%d is out of range for an enum", i)
	}
	if err == nil && ed.IsClosed() && ed.Values().ByNumber(protoreflect.EnumNumber(i)) == nil {
		err = fmt.Errorf("%d is not a value of the closed enum %s", i, ed.FullName())
	}
	if err != nil {
		return protoreflect.Value{}, &RecordError{Err: err}
	}
	return protoreflect.ValueOfEnum(protoreflect.EnumNumber(i)), nil
}

func protoMessageField(fd protoreflect.FieldDescriptor, v any, newMessage func() protoreflect.Value) (protoreflect.Value, error) {
	md := fd.Message()
	mv := newMessage()
	m := mv.Message()
	switch name := md.FullName(); {
	case name == timestampName:
		if _, isObj := v.(map[string]any); isObj {
			// {seconds, nanos}, as any message, within the range.
			if err := setProtoMessage(m, v); err != nil {
				return protoreflect.Value{}, err
			}
			if _, err := protoMessageValue(m); err != nil {
				return protoreflect.Value{}, err
			}
			return mv, nil
		}
		t, err := toTime(v)
		if err != nil {
			return protoreflect.Value{}, &RecordError{Err: err}
		}
		sec := t.Unix()
		if sec < minTimestampSeconds || sec > maxTimestampSeconds {
			return protoreflect.Value{}, &RecordError{Err: fmt.Errorf("time %s is out of range for a Timestamp (years 1 to 9999)", t.Format(time.RFC3339))}
		}
		f := md.Fields()
		m.Set(f.ByNumber(1), protoreflect.ValueOfInt64(sec))
		m.Set(f.ByNumber(2), protoreflect.ValueOfInt32(int32(t.Nanosecond())))
		return mv, nil
	case wrapperNames[name]:
		vd := md.Fields().ByNumber(1)
		pv, err := protoValue(vd, v, nil)
		if err != nil {
			return protoreflect.Value{}, err
		}
		m.Set(vd, pv)
		return mv, nil
	}
	if err := setProtoMessage(m, v); err != nil {
		return protoreflect.Value{}, err
	}
	return mv, nil
}

func protoMapKey(fd protoreflect.FieldDescriptor, k string) (protoreflect.MapKey, error) {
	bad := func(err error) (protoreflect.MapKey, error) {
		return protoreflect.MapKey{}, &RecordError{Err: fmt.Errorf("map key %q is not a %s: %w", k, fd.Kind(), err)}
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(k).MapKey(), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(k)
		if err != nil || (k != "true" && k != "false") {
			return bad(errors.New("want true or false"))
		}
		return protoreflect.ValueOfBool(b).MapKey(), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		i, err := strconv.ParseInt(k, 10, 32)
		if err != nil {
			return bad(err)
		}
		return protoreflect.ValueOfInt32(int32(i)).MapKey(), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return bad(err)
		}
		return protoreflect.ValueOfInt64(i).MapKey(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		u, err := strconv.ParseUint(k, 10, 32)
		if err != nil {
			return bad(err)
		}
		return protoreflect.ValueOfUint32(uint32(u)).MapKey(), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			return bad(err)
		}
		return protoreflect.ValueOfUint64(u).MapKey(), nil
	}
	return bad(errors.New("unsupported map key kind"))
}

// toInt64 converts an integer value: int64, another Go integer, an integral
// float64 (what arithmetic on integers may leave), or a json.Number (an
// integer JSON read beyond int64). ok is false for a value that is no
// number at all; err reports a number that is not an int64.
func pbInt64(v any) (i int64, ok bool, err error) {
	switch t := v.(type) {
	case int64:
		return t, true, nil
	case int:
		return int64(t), true, nil
	case int32:
		return int64(t), true, nil
	case float64:
		if t != math.Trunc(t) || t < -(1<<63) || t >= 1<<63 {
			return 0, true, fmt.Errorf("%g is not an integer in range", t)
		}
		return int64(t), true, nil
	case json.Number:
		i, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			return 0, true, fmt.Errorf("%s is not an integer in range", t)
		}
		return i, true, nil
	}
	return 0, false, nil
}

// toUint64 is toInt64 for unsigned fields. A float64 up to 2^64 is taken
// too: it is how decode renders a uint64 beyond int64, and float64(2^64-1)
// rounds up to 2^64.
func pbUint64(v any) (u uint64, ok bool, err error) {
	switch t := v.(type) {
	case float64:
		if t != math.Trunc(t) || t < 0 || t > 1<<64 {
			return 0, true, fmt.Errorf("%g is not an unsigned integer in range", t)
		}
		if t == 1<<64 {
			return math.MaxUint64, true, nil
		}
		return uint64(t), true, nil
	case json.Number:
		u, err := strconv.ParseUint(string(t), 10, 64)
		if err != nil {
			return 0, true, fmt.Errorf("%s is not an unsigned integer in range", t)
		}
		return u, true, nil
	}
	i, ok, err := pbInt64(v)
	if ok && err == nil && i < 0 {
		err = fmt.Errorf("%d is negative, for an unsigned field", i)
	}
	return uint64(i), ok, err
}

func pbFloat64(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int64:
		return float64(t), true
	case int:
		return float64(t), true
	case float32:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

// toTime reads a timestamp: a time.Time or RFC 3339 text.
func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		tm, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp field wants a time or RFC 3339 text: %w", err)
		}
		return tm, nil
	}
	return time.Time{}, fmt.Errorf("timestamp field wants a time or RFC 3339 text, got %s", valueKind(v))
}

// valueKind names a value's kind for messages, as docs name them.
func valueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case int64, int, int32, json.Number:
		return "an integer"
	case float64, float32:
		return "a float"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case time.Time:
		return "a timestamp"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// protoMessageType describes a message's values; inProgress holds the
// messages being described, so a recursive message ends in Unknown.
func protoMessageType(md protoreflect.MessageDescriptor, inProgress map[protoreflect.FullName]bool) record.Type {
	switch name := md.FullName(); {
	case name == timestampName:
		return record.Type{Kind: record.Time}
	case wrapperNames[name]:
		return protoKindType(md.Fields().ByNumber(1), inProgress)
	case inProgress[name]:
		return record.Type{}
	}
	inProgress[md.FullName()] = true
	defer delete(inProgress, md.FullName())
	fields := md.Fields()
	t := record.Type{Kind: record.Object, Fields: make([]record.Field, 0, fields.Len())}
	for i := range fields.Len() {
		fd := fields.Get(i)
		t.Fields = append(t.Fields, record.Field{Name: string(fd.Name()), Type: protoFieldType(fd, inProgress), Doc: protoDoc(fd)})
	}
	return t
}

func protoFieldType(fd protoreflect.FieldDescriptor, inProgress map[protoreflect.FullName]bool) record.Type {
	switch {
	case fd.IsMap():
		e := protoKindType(fd.MapValue(), inProgress)
		return record.Type{Kind: record.Map, Elem: &e}
	case fd.IsList():
		e := protoKindType(fd, inProgress)
		return record.Type{Kind: record.List, Elem: &e}
	}
	t := protoKindType(fd, inProgress)
	// A proto2 required field has presence, but decoding fails without it.
	t.Nullable = fd.HasPresence() && fd.Cardinality() != protoreflect.Required
	return t
}

// protoKindType describes one value of a field. uint64 is Int, though a
// value beyond int64 decodes as a float64; enums are Text, though a number
// the schema does not name decodes as an int64.
func protoKindType(fd protoreflect.FieldDescriptor, inProgress map[protoreflect.FullName]bool) record.Type {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return record.Type{Kind: record.Bool}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return record.Type{Kind: record.Int}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return record.Type{Kind: record.Float}
	case protoreflect.StringKind, protoreflect.EnumKind:
		return record.Type{Kind: record.Text}
	case protoreflect.BytesKind:
		return record.Type{Kind: record.Binary}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoMessageType(fd.Message(), inProgress)
	}
	return record.Type{}
}

// protoDoc is a field's comment in the .proto text, if any.
func protoDoc(fd protoreflect.FieldDescriptor) string {
	loc := fd.ParentFile().SourceLocations().ByDescriptor(fd)
	doc := strings.TrimSpace(loc.LeadingComments)
	if doc == "" {
		doc = strings.TrimSpace(loc.TrailingComments)
	}
	return doc
}
