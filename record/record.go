// Package record defines the unit of data that flows between stages.
package record

import "time"

// Header is one Kafka record header. Order and duplicates are kept as Kafka
// allows both.
type Header struct {
	Key   string
	Value []byte
}

// Record is one message on its way through a stage.
//
// Value holds the decoded value: for the json format a map[string]any for an
// object (numbers are int64 when integral, float64 otherwise, and a
// json.Number holding the digits of an integer beyond int64), for string a
// string, for bytes a []byte. A nil Value is a tombstone.
type Record struct {
	Key   []byte // nil is a null key
	Value any
	Raw   []byte // the value bytes as read, kept for dead letters
	// RawKey is the key's bytes as read when the key was decoded from a
	// format (key_format), kept for dead letters; nil when Key is as read.
	RawKey    []byte
	Headers   []Header
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time

	// To overrides the stage's destination topic when a `to` step set it.
	To string

	// Err is set by a source on a record it could not make or read whole
	// (a generated value whose expression failed, a row with a column that
	// does not convert, a line over max_line): the stage applies on_error
	// to it (the dead letter's step is "read", its value the record's Raw),
	// not its steps, so one bad record neither stops nor stalls a source
	// unless on_error is fail.
	Err error
}

// OriginalKey is the key as read: RawKey when the key was decoded.
func (r *Record) OriginalKey() []byte {
	if r.RawKey != nil {
		return r.RawKey
	}
	return r.Key
}

// Header returns the value of the last header named key, and whether it exists.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// SetHeader replaces every header named key with one holding value.
func (r *Record) SetHeader(key string, value []byte) {
	r.DeleteHeader(key)
	r.Headers = append(r.Headers, Header{Key: key, Value: value})
}

// DeleteHeader removes every header named key.
func (r *Record) DeleteHeader(key string) {
	kept := r.Headers[:0]
	for _, h := range r.Headers {
		if h.Key != key {
			kept = append(kept, h)
		}
	}
	r.Headers = kept
}
