package serde

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func orderProto(t testing.TB) *protoSchema {
	t.Helper()
	return readTestSchema(t, Protobuf, "protobuf_order.proto").(*protoSchema)
}

func mustProto(t testing.TB, text string) *protoSchema {
	t.Helper()
	s, err := parseProtobuf(text)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s.(*protoSchema)
}

var placedAt = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// protoOrderValue is an Order with every field set, as decode yields it.
func protoOrderValue() map[string]any {
	return map[string]any{
		"id":       int64(42),
		"customer": "c-1",
		"items": []any{
			map[string]any{"sku": "A-1", "qty": int64(2), "detail": map[string]any{"text": "red"}},
			map[string]any{"sku": "B-2", "qty": int64(1), "detail": nil},
		},
		"counts":    map[string]any{"a": int64(1), "b": int64(-5)},
		"placed_at": placedAt,
		"note":      "leave at the door",
		"priority":  int64(3),
		"status":    "PAID",
		"payload":   []byte{0, 1, 255},
		"total":     12.5,
		"ratio":     float64(float32(0.1)),
		"paid":      true,
		"big":       int64(math.MaxInt64),
		"small":     int64(math.MaxUint32),
		"s32":       int64(math.MinInt32),
		"sf64":      int64(math.MinInt64),
		"f32":       int64(7),
		"email":     "a@example.com",
		"phone":     nil,
		"by_slot": map[string]any{
			"1":  map[string]any{"sku": "X", "qty": int64(1), "detail": nil},
			"-2": map[string]any{"sku": "Y", "qty": int64(0), "detail": map[string]any{"text": ""}},
		},
		"maybe_count": int64(0), // a wrapper holding zero is not null
		"tags":        []any{"x", "y"},
		"flags":       map[string]any{"true": "yes", "false": "no"},
		"seen":        []any{placedAt, time.Unix(0, 0).UTC()},
	}
}

// protoEmptyOrder is an Order with no field set, as decode yields it:
// proto3 scalars are their zero values, fields with presence nil.
func protoEmptyOrder() map[string]any {
	return map[string]any{
		"id": int64(0), "customer": "", "items": []any{}, "counts": map[string]any{},
		"placed_at": nil, "note": nil, "priority": nil, "status": "UNKNOWN", "payload": []byte{},
		"total": 0.0, "ratio": 0.0, "paid": false, "big": int64(0), "small": int64(0),
		"s32": int64(0), "sf64": int64(0), "f32": int64(0), "email": nil, "phone": nil,
		"by_slot": map[string]any{}, "maybe_count": nil, "tags": []any{}, "flags": map[string]any{},
		"seen": []any{},
	}
}

func TestProtobufParse(t *testing.T) {
	s := orderProto(t)
	if s.msg.FullName() != "shop.Order" {
		t.Errorf("writer message %s, want the first, shop.Order", s.msg.FullName())
	}
	if s.Format() != Protobuf {
		t.Errorf("Format() = %s", s.Format())
	}
	text := "syntax = \"proto3\";\nmessage M { string a = 1; }\n"
	if got := mustProto(t, text).Text(); got != text {
		t.Errorf("Text() = %q, want the text as given", got)
	}
	for name, c := range map[string]struct{ text, msg string }{
		"syntax error":   {`syntax = "proto3"; message M { string a = ; }`, "schema.proto:1"},
		"unknown import": {`syntax = "proto3"; import "other.proto"; message M {}`, "other.proto"},
		"unknown type":   {`syntax = "proto3"; message M { Nope a = 1; }`, "Nope"},
		"no message":     {`syntax = "proto3"; enum E { A = 0; }`, "no message"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseProtobuf(c.text)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("parse error %v, want one naming %q", err, c.msg)
			}
		})
	}
}

func TestProtobufType(t *testing.T) {
	item := "{sku: string, qty: int, detail: {text: string}?}"
	want := "{id: int, customer: string, items: [" + item + "], counts: map[int], placed_at: timestamp?, " +
		"note: string?, priority: int?, status: string, payload: bytes, total: float, ratio: float, paid: bool, " +
		"big: int, small: int, s32: int, sf64: int, f32: int, email: string?, phone: string?, " +
		"by_slot: map[" + item + "], maybe_count: int?, tags: [string], flags: map[string], seen: [timestamp]}"
	typ := orderProto(t).Type()
	if got := typ.String(); got != want {
		t.Errorf("Type() =\n%s\nwant\n%s", got, want)
	}
	if typ.Fields[0].Doc != "The order's id." {
		t.Errorf("id's doc = %q, want its comment", typ.Fields[0].Doc)
	}
	legacy := readTestSchema(t, Protobuf, "protobuf_legacy.proto")
	if got, want := legacy.Type().String(), "{name: string, level: int?, kind: string?, children: [{label: string?, children: [any]}]}"; got != want {
		t.Errorf("proto2 Type() = %s, want %s", got, want)
	}
}

