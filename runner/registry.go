package main

import (
	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/connectors/stdout"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// registry lists every connector this binary knows. Adding a connector means
// adding it here; nothing registers itself.
func registry() connectors.Registry {
	return connectors.Registry{
		Sources: map[string]connectors.SourceFactory{
			"generate": func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) { return generate.New(c, env) },
			"file": func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) {
				return file.NewSource(c, env)
			},
			"sql": func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) {
				return sqlsource.New(c, env)
			},
		},
		Sinks: map[string]connectors.SinkFactory{
			"stdout": func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return stdout.New(c, env) },
			"file":   func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return file.NewSink(c, env) },
			"sql":    func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return sqlsink.New(c, env) },
		},
	}
}
