package main

import (
	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/httpsink"
	"github.com/conveyor-dev/conveyor/connectors/httpsource"
	"github.com/conveyor-dev/conveyor/connectors/kafkacluster"
	"github.com/conveyor-dev/conveyor/connectors/opensearch"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
	"github.com/conveyor-dev/conveyor/connectors/sqlsource"
	"github.com/conveyor-dev/conveyor/connectors/stdout"
)

// registry lists every connector this binary knows. Adding a connector means
// adding its package and one line here; nothing registers itself.
func registry() connectors.Registry {
	return connectors.Registry{
		Sources: []connectors.SourceSpec{generate.Spec(), file.SourceSpec(), sqlsource.Spec(), httpsource.Spec(), kafkacluster.SourceSpec()},
		Sinks:   []connectors.SinkSpec{stdout.Spec(), file.SinkSpec(), sqlsink.Spec(), httpsink.Spec(), kafkacluster.SinkSpec(), opensearch.Spec()},
	}
}
