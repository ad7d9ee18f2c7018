package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"

	"github.com/conveyor-dev/conveyor/runner/pipetest"
)

// testCmd runs pipeline tests: *.test.yaml files next to the pipelines they
// test (see package pipetest and docs/testing.md).
type testCmd struct {
	Paths   []string `arg:"" optional:"" help:"Test files or folders (default: configs/)."`
	Run     string   `help:"Run only the test cases whose name matches this regular expression."`
	Verbose bool     `short:"v" help:"Show the pipelines' logs (all levels) and what their stdout sinks print, on standard error."`
}

func (c *testCmd) run(log *slog.Logger, stdout io.Writer) error {
	paths := c.Paths
	if len(paths) == 0 {
		paths = []string{"configs/"}
	}
	opts := pipetest.Options{
		Registry: registry(),
		Report:   stdout,
		Log:      slog.New(minLevel{log.Handler(), slog.LevelWarn}),
	}
	if c.Verbose {
		opts.Log = log
		opts.PipelineStdout = os.Stderr
	}
	if c.Run != "" {
		re, err := regexp.Compile(c.Run)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("runner: --run: %v", err)}
		}
		opts.Match = re
	}
	ctx, stop := signalContext(log, nil)
	defer stop()
	sum, err := pipetest.Run(ctx, paths, opts)
	switch {
	case errors.Is(err, pipetest.ErrInvalid):
		return &exitError{code: exitInvalid, err: err}
	case err != nil:
		return &exitError{code: exitFailed, err: err}
	case sum.Failed > 0:
		return &exitError{code: exitFailed}
	}
	return nil
}

// minLevel drops records below its level: pipelines under test log their
// warnings and errors only, unless --verbose.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
