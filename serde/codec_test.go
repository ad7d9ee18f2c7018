package serde

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/record"
)

func mockRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := NewRegistry(RegistryConfig{URL: "mock://" + t.Name()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func orderValue() map[string]any {
	return map[string]any{
		"id": int64(7), "customer": "ann", "status": "PAID", "total": 19.5,
		"items": []any{map[string]any{"sku": "a-1", "qty": int64(2)}},
		"note":  nil, "created": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestPlainCodecs(t *testing.T) {
	ctx := context.Background()
	for _, f := range []Format{JSON, String, Bytes} {
		c, err := NewCodec(f, CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Format() != f {
			t.Errorf("Format() = %s", c.Format())
		}
		for _, in := range [][]byte{[]byte(`{"a":1,"b":[1.5,"x"]}`), nil} {
			got, err := c.Decode(ctx, in)
			want, werr := record.Format(f).Decode(in)
			if err != nil || werr != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: decode %q: %#v %v, want %#v", f, in, got, err, want)
			}
			out, err := c.Encode(ctx, got)
			wantOut, _ := record.Format(f).Encode(want)
			if err != nil || !bytes.Equal(out, wantOut) {
				t.Errorf("%s: encode %#v: %q %v, want %q", f, got, out, err, wantOut)
			}
		}
	}
	c, _ := NewCodec(JSON, CodecOptions{})
	var re *RecordError
	if _, err := c.Decode(ctx, []byte("{nope")); !errors.As(err, &re) {
		t.Errorf("bad json: %v, want a RecordError", err)
	}
	b, _ := NewCodec(Bytes, CodecOptions{})
	if _, err := b.Encode(ctx, 5); !errors.As(err, &re) {
		t.Errorf("bytes of an int: %v, want a RecordError", err)
	}
}

func TestNewCodecErrors(t *testing.T) {
	r := mockRegistry(t)
	js := fakeText("{}")
	for _, c := range []struct {
		f    Format
		o    CodecOptions
		want string
	}{
		{"xml", CodecOptions{}, "unknown format"},
		{Avro, CodecOptions{}, "needs a schema registry"},
		{Avro, CodecOptions{Registry: r, Schema: js}, "not made by this package"},
		{Protobuf, CodecOptions{Registry: r, Schema: readAvro(t, "testdata/order.avsc")}, "the schema is avro"},
	} {
		if _, err := NewCodec(c.f, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: got %v, want %q", c.f, c.o, err, c.want)
		}
	}
}

func TestAvroCodec(t *testing.T) {
	ctx := context.Background()
	r := mockRegistry(t)
	schema := readAvro(t, "testdata/order.avsc")
	c, err := NewCodec(Avro, CodecOptions{Registry: r, Subject: "orders-value", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode(ctx, orderValue())
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.Register(ctx, "orders-value", schema)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:5], appendHeader(nil, id)) {
		t.Errorf("header %x, want id %d", b[:5], id)
	}
	got, err := c.Decode(ctx, b)
	if err != nil || !reflect.DeepEqual(got, orderValue()) {
		t.Errorf("decode: %#v %v", got, err)
	}

	// Tombstones.
	if v, err := c.Decode(ctx, nil); v != nil || err != nil {
		t.Errorf("decode nil: %v %v", v, err)
	}
	if b, err := c.Encode(ctx, nil); b != nil || err != nil {
		t.Errorf("encode nil: %v %v", b, err)
	}

	// A codec without a schema writes with the subject's latest.
	latest, err := NewCodec(Avro, CodecOptions{Registry: r, Subject: "orders-value"})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := latest.Encode(ctx, orderValue())
	if err != nil || !bytes.Equal(b2, b) {
		t.Errorf("latest: %x %v, want %x", b2, err, b)
	}

	var re *RecordError
	// Unknown id.
	_, err = c.Decode(ctx, append(appendHeader(nil, 42), 0))
	if !errors.As(err, &re) || re.SchemaID != 42 || re.Subject != "orders-value" || !strings.Contains(err.Error(), "unknown schema id 42") {
		t.Errorf("unknown id: %v", err)
	}
	// Not the wire format.
	_, err = c.Decode(ctx, []byte(`{"id":1}`))
	if !errors.As(err, &re) || re.Subject != "orders-value" || !strings.Contains(err.Error(), "first byte 0x7b, want 0x00") {
		t.Errorf("json bytes: %v", err)
	}
	// A payload that does not fit the schema.
	_, err = c.Decode(ctx, b[:len(b)-3])
	if !errors.As(err, &re) || re.SchemaID != id {
		t.Errorf("truncated: %v", err)
	}
	// A value that does not fit names the field, the id and the subject.
	bad := orderValue()
	bad["items"].([]any)[0].(map[string]any)["qty"] = "x"
	_, err = c.Encode(ctx, bad)
	if !errors.As(err, &re) || re.Field != "items[0].qty" || re.SchemaID != id || re.Subject != "orders-value" {
		t.Errorf("encode error: %#v", err)
	} else if want := fmt.Sprintf(`field items[0].qty: want long, got string "x" (schema id %d, subject orders-value)`, id); err.Error() != want {
		t.Errorf("message %q\nwant %q", err, want)
	}

	// No subject to encode with; no schema under the subject.
	noSubject, _ := NewCodec(Avro, CodecOptions{Registry: r})
	if _, err := noSubject.Encode(ctx, orderValue()); err == nil || errors.As(err, &re) {
		t.Errorf("no subject: %v", err)
	}
	empty, _ := NewCodec(Avro, CodecOptions{Registry: r, Subject: "nobody-value"})
	if _, err := empty.Encode(ctx, orderValue()); !errors.Is(err, ErrNotFound) || errors.As(err, &re) {
		t.Errorf("empty subject: %v", err)
	}
	// Decoding needs no subject.
	if v, err := noSubject.Decode(ctx, b); err != nil || !reflect.DeepEqual(v, orderValue()) {
		t.Errorf("decode without a subject: %v", err)
	}
}

// A schema the registry holds but we cannot use fails its records, not the
// pipeline.
func TestAvroCodecUnusableSchema(t *testing.T) {
	ctx := context.Background()
	r := mockRegistry(t)
	id, err := r.client.Register("x-value", schemaInfo(fakeText(`{"type":"nonsense"}`)), false)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewCodec(Avro, CodecOptions{Registry: r, Subject: "x-value"})
	var re *RecordError
	if _, err := c.Decode(ctx, appendHeader(nil, id)); !errors.As(err, &re) || re.SchemaID != id {
		t.Errorf("got %v", err)
	}
}

func TestAvroCodecConcurrent(t *testing.T) {
	ctx := context.Background()
	r := mockRegistry(t)
	schema := readAvro(t, "testdata/order.avsc")
	enc, _ := NewCodec(Avro, CodecOptions{Registry: r, Subject: "orders-value", Schema: schema})
	dec, _ := NewCodec(Avro, CodecOptions{Registry: r, Subject: "orders-value"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := orderValue()
				v["id"] = int64(g*1000 + i)
				b, err := enc.Encode(ctx, v)
				if err != nil {
					errs <- err
					return
				}
				got, err := dec.Decode(ctx, b)
				if err != nil || !reflect.DeepEqual(got, v) {
					errs <- fmt.Errorf("decode: %v %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