func TestProtobufRoundTrip(t *testing.T) {
	s := orderProto(t)
	for name, v := range map[string]map[string]any{"full": protoOrderValue(), "empty": protoEmptyOrder()} {
		t.Run(name, func(t *testing.T) {
			b, err := s.encode(v)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if b[0] != 0 {
				t.Errorf("payload starts %x, want the message index [0] as one 0 byte", b[:1])
			}
			got, err := s.decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, any(v)) {
				t.Errorf("decode(encode(v)) =\n%#v\nwant\n%#v", got, v)
			}
		})
	}
	// A record may leave out any field: it is unset.
	b, err := s.encode(map[string]any{})
	if err != nil || !bytes.Equal(b, []byte{0}) {
		t.Errorf("encode({}) = %x, %v; want 00", b, err)
	}
	got, err := s.decode(b)
	if err != nil || !reflect.DeepEqual(got, any(protoEmptyOrder())) {
		t.Errorf("decode(00) = %#v, %v", got, err)
	}
}

// TestProtobufConversions: the values encode takes beyond the ones decode
// yields, and what they come back as.
func TestProtobufConversions(t *testing.T) {
	s := orderProto(t)
	for _, c := range []struct {
		field    string
		in, want any
	}{
		{"placed_at", "2024-05-06T09:08:09.123456789+02:00", placedAt},
		{"placed_at", placedAt.In(time.FixedZone("", -5*3600)), placedAt},
		{"placed_at", map[string]any{"seconds": int64(1), "nanos": int64(2)}, time.Unix(1, 2).UTC()},
		{"status", int64(2), "SHIPPED"},
		{"status", int64(7), int64(7)}, // open enum: an unnamed number stays a number
		{"id", 3.0, int64(3)},
		{"id", json.Number("-9"), int64(-9)},
		{"total", int64(3), 3.0},
		{"payload", "text", []byte("text")},
		{"big", json.Number("18446744073709551615"), float64(math.MaxUint64)},
		{"big", float64(1 << 63), float64(1 << 63)},
		{"big", float64(math.MaxUint64), float64(math.MaxUint64)}, // 2^64: written as 2^64-1
		{"maybe_count", int64(-1), int64(-1)},
		{"note", "", ""},
	} {
		v := map[string]any{c.field: c.in}
		b, err := s.encode(v)
		if err != nil {
			t.Errorf("encode %s = %#v: %v", c.field, c.in, err)
			continue
		}
		got, err := s.decode(b)
		if err != nil {
			t.Errorf("decode %s: %v", c.field, err)
			continue
		}
		if g := got.(map[string]any)[c.field]; !reflect.DeepEqual(g, c.want) {
			t.Errorf("%s = %#v came back as %#v, want %#v", c.field, c.in, g, c.want)
		}
	}
	// uint64 beyond int64 round-trips exactly through its wire bytes.
	m := dynamicpb.NewMessage(s.msg)
	m.Set(s.msg.Fields().ByName("big"), protoreflect.ValueOfUint64(math.MaxUint64))
	wire, _ := proto.Marshal(m)
	v, err := s.decode(append([]byte{0}, wire...))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.encode(v)
	if err != nil || !bytes.Equal(again[1:], wire) {
		t.Errorf("uint64 max: %x came back as %x, %v", wire, again, err)
	}
}

