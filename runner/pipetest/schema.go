package pipetest

import (
	"context"
	"fmt"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
)

// topicCodecs write a case's inputs and read its outputs in each topic's
// format, through the registry the run uses (so a mock:// registry is the
// same one): inputs are written as JSON in the case file and encoded here,
// outputs decoded and compared as JSON, keys likewise.
type topicCodecs struct {
	p   *pipeline.Config
	reg *serde.Registry // nil when the pipeline names none
}

// codecs returns topic's value codec and key codec; nil for each that is
// plain JSON, text or bytes, which pass as they are.
func (tc topicCodecs) codecs(topic string) (serde.Codec, *serde.KeyCodec, error) {
	value, key, err := engine.TopicCodecs(tc.p, tc.reg, topic, tc.p.FormatOf(topic))
	if err != nil {
		return nil, nil, err
	}
	if !value.Format().Registered() {
		value = nil
	}
	if key != nil && !key.Format().Registered() {
		key = nil
	}
	return value, key, nil
}

// encode turns an input written as JSON into topic's format.
func (tc topicCodecs) encode(ctx context.Context, topic string, in Input) (Input, error) {
	value, key, err := tc.codecs(topic)
	if err != nil {
		return in, err
	}
	if value != nil && in.Value != nil && !in.Raw {
		v, err := record.DecodeJSON(in.Value)
		if err != nil {
			return in, fmt.Errorf("topic %s: %w", topic, err)
		}
		if in.Value, err = value.Encode(ctx, v); err != nil {
			return in, fmt.Errorf("topic %s: %w", topic, err)
		}
	}
	if key != nil && in.Key != nil {
		if in.Key, err = key.EncodeKey(ctx, in.Key); err != nil {
			return in, fmt.Errorf("topic %s key: %w", topic, err)
		}
	}
	return in, nil
}

// decode renders what a run wrote to topic as JSON values and text keys.
func (tc topicCodecs) decode(ctx context.Context, topic string, got []*Got) error {
	value, key, err := tc.codecs(topic)
	if err != nil || value == nil && key == nil {
		return err
	}
	for _, g := range got {
		if value != nil && g.Value != nil {
			v, err := value.Decode(ctx, g.Value)
			if err != nil {
				return fmt.Errorf("%s[%d]@%d: %w", topic, g.Partition, g.Offset, err)
			}
			if g.Value, err = record.JSON.Encode(v); err != nil {
				return fmt.Errorf("%s[%d]@%d: %w", topic, g.Partition, g.Offset, err)
			}
		}
		if key != nil && g.Key != nil {
			if g.Key, err = key.DecodeKey(ctx, g.Key); err != nil {
				return fmt.Errorf("%s[%d]@%d key: %w", topic, g.Partition, g.Offset, err)
			}
		}
	}
	return nil
}
