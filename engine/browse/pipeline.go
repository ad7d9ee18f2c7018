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
// it: in the format its topics: entry declares, else the format of the
// first stage (sources, transforms, sinks in file order) that reads or
// writes it, with its key_format's key codec. Topics cfg does not name
// read as JSON when they parse, text otherwise.
func PipelineCodecs(cfg *pipeline.Config, reg *serde.Registry) Codecs {
	return func(topic string) (serde.Codec, *serde.KeyCodec, error) {
		st := stageOf(cfg, topic)
		if _, declared := cfg.Topics[topic]; !declared && st == nil {
			return nil, nil, nil
		}
		if st == nil {
			st = &pipeline.Stage{}
		}
		return engine.TopicCodecs(cfg, reg, topic, cfg.TopicFormat(topic, st))
	}
}

// stageOf is the first stage of cfg that reads or writes topic.
func stageOf(cfg *pipeline.Config, topic string) *pipeline.Stage {
	for i := range cfg.Sources {
		if cfg.Sources[i].To == topic {
			return &cfg.Sources[i].Stage
		}
	}
	for i := range cfg.Transforms {
		if t := &cfg.Transforms[i]; t.To == topic || slices.Contains(t.From, topic) {
			return &t.Stage
		}
	}
	for i := range cfg.Sinks {
		if s := &cfg.Sinks[i]; slices.Contains(s.From, topic) {
			return &s.Stage
		}
	}
	return nil
}