func TestProtobufEncodeErrors(t *testing.T) {
	s := orderProto(t)
	for _, c := range []struct {
		name  string
		v     map[string]any
		field string
		msg   string
	}{
		{"unknown field", map[string]any{"id": int64(1), "nope": 1, "zzz": 2}, "nope", "no such field in message shop.Order"},
		{"unknown nested field", map[string]any{"items": []any{map[string]any{}, map[string]any{"colour": "red"}}}, "items[1].colour", "no such field in message shop.Order.Item"},
		{"string for an int", map[string]any{"items": []any{map[string]any{"qty": "3"}}}, "items[0].qty", "int32 field wants an integer, got a string"},
		{"int32 overflow", map[string]any{"items": []any{map[string]any{"qty": int64(1) << 40}}}, "items[0].qty", "out of range for int32"},
		{"sint32 underflow", map[string]any{"s32": int64(math.MinInt32) - 1}, "s32", "out of range"},
		{"uint32 overflow", map[string]any{"small": int64(math.MaxUint32) + 1}, "small", "out of range"},
		{"negative uint64", map[string]any{"big": int64(-1)}, "big", "negative"},
		{"fraction for an int", map[string]any{"id": 1.5}, "id", "not an integer"},
		{"float32 overflow", map[string]any{"ratio": 1e300}, "ratio", "out of range for float"},
		{"bool for a string", map[string]any{"customer": true}, "customer", "wants a string, got a bool"},
		{"invalid UTF-8", map[string]any{"customer": "a\xffb"}, "customer", "UTF-8"},
		{"unknown enum name", map[string]any{"status": "LOST"}, "status", `"LOST" is not a value of enum shop.Order.Status`},
		{"enum out of range", map[string]any{"status": int64(1) << 33}, "status", "out of range"},
		{"bad timestamp text", map[string]any{"placed_at": "yesterday"}, "placed_at", "RFC 3339"},
		{"timestamp out of range", map[string]any{"seen": []any{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}, "seen[0]", "out of range"},
		{"timestamp object out of range", map[string]any{"placed_at": map[string]any{"seconds": int64(1), "nanos": int64(-1)}}, "placed_at", "out of range"},
		{"int for a timestamp", map[string]any{"placed_at": int64(5)}, "placed_at", "wants a time"},
		{"wrapper of the wrong kind", map[string]any{"note": int64(5)}, "note", "wants a string"},
		{"null in a list", map[string]any{"tags": []any{"a", nil}}, "tags[1]", "null"},
		{"object for a list", map[string]any{"tags": map[string]any{}}, "tags", "wants a list, got an object"},
		{"list for a message", map[string]any{"items": []any{[]any{}}}, "items[0]", "wants an object, got a list"},
		{"bad int map key", map[string]any{"by_slot": map[string]any{"one": map[string]any{}}}, "by_slot.one", "not a int32"},
		{"bad bool map key", map[string]any{"flags": map[string]any{"1": "x"}}, "flags.1", "not a bool"},
		{"map value of the wrong kind", map[string]any{"counts": map[string]any{"a": "x"}}, "counts.a", "wants an integer"},
		{"message in a map", map[string]any{"by_slot": map[string]any{"1": map[string]any{"qty": true}}}, "by_slot.1.qty", "wants an integer"},
		{"two of a oneof", map[string]any{"email": "a", "phone": "b"}, "phone", "oneof contact"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.encode(c.v)
			if err == nil {
				t.Fatal("no error")
			}
			re := recordError(t, err)
			if re.Field != c.field || !strings.Contains(re.Err.Error(), c.msg) {
				t.Errorf("got field %q, error %q; want field %q, error containing %q", re.Field, re.Err, c.field, c.msg)
			}
		})
	}
	if _, err := s.encode("not an object"); err == nil {
		t.Error("encode of a string: no error")
	}
}

func TestProtobufProto2(t *testing.T) {
	s := readTestSchema(t, Protobuf, "protobuf_legacy.proto")
	v := map[string]any{"name": "boot", "level": nil, "kind": "WARN",
		"children": []any{map[string]any{"label": "a", "children": []any{map[string]any{"label": nil, "children": []any{}}}}}}
	b, err := s.encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decode(b)
	if err != nil || !reflect.DeepEqual(got, any(v)) {
		t.Errorf("decode(encode(v)) = %#v, %v; want %#v", got, err, v)
	}
	_, err = s.encode(map[string]any{"level": int64(1)})
	if re := recordError(t, err); re.Field != "name" || !strings.Contains(re.Err.Error(), "required") {
		t.Errorf("missing required field: %v", err)
	}
	_, err = s.encode(map[string]any{"name": "x", "kind": int64(3)})
	if re := recordError(t, err); re.Field != "kind" || !strings.Contains(re.Err.Error(), "closed enum") {
		t.Errorf("number outside a closed enum: %v", err)
	}
	// A payload without the required field does not decode.
	_, err = s.decode([]byte{0, 0x10, 0x01})
	if re := recordError(t, err); re.Field != "name" || !strings.Contains(re.Err.Error(), "required") {
		t.Errorf("decode without a required field: %v", err)
	}
}

