package browse

import (
	"slices"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/serde"
)

// TestPipelineCodecs: a topic is read in its declared format, else in the
// format of a stage that reads or writes it; topics the pipeline does not
// name have no codec (JSON when it parses, text otherwise); a registered
// format without a registry is an error.
func TestPipelineCodecs(t *testing.T) {
	cfg := &pipeline.Config{
		Name: "p",
		Topics: pipeline.TopicDecls{
			"declared": {Format: pipeline.FormatString},
			"avro":     {Format: pipeline.FormatAvro},
		},
		Transforms: []pipeline.Transform{{
			Stage:    pipeline.Stage{Name: "t", Format: pipeline.FormatBytes},
			Consumer: pipeline.Consumer{From: pipeline.Topics{"in"}},
			To:       "out",
		}},
	}
	codecs := PipelineCodecs(cfg, nil)
	for topic, want := range map[string]serde.Format{"declared": serde.String, "in": serde.Bytes, "out": serde.Bytes} {
		value, key, err := codecs(topic)
		if err != nil || value == nil || value.Format() != want || key != nil {
			t.Errorf("%s: %v %v %v, want %s values and no key codec", topic, value, key, err, want)
		}
	}
	if value, key, err := codecs("elsewhere"); value != nil || key != nil || err != nil {
		t.Errorf("a topic the pipeline does not name: %v %v %v", value, key, err)
	}
	if _, _, err := codecs("avro"); err == nil {
		t.Error("avro without a registry: no error")
	}
	o := PipelineOptions(cfg, nil)
	if !slices.Contains(o.Internal, "p-t-changelog") || !slices.Contains(o.Internal, pipeline.DefaultCursorTopic) {
		t.Errorf("internal topics %v", o.Internal)
	}
}
