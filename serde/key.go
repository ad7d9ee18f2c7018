package serde

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/conveyor-dev/conveyor/record"
)

// KeyCodec turns a topic's keys into conveyor's record keys, which are
// text, and back. With json, string or bytes keys, bytes pass through
// unchanged. With a registered format the key is decoded and rendered as
// text (a string as it is, numbers and booleans as Go writes them,
// timestamps in RFC 3339, records and lists as JSON), and text is parsed
// by the writer schema's top type to encode it, so a Kafka Connect key (a
// "string" or "long" schema, or a record) round-trips.
type KeyCodec struct {
	codec *registeredCodec // nil: bytes pass through
}

// NewKeyCodec returns the key codec of format f; the options are as for
// NewCodec, with the key subject (KeySubject(topic)).
func NewKeyCodec(f Format, o CodecOptions) (*KeyCodec, error) {
	c, err := NewCodec(f, o)
	if err != nil {
		return nil, err
	}
	rc, _ := c.(*registeredCodec)
	return &KeyCodec{codec: rc}, nil
}

// Format is the keys' format.
func (k *KeyCodec) Format() Format {
	if k.codec == nil {
		return Bytes
	}
	return k.codec.format
}

// DecodeKey turns topic key bytes into a record key. A nil key stays nil.
func (k *KeyCodec) DecodeKey(ctx context.Context, b []byte) ([]byte, error) {
	if k.codec == nil || b == nil {
		return b, nil
	}
	v, err := k.codec.Decode(ctx, b)
	if err != nil {
		return nil, err
	}
	text, err := keyText(v)
	if err != nil {
		return nil, &RecordError{Subject: k.codec.subject, Err: fmt.Errorf("key: %w", err)}
	}
	return text, nil
}

// EncodeKey turns a record key into topic key bytes. A nil key stays nil.
func (k *KeyCodec) EncodeKey(ctx context.Context, key []byte) ([]byte, error) {
	if k.codec == nil || key == nil {
		return key, nil
	}
	s, err := k.codec.writerSchema(ctx)
	if err != nil {
		return nil, err
	}
	v, err := keyValue(s.Type(), key)
	if err != nil {
		return nil, &RecordError{Subject: k.codec.subject, Err: fmt.Errorf("key %q: %w", key, err)}
	}
	return k.codec.Encode(ctx, v)
}

// keyText renders a decoded key as text.
func keyText(v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(t), nil
	case []byte:
		return t, nil
	case int64:
		return strconv.AppendInt(nil, t, 10), nil
	case float64:
		return strconv.AppendFloat(nil, t, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(nil, t), nil
	case time.Time:
		return t.AppendFormat(nil, time.RFC3339Nano), nil
	case json.Number:
		return []byte(t), nil
	}
	return record.JSON.Encode(v)
}

// keyValue parses key text by the type the key schema promises.
func keyValue(t record.Type, key []byte) (any, error) {
	switch t.Kind {
	case record.Text, record.Binary, record.Time:
		// The encoder takes timestamps as RFC 3339 text, and bytes as text.
		return string(key), nil
	case record.Int:
		i, err := strconv.ParseInt(string(key), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want an integer: %w", err)
		}
		return i, nil
	case record.Float:
		f, err := strconv.ParseFloat(string(key), 64)
		if err != nil {
			return nil, fmt.Errorf("want a number: %w", err)
		}
		return f, nil
	case record.Bool:
		b, err := strconv.ParseBool(string(key))
		if err != nil {
			return nil, fmt.Errorf("want true or false: %w", err)
		}
		return b, nil
	case record.Null:
		return nil, nil
	case record.Unknown:
		// A union of kinds: JSON if it reads as JSON, else the text.
		if v, err := record.DecodeJSON(key); err == nil {
			return v, nil
		}
		return string(key), nil
	}
	v, err := record.DecodeJSON(key)
	if err != nil {
		return nil, fmt.Errorf("want JSON for a %s key: %w", t, err)
	}
	return v, nil
}
