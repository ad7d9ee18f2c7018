package main

import (
	"github.com/conveyor-dev/conveyor/config"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/connectors/stdout"
	"github.com/conveyor-dev/conveyor/engine"
)

// registry lists every connector this binary knows. Adding a connector means
// adding it here; nothing registers itself.
func registry() engine.Registry {
	return engine.Registry{
		Sources: map[string]engine.SourceFactory{
			"generate": func(c config.Connector, env engine.Env) (engine.Source, error) { return generate.New(c, env) },
			"file":     func(c config.Connector, env engine.Env) (engine.Source, error) { return file.NewSource(c, env) },
			"sql":      func(c config.Connector, env engine.Env) (engine.Source, error) { return sqlsource.New(c, env) },
		},
		Sinks: map[string]engine.SinkFactory{
			"stdout": func(c config.Connector, env engine.Env) (engine.Sink, error) { return stdout.New(c, env) },
			"file":   func(c config.Connector, env engine.Env) (engine.Sink, error) { return file.NewSink(c, env) },
			"sql":    func(c config.Connector, env engine.Env) (engine.Sink, error) { return sqlsink.New(c, env) },
		},
	}
}