// TestProtobufReferenceBytes: our payloads are the protobuf encoding the
// reference implementation writes.
func TestProtobufReferenceBytes(t *testing.T) {
	// The protobuf encoding guide's first example: field 1 = 150.
	small := mustProto(t, `syntax = "proto3"; message Test1 { int32 a = 1; }`)
	b, err := small.encode(map[string]any{"a": int64(150)})
	if err != nil || !bytes.Equal(b, []byte{0, 0x08, 0x96, 0x01}) {
		t.Errorf("encode {a: 150} = %x, %v; want 00 08 96 01", b, err)
	}

	// An Order built field by field with dynamicpb, independently of the
	// codec's conversions.
	s := orderProto(t)
	md := s.msg
	f := md.Fields().ByName
	item := md.Messages().ByName("Item")
	m := dynamicpb.NewMessage(md)
	m.Set(f("id"), protoreflect.ValueOfInt64(42))
	m.Set(f("customer"), protoreflect.ValueOfString("c-1"))
	items := m.Mutable(f("items")).List()
	for _, it := range []struct {
		sku    string
		qty    int32
		detail string
	}{{"A-1", 2, "red"}, {"B-2", 1, ""}} {
		im := dynamicpb.NewMessage(item)
		im.Set(item.Fields().ByName("sku"), protoreflect.ValueOfString(it.sku))
		im.Set(item.Fields().ByName("qty"), protoreflect.ValueOfInt32(it.qty))
		if it.detail != "" {
			dm := dynamicpb.NewMessage(item.Messages().ByName("Detail"))
			dm.Set(dm.Descriptor().Fields().ByName("text"), protoreflect.ValueOfString(it.detail))
			im.Set(item.Fields().ByName("detail"), protoreflect.ValueOfMessage(dm))
		}
		items.Append(protoreflect.ValueOfMessage(im))
	}
	counts := m.Mutable(f("counts")).Map()
	counts.Set(protoreflect.ValueOfString("a").MapKey(), protoreflect.ValueOfInt64(1))
	counts.Set(protoreflect.ValueOfString("b").MapKey(), protoreflect.ValueOfInt64(-5))
	ts := dynamicpb.NewMessage(f("placed_at").Message())
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(placedAt.Unix()))
	ts.Set(ts.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(int32(placedAt.Nanosecond())))
	m.Set(f("placed_at"), protoreflect.ValueOfMessage(ts))
	note := dynamicpb.NewMessage(f("note").Message())
	note.Set(note.Descriptor().Fields().ByName("value"), protoreflect.ValueOfString("leave at the door"))
	m.Set(f("note"), protoreflect.ValueOfMessage(note))
	m.Set(f("priority"), protoreflect.ValueOfInt32(3))
	m.Set(f("status"), protoreflect.ValueOfEnum(1))
	m.Set(f("payload"), protoreflect.ValueOfBytes([]byte{0, 1, 255}))
	m.Set(f("total"), protoreflect.ValueOfFloat64(12.5))
	m.Set(f("ratio"), protoreflect.ValueOfFloat32(0.1))
	m.Set(f("paid"), protoreflect.ValueOfBool(true))
	m.Set(f("big"), protoreflect.ValueOfUint64(math.MaxInt64))
	m.Set(f("small"), protoreflect.ValueOfUint32(math.MaxUint32))
	m.Set(f("s32"), protoreflect.ValueOfInt32(math.MinInt32))
	m.Set(f("sf64"), protoreflect.ValueOfInt64(math.MinInt64))
	m.Set(f("f32"), protoreflect.ValueOfUint32(7))
	m.Set(f("email"), protoreflect.ValueOfString("a@example.com"))
	slots := m.Mutable(f("by_slot")).Map()
	for k, v := range map[int32][2]string{1: {"X", "1"}, -2: {"Y", "0"}} {
		im := dynamicpb.NewMessage(item)
		im.Set(item.Fields().ByName("sku"), protoreflect.ValueOfString(v[0]))
		if v[1] == "1" {
			im.Set(item.Fields().ByName("qty"), protoreflect.ValueOfInt32(1))
		} else {
			dm := dynamicpb.NewMessage(item.Messages().ByName("Detail"))
			im.Set(item.Fields().ByName("detail"), protoreflect.ValueOfMessage(dm))
		}
		slots.Set(protoreflect.ValueOfInt32(k).MapKey(), protoreflect.ValueOfMessage(im))
	}
	mc := dynamicpb.NewMessage(f("maybe_count").Message())
	m.Set(f("maybe_count"), protoreflect.ValueOfMessage(mc))
	tags := m.Mutable(f("tags")).List()
	tags.Append(protoreflect.ValueOfString("x"))
	tags.Append(protoreflect.ValueOfString("y"))
	flags := m.Mutable(f("flags")).Map()
	flags.Set(protoreflect.ValueOfBool(true).MapKey(), protoreflect.ValueOfString("yes"))
	flags.Set(protoreflect.ValueOfBool(false).MapKey(), protoreflect.ValueOfString("no"))
	seen := m.Mutable(f("seen")).List()
	for _, tm := range []time.Time{placedAt, time.Unix(0, 0)} {
		sm := dynamicpb.NewMessage(f("seen").Message())
		sm.Set(sm.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(tm.Unix()))
		if tm.Nanosecond() != 0 {
			sm.Set(sm.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(int32(tm.Nanosecond())))
		}
		seen.Append(protoreflect.ValueOfMessage(sm))
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.encode(protoOrderValue())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte{0}, want...)) {
		t.Errorf("encode(order) =\n%x\nreference\n00%x", got, want)
	}

	// Well-known types: the bytes of the generated timestamppb and
	// wrapperspb messages.
	wk := mustProto(t, `syntax = "proto3";
		import "google/protobuf/timestamp.proto";
		import "google/protobuf/wrappers.proto";
		message W { google.protobuf.Timestamp t = 1; google.protobuf.StringValue s = 2; }`)
	tsb, _ := proto.Marshal(timestamppb.New(placedAt))
	sb, _ := proto.Marshal(wrapperspb.String("hi"))
	ref := []byte{0}
	ref = protowire.AppendBytes(protowire.AppendTag(ref, 1, protowire.BytesType), tsb)
	ref = protowire.AppendBytes(protowire.AppendTag(ref, 2, protowire.BytesType), sb)
	got, err = wk.encode(map[string]any{"t": placedAt, "s": "hi"})
	if err != nil || !bytes.Equal(got, ref) {
		t.Errorf("encode(W) = %x, %v; reference %x", got, err, ref)
	}
}

