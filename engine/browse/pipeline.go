package browse

import (
	"slices"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/serde"
)

// PipelineOptions browses the cluster of pipeline cfg: its brokers and
// kafka config, its topics decoded in their formats through reg (nil when
// cfg names no schema registry; see PipelineCodecs), and its cursor and
// changelog topics shown as internal. Brokers is "embedded" when cfg runs
// on the embedded broker: the caller puts the broker's address there.
func PipelineOptions(cfg *pipeline.Config, reg *serde.Registry) Options {
	return Options{
		Brokers:  cfg.Kafka.Brokers,
		Config:   cfg.Kafka.Config,
		Codecs:   PipelineCodecs(cfg, reg),
		Internal: engine.StateTopics(cfg),
	}
}

// PipelineCodecs decodes each topic as the stages of cfg read and write
// it (pipeline.Config.FormatOf: its declared format, else the first
// stage's that names one, else json), with its key_format's key codec.
// Topics cfg neither declares nor reads nor writes read as JSON when they
// parse, text otherwise.
func PipelineCodecs(cfg *pipeline.Config, reg *serde.Registry) Codecs {
	return func(topic string) (serde.Codec, *serde.KeyCodec, error) {
		if !Mentions(cfg, topic) {
			return nil, nil, nil
		}
		return engine.TopicCodecs(cfg, reg, topic, cfg.FormatOf(topic))
	}
}

// Mentions reports whether cfg declares topic or a stage of cfg reads or
// writes it.
func Mentions(cfg *pipeline.Config, topic string) bool {
	if _, ok := cfg.Topics[topic]; ok {
		return true
	}
	for i := range cfg.Sources {
		if cfg.Sources[i].To == topic {
			return true
		}
	}
	for i := range cfg.Transforms {
		if t := &cfg.Transforms[i]; t.To == topic || slices.Contains(t.From, topic) {
			return true
		}
	}
	for i := range cfg.Sinks {
		if slices.Contains(cfg.Sinks[i].From, topic) {
			return true
		}
	}
	return false
}
