package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// probeTimeout bounds how long check --connect waits for one database.
const probeTimeout = 10 * time.Second

// typeSources types the steps of sources that can tell their records' type
// (SQL sources, from their query's columns) when connect is set, and notes
// which sources with steps stay untyped otherwise.
func typeSources(pipes []*pipeline.Config, connect bool, log *slog.Logger, notes *[]string) {
	reg := registry()
	for _, p := range pipes {
		for i := range p.Sources {
			s := &p.Sources[i]
			if len(s.Steps) == 0 && s.Key == nil {
				continue // nothing to type
			}
			spec, ok := reg.Source(s.Connector.Kind)
			if !ok {
				continue
			}
			src, err := spec.New(s.Connector, connectors.Env{Lookup: os.LookupEnv, Vars: p.Vars, Log: log})
			prober, ok := src.(connectors.Prober)
			if err != nil || !ok {
				continue // Build reports a source it cannot build
			}
			if !connect {
				*notes = append(*notes, fmt.Sprintf("%s: %s: its steps are checked without the table's column types (check --connect asks the database)", p.File, s.Path))
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
			t, err := prober.Probe(ctx)
			cancel()
			if err != nil {
				*notes = append(*notes, fmt.Sprintf("%s: %s: its steps are checked without column types: %v", p.File, s.Path, err))
				continue
			}
			p.SetSourceType(s.Name, t)
		}
	}
}