func TestProtobufMessageIndexes(t *testing.T) {
	// Confluent's own test vector: [1, 2, 3] is 06 02 04 06.
	for _, c := range []struct {
		indexes []int
		bytes   []byte
	}{
		{[]int{0}, []byte{0}},
		{[]int{1, 2, 3}, []byte{0x06, 0x02, 0x04, 0x06}},
		{[]int{0, 0}, []byte{0x04, 0x00, 0x00}},
		{[]int{64}, []byte{0x02, 0x80, 0x01}},
	} {
		if got := appendIndexes(nil, c.indexes); !bytes.Equal(got, c.bytes) {
			t.Errorf("indexes %v written as %x, want %x", c.indexes, got, c.bytes)
		}
	}

	nested := readTestSchema(t, Protobuf, "protobuf_nested.proto").(*protoSchema)
	got, err := nested.decode([]byte{0x06, 0x02, 0x04, 0x06, 0x0a, 0x01, 'x'})
	if err != nil || !reflect.DeepEqual(got, any(map[string]any{"name": "x"})) {
		t.Errorf("decode of nest.B.B2.C3 by indexes [1, 2, 3] = %#v, %v", got, err)
	}

	s := orderProto(t)
	// [0, 0] is Order.Item, though the compiler puts the map entry message
	// of counts before it; [1] is Refund; [0] written out in full is Order.
	if !s.msg.Messages().Get(0).IsMapEntry() {
		t.Fatal("the compiler no longer puts counts' map entry first: the test below proves nothing")
	}
	if got := messageIndexes(s.msg.Messages().ByName("Item")); !reflect.DeepEqual(got, []int{0, 0}) {
		t.Errorf("indexes of Order.Item = %v, want [0 0]", got)
	}
	for _, c := range []struct {
		payload []byte
		want    any
	}{
		{[]byte{0x04, 0x00, 0x00, 0x0a, 0x01, 'A', 0x10, 0x03},
			map[string]any{"sku": "A", "qty": int64(3), "detail": nil}},
		{[]byte{0x06, 0x00, 0x00, 0x00, 0x0a, 0x01, 'z'}, map[string]any{"text": "z"}},
		{[]byte{0x02, 0x02, 0x08, 0x07}, map[string]any{"order_id": int64(7)}},
		{[]byte{0x02, 0x00, 0x08, 0x07}, func() any { v := protoEmptyOrder(); v["id"] = int64(7); return v }()},
	} {
		got, err := s.decode(c.payload)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("decode %x = %#v, %v; want %#v", c.payload, got, err, c.want)
		}
	}
	for name, payload := range map[string][]byte{
		"empty":                {},
		"no such message":      {0x02, 0x04},
		"no such nested":       {0x04, 0x00, 0x64},
		"negative index":       {0x02, 0x01},
		"negative count":       {0x01},
		"count beyond payload": {0x0e, 0x00},
		"huge count":           {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"truncated varint":     {0x80},
		"truncated index":      {0x04, 0x00, 0x80},
		"bad protobuf":         {0x00, 0x0a, 0x05, 'a'},
		// The runtime panics on this map entry: its key twice, the second
		// time as a varint.
		"malformed map entry": {0x00, 0x22, 0x05, 0x0a, 0x01, '0', 0x08, 0x00},
		"timestamp out of range": protowire.AppendBytes(protowire.AppendTag([]byte{0}, 5, protowire.BytesType),
			protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(1e15))),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.decode(payload)
			if err == nil {
				t.Fatalf("decode %x: no error", payload)
			}
			recordError(t, err)
		})
	}
}

