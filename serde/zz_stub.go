package serde

// Placeholder API until the registry and codec land; removed on merge.

import (
	"context"
	"errors"
	"log/slog"

	"github.com/conveyor-dev/conveyor/record"
)

type RegistryConfig struct{ URL, Username, Password, BearerToken string }
type Registry struct{}

func NewRegistry(cfg RegistryConfig, log *slog.Logger) (*Registry, error) { return &Registry{}, nil }
func (r *Registry) Health() error                                         { return nil }
func (r *Registry) ByID(ctx context.Context, id int) (Schema, error)      { return nil, errors.New("stub") }
func (r *Registry) Latest(ctx context.Context, subject string) (Schema, int, error) {
	return nil, 0, errors.New("stub")
}
func (r *Registry) Register(ctx context.Context, subject string, s Schema) (int, error) {
	return 0, errors.New("stub")
}

type Compatibility struct {
	Level    string
	OK       bool
	Versions int
}

func (r *Registry) Compatible(ctx context.Context, subject string, s Schema) (Compatibility, error) {
	return Compatibility{}, errors.New("stub")
}

var ErrNotFound = errors.New("not found")

type CodecOptions struct {
	Registry *Registry
	Subject  string
	Schema   Schema
}

type plain struct{ f record.Format }

func (p plain) Format() Format                                  { return Format(p.f) }
func (p plain) Decode(_ context.Context, b []byte) (any, error) { return p.f.Decode(b) }
func (p plain) Encode(_ context.Context, v any) ([]byte, error) { return p.f.Encode(v) }

func NewCodec(f Format, o CodecOptions) (Codec, error) {
	if f.Registered() {
		return nil, errors.New("stub")
	}
	return plain{record.Format(f)}, nil
}

type KeyCodec struct{}

func NewKeyCodec(f Format, o CodecOptions) (*KeyCodec, error)               { return &KeyCodec{}, nil }
func (k *KeyCodec) DecodeKey(ctx context.Context, b []byte) ([]byte, error) { return b, nil }
func (k *KeyCodec) EncodeKey(ctx context.Context, b []byte) ([]byte, error) { return b, nil }

func AvroFromType(name string, t record.Type) (Schema, error) { return nil, errors.New("stub") }
