package serde

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestKeyCodecConnectKeys(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, schema string
		keys         []string
	}{
		{"string", `"string"`, []string{"abc", "", "ü 1"}},
		{"long", `"long"`, []string{"42", "-9223372036854775808"}},
		{"int", `"int"`, []string{"7"}},
		{"double", `"double"`, []string{"1.5", "1e+21"}},
		{"boolean", `"boolean"`, []string{"true", "false"}},
		{"nullable string", `["null","string"]`, []string{"x"}},
		{"record", `{"type":"record","name":"K","fields":[{"name":"id","type":"long"},{"name":"region","type":"string"}]}`,
			[]string{`{"id":1,"region":"eu"}`}},
		{"timestamp", `{"type":"long","logicalType":"timestamp-micros"}`, []string{"2024-01-02T03:04:05.000006Z"}},
		{"bytes", `"bytes"`, []string{"raw"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mockRegistry(t)
			k, err := NewKeyCodec(Avro, CodecOptions{Registry: r, Subject: "t-key", Schema: parseAvroT(t, c.schema)})
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range c.keys {
				b, err := k.EncodeKey(ctx, []byte(key))
				if err != nil {
					t.Fatalf("encode %q: %v", key, err)
				}
				if b[0] != 0 {
					t.Errorf("encode %q: %x is not the wire format", key, b)
				}
				got, err := k.DecodeKey(ctx, b)
				if err != nil || string(got) != key {
					t.Errorf("round trip %q: %q %v", key, got, err)
				}
			}
			if b, err := k.EncodeKey(ctx, nil); b != nil || err != nil {
				t.Errorf("nil key: %v %v", b, err)
			}
			if b, err := k.DecodeKey(ctx, nil); b != nil || err != nil {
				t.Errorf("nil key: %v %v", b, err)
			}
		})
	}
}

func TestKeyCodecErrors(t *testing.T) {
	ctx := context.Background()
	r := mockRegistry(t)
	k, err := NewKeyCodec(Avro, CodecOptions{Registry: r, Subject: "t-key", Schema: parseAvroT(t, `"long"`)})
	if err != nil {
		t.Fatal(err)
	}
	var re *RecordError
	if _, err := k.EncodeKey(ctx, []byte("x")); !errors.As(err, &re) || re.Subject != "t-key" {
		t.Errorf("bad long key: %v", err)
	}
	if _, err := k.DecodeKey(ctx, []byte("plain")); !errors.As(err, &re) {
		t.Errorf("not the wire format: %v", err)
	}
}

func TestKeyCodecPlainFormatsPassThrough(t *testing.T) {
	ctx := context.Background()
	for _, f := range []Format{JSON, String, Bytes} {
		k, err := NewKeyCodec(f, CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range [][]byte{[]byte(`{"a": 1}`), []byte("not json"), {0xff, 0}, nil} {
			d, err := k.DecodeKey(ctx, key)
			if err != nil || !bytes.Equal(d, key) || (key == nil) != (d == nil) {
				t.Errorf("%s decode %q: %q %v", f, key, d, err)
			}
			e, err := k.EncodeKey(ctx, key)
			if err != nil || !bytes.Equal(e, key) || (key == nil) != (e == nil) {
				t.Errorf("%s encode %q: %q %v", f, key, e, err)
			}
		}
	}
}

func TestKeyText(t *testing.T) {
	for v, want := range map[any]string{
		"s": "s", int64(-3): "-3", 0.1: "0.1", true: "true",
	} {
		if got, err := keyText(v); err != nil || string(got) != want {
			t.Errorf("keyText(%#v) = %q %v, want %q", v, got, err, want)
		}
	}
	got, err := keyText(map[string]any{"b": []any{int64(1)}, "a": nil})
	if err != nil || string(got) != `{"a":null,"b":[1]}` {
		t.Errorf("object: %s %v", got, err)
	}
}
