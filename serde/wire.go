package serde

import (
	"encoding/binary"
	"fmt"
)

// The Confluent wire format: a zero magic byte, the schema id as a 4-byte
// big-endian integer, then the payload.
const (
	magicByte  = 0
	headerSize = 5
)

// parseHeader splits topic bytes into the schema id and the payload.
func parseHeader(b []byte) (id int, payload []byte, err error) {
	switch {
	case len(b) == 0:
		return 0, nil, &RecordError{Err: fmt.Errorf("not in the Confluent wire format: empty, want a 0x00 magic byte and a 4-byte schema id")}
	case b[0] != magicByte:
		return 0, nil, &RecordError{Err: fmt.Errorf("not in the Confluent wire format: first byte 0x%02x, want 0x00", b[0])}
	case len(b) < headerSize:
		return 0, nil, &RecordError{Err: fmt.Errorf("not in the Confluent wire format: %d bytes, want at least %d (magic byte and schema id)", len(b), headerSize)}
	}
	return int(binary.BigEndian.Uint32(b[1:headerSize])), b[headerSize:], nil
}

// appendHeader appends the wire header for schema id to dst.
func appendHeader(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, magicByte), uint32(id))
}
