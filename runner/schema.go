package main

import (
	"io"
	"reflect"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// schemaCmd prints the JSON Schema of pipeline files with this binary's
// connectors; schemas/pipeline.schema.json is its output, kept current by
// the tests.
type schemaCmd struct{}

func (schemaCmd) run(stdout io.Writer) error {
	b, err := pipelineSchema(registry())
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}

// pipelineSchema is the schema of pipeline files using the connectors of reg.
func pipelineSchema(reg connectors.Registry) ([]byte, error) {
	describe := func(s connectors.Spec) (pipeline.ConnectorSchema, error) {
		keys, err := pipeline.Keys(reflect.TypeOf(s.Config))
		return pipeline.ConnectorSchema{Name: s.Name, Doc: s.Doc, Keys: keys}, err
	}
	var sources, sinks []pipeline.ConnectorSchema
	for _, s := range reg.Sources {
		c, err := describe(s.Spec)
		if err != nil {
			return nil, err
		}
		sources = append(sources, c)
	}
	for _, s := range reg.Sinks {
		c, err := describe(s.Spec)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, c)
	}
	return pipeline.Schema(sources, sinks)
}
