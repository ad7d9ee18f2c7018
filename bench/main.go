// Command bench measures conveyor's runner against a minimal
// confluent-kafka-go consume-produce loop ("raw") on a real Kafka broker, in
// the same run, and writes docs/benchmarks.md. `bench raw ...` is that loop
// on its own; the harness runs it as a child process like the runner.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	// The first signal cancels: children are killed and a broker the
	// harness started is stopped on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(argv) > 1 && argv[1] == "raw":
		err = runRaw(ctx, argv[2:], stderr)
	case len(argv) > 1 && (argv[1] == varHTTPRaw || argv[1] == varOpenSearchRaw):
		err = runSinkRaw(ctx, argv[1], argv[2:], stderr)
	default:
		opts, perr := parseOptions(argv[0], argv[1:], stderr)
		if perr != nil {
			return usageStatus(perr, stderr)
		}
		err = runHarness(ctx, opts, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// usageStatus is 0 for -h, else 2 after printing the problem.
func usageStatus(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "bench:", err)
	return 2
}