// messageIndexes names a message by its indexes, as Confluent's
// serializers do: its position among the messages declared beside it,
// then its parent's, up to the file.
func messageIndexes(md protoreflect.MessageDescriptor) []int {
	var idx []int
	for {
		var siblings protoreflect.MessageDescriptors
		parent, nested := md.Parent().(protoreflect.MessageDescriptor)
		if nested {
			siblings = parent.Messages()
		} else {
			siblings = md.ParentFile().Messages()
		}
		i := 0
		for j := range md.Index() {
			if !siblings.Get(j).IsMapEntry() {
				i++
			}
		}
		idx = append([]int{i}, idx...)
		if !nested {
			return idx
		}
		md = parent
	}
}

// FuzzProtobufDecode: decode never panics, and what it reads encodes (as
// the message the indexes named) to bytes that decode to the same value.
func FuzzProtobufDecode(f *testing.F) {
	s := orderProto(f)
	full, err := s.encode(protoOrderValue())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		full, {0}, {0x04, 0x00, 0x00, 0x0a, 0x01, 'A', 0x10, 0x03}, {0x02, 0x02, 0x08, 0x07},
		{0x00, 0x68, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // big = 2^64-1
		{0x00, 0x5d, 0x00, 0x00, 0xc0, 0x7f},                                     // ratio = NaN
		{0x00, 0x40, 0x07},                                                       // status = 7, unnamed
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := s.decode(in)
		if err != nil {
			recordError(t, err)
			return
		}
		md, _, err := s.readIndexes(in)
		if err != nil {
			t.Fatalf("decode read %x, readIndexes did not: %v", in, err)
		}
		out, err := s.encodeAs(messageIndexes(md), md, v)
		if err != nil {
			t.Fatalf("%x read as %#v does not encode: %v", in, v, err)
		}
		again, err := s.decode(out)
		if err != nil {
			t.Fatalf("decode of encoded %x: %v", out, err)
		}
		if !sameValue(v, again) {
			t.Fatalf("%x read as %#v, written as %x, read back as %#v", in, v, out, again)
		}
	})
}

func BenchmarkProtobuf(b *testing.B) {
	s := mustProto(b, `syntax = "proto3";
		message Order {
			int64 id = 1; string customer = 2; double total = 3; bool paid = 4;
			repeated Item items = 5;
			message Item { string sku = 1; int32 qty = 2; }
		}`)
	v := map[string]any{"id": int64(123456), "customer": "c-000123", "total": 42.5, "paid": true,
		"items": []any{map[string]any{"sku": "A-1", "qty": int64(2)}, map[string]any{"sku": "B-22", "qty": int64(1)}}}
	payload, err := s.encode(v)
	if err != nil {
		b.Fatal(err)
	}
	benchPayload(b, s, payload, v)
}
