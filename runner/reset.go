package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/conveyor-dev/conveyor/engine"
)

type resetCmd struct {
	Config []string `short:"c" help:"Pipeline file or folder; repeat for several." required:""`
	Stage  string   `help:"The stage to reset: NAME, or PIPELINE/NAME when several pipelines have a stage of that name." required:""`
}

// run deletes the stage's stored position: the way out when a stage
// stopped because its stored offsets or cursor belong to another topic or
// table than the one there now.
func (c *resetCmd) run(log *slog.Logger, stdout io.Writer) error {
	plan, err := load(c.Config, io.Discard, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	msg, err := plan.Reset(ctx, c.Stage, log)
	if errors.Is(err, engine.ErrCannotReset) {
		return &exitError{code: exitUsage, err: fmt.Errorf("runner reset: %w", err)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, msg)
	return nil
}
