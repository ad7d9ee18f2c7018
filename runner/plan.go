package main

import (
	"io"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/pipeline/graph"
)

// planCmd prints the stage graph of pipeline files: stages, topics, tables,
// delivery modes and consumer groups, as text or Mermaid, with warnings
// about topics read but not written, topics written but not read, and
// cycles. Warnings do not change the exit status; invalid files exit 3, as
// with check.
type planCmd struct {
	pipelineFiles
	Format string `help:"Output format: text or mermaid." enum:"text,mermaid" default:"text"`
}

func (c *planCmd) run(stdout io.Writer) error {
	// Validate exactly as check does, so a plan is only ever printed for
	// files that would run.
	paths, err := c.validPaths()
	if err != nil {
		return err
	}
	reg := registry()
	pipes, err := pipeline.Load(paths, pipeline.Options{Kinds: reg.Kinds()})
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	g := graph.Build(pipes, reg)
	if c.Format == "mermaid" {
		g.Mermaid(stdout)
	} else {
		g.Text(stdout)
	}
	return nil
}
