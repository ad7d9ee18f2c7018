package serde

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWireHeader(t *testing.T) {
	b := appendHeader(nil, 0x01020304)
	if !bytes.Equal(b, []byte{0, 1, 2, 3, 4}) {
		t.Fatalf("header %x", b)
	}
	id, payload, err := parseHeader(append(b, 9, 9))
	if err != nil || id != 0x01020304 || !bytes.Equal(payload, []byte{9, 9}) {
		t.Errorf("parse: %d %x %v", id, payload, err)
	}
	if id, payload, err := parseHeader(b); err != nil || id != 0x01020304 || len(payload) != 0 {
		t.Errorf("empty payload: %d %x %v", id, payload, err)
	}
}

func TestWireErrors(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want string
	}{
		{[]byte(`{"id":1}`), "not in the Confluent wire format: first byte 0x7b, want 0x00"},
		{[]byte{}, "not in the Confluent wire format: empty"},
		{[]byte{0, 0, 1}, "not in the Confluent wire format: 3 bytes, want at least 5"},
	} {
		_, _, err := parseHeader(c.b)
		var re *RecordError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%x: got %v, want a RecordError with %q", c.b, err, c.want)
		}
	}
}
