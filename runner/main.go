// Command runner runs conveyor pipelines: YAML files that declare sources,
// transforms and sinks wired through Kafka topics.
//
// Exit status: 0 success; 1 a pipeline failed at run time; 2 bad command
// line; 3 invalid pipeline files (runner check, or run before starting);
// 130 a second interrupt stopped the runner without draining.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sync/errgroup"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/control"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/engine/metrics"
	"github.com/conveyor-dev/conveyor/kafka/embedded"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// Exit statuses.
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitInvalid   = 3
	exitInterrupt = 130
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

type globals struct {
	LogFormat string `help:"Log format: text or json." enum:"text,json" default:"text"`
	LogLevel  string `help:"Log level: debug, info, warn or error." enum:"debug,info,warn,error" default:"info"`
}

type cli struct {
	globals
	command    string     `kong:"-"`
	subcommand string     `kong:"-"` // dlq inspect, dlq replay
	Run        runCmd     `cmd:"" default:"withargs" help:"Run pipelines (the default command)."`
	Check      checkCmd   `cmd:"" help:"Validate pipeline files offline and print every problem."`
	Version    versionCmd `cmd:"" help:"Print the version."`
	Broker     brokerCmd  `cmd:"" help:"Serve the embedded in-memory broker on its own, for local runs of several runners."`
	Plan       planCmd    `cmd:"" help:"Print the stage graph of pipeline files, as text or Mermaid, with warnings."`
	DLQ        dlqCmd     `cmd:"" name:"dlq" help:"Inspect or replay a dead-letter topic."`
	Test       testCmd    `cmd:"" help:"Run pipeline tests (*.test.yaml) on the embedded broker and SQLite."`
	Reset      resetCmd   `cmd:"" help:"Delete a stage's stored position (an exactly-once SQL sink's offsets, a SQL source's cursor) so that it starts over."`
	Schema     schemaCmd  `cmd:"" help:"Print the JSON Schema of pipeline files (for editors: yaml-language-server, IntelliJ)."`
	Tap        tapCmd     `cmd:"" help:"Print a topic's records as they arrive, decoded in the topic's format."`
	Top        topCmd     `cmd:"" help:"Show the live stage table of a running runner (from its console address)."`
}

type runCmd struct {
	pipelineFiles
	Progress   time.Duration `help:"Interval of the per-stage progress lines (0 turns them off)." default:"5s"`
	Instance   string        `help:"Names this process among the runners of the same pipelines; stages derive their static group member ids and transactional ids from it, so a restarted process takes over from its predecessor at once. Default: the host name, or host-2, host-3... for more runners of the same pipelines on one host." env:"CONVEYOR_INSTANCE"`
	Metrics    string        `name:"metrics-addr" help:"Serve Prometheus metrics, /healthz and /readyz on this address (host:port); overrides the files' metrics.listen." env:"CONVEYOR_METRICS_ADDR"`
	CPUProfile string        `name:"cpuprofile" help:"Write a Go CPU profile of the whole run to this file (for tuning)." type:"path"`
	Console    string        `name:"console-addr" help:"Serve the web console and the control API (/api/v1) on this address (host:port); overrides the files' console.listen. Default: on the metrics address, if any." env:"CONVEYOR_CONSOLE_ADDR"`
	Watch      bool          `help:"Reload the pipeline files when they change, as SIGHUP does."`
}

type checkCmd struct {
	pipelineFiles
	Connect  bool   `help:"Also ask the databases of SQL sources for their columns, so that the sources' own steps are type-checked too (opens a connection to each; nothing is written)."`
	Registry string `help:"A schema registry (Confluent API) to check against: topics without a schema file take their types from its subjects' latest versions, and the schemas stages would write must be compatible with the versions registered, under each subject's compatibility level. The files' schema_registry credentials apply when its url is this one." placeholder:"URL"`
}

// pipelineFiles are the pipeline files a command reads: given with -c, as
// arguments, or both (runner check a.yaml -c b.yaml), as runner test takes
// its paths.
type pipelineFiles struct {
	Config []string `short:"c" help:"Pipeline file or folder; repeat for several." placeholder:"FILE|FOLDER"`
	Paths  []string `arg:"" optional:"" name:"path" help:"Pipeline files or folders, as with -c." placeholder:"FILE|FOLDER"`
}

// paths returns every path given, -c ones first, each once. None, or one
// that does not exist, is a usage error (exit 2): with run as the default
// command, a misspelt command arrives here as a path.
func (f *pipelineFiles) paths() ([]string, error) {
	var all []string
	seen := map[string]bool{}
	for _, p := range append(append([]string(nil), f.Config...), f.Paths...) {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("runner: %s: no such pipeline file or folder, nor a command (see runner --help)", p)}
		} else if err != nil {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("runner: %w", err)}
		}
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			all = append(all, p)
		}
	}
	if len(all) == 0 {
		return nil, &exitError{code: exitUsage, err: errors.New("runner: no pipeline file: give one or more FILE|FOLDER, as arguments or with -c")}
	}
	return all, nil
}

type versionCmd struct{}

type brokerCmd struct {
	Listen string `help:"Address to listen on." default:"127.0.0.1:9092"`
}

// exitError carries an exit status up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("runner"),
		kong.Description("Run conveyor pipelines: sources, transforms and sinks wired through Kafka topics."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitPanic(code)) }),
	)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	code, done := parseArgs(parser, args, stderr)
	if done {
		return code
	}
	term := newTerminal(stderr)
	logOut := stderr
	if term != nil {
		logOut = term.logs()
	}
	log := newLogger(c.globals, logOut)
	var cmdErr error
	switch c.command {
	case "check":
		cmdErr = c.Check.run(stdout)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "broker":
		cmdErr = c.Broker.run(log)
	case "plan":
		cmdErr = c.Plan.run(stdout)
	case "dlq":
		cmdErr = c.DLQ.run(c.subcommand, log, stdout)
	case "test":
		cmdErr = c.Test.run(log, stdout)
	case "reset":
		cmdErr = c.Reset.run(log, stdout)
	case "schema":
		cmdErr = c.Schema.run(stdout)
	case "tap":
		cmdErr = c.Tap.run(log, stdout)
	case "top":
		var tt *terminal
		if f, ok := stdout.(*os.File); ok {
			tt = newTerminal(f)
		}
		cmdErr = c.Top.run(stdout, tt)
	default:
		cmdErr = c.Run.run(log, stdout, term)
	}
	if cmdErr == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(cmdErr, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "runner:", cmdErr)
	return exitFailed
}

// exitPanic lets kong's --help and parse errors end run with a status
// instead of exiting the process, so run stays testable.
type exitPanic int

func parseArgs(parser *kong.Kong, args []string, stderr io.Writer) (code int, done bool) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code, done = int(p), true
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return exitUsage, true
	}
	c := parser.Model.Target.Addr().Interface().(*cli)
	words := strings.Fields(kctx.Command())
	c.command = words[0]
	if len(words) > 1 && !strings.HasPrefix(words[1], "<") {
		c.subcommand = words[1]
	}
	return 0, false
}

func newLogger(g globals, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(g.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "devel-" + s.Value[:12]
				}
			}
		}
	}
	return "runner " + v
}

// load reads and compiles pipelines; errors are config errors (exit 3).
func load(paths []string, stdout io.Writer, log *slog.Logger) (*engine.Plan, error) {
	plan, _, err := loadPipelines(paths, stdout, log, nil)
	return plan, err
}

// loadPipelines is load that also returns the pipelines as loaded. prepare,
// when set, sees the pipelines before they compile (their types may still
// change) and reports problems of its own.
func loadPipelines(paths []string, stdout io.Writer, log *slog.Logger, prepare func([]*pipeline.Config) pipeline.Errors) (*engine.Plan, []*pipeline.Config, error) {
	reg := registry()
	pipes, err := pipeline.Load(paths, pipeline.Options{Kinds: reg.Kinds()})
	var errs pipeline.Errors
	errs.Add(pipeline.Pos{}, "", err)
	if prepare != nil && len(pipes) > 0 {
		errs = append(errs, prepare(pipes)...)
	}
	var plan *engine.Plan
	if len(pipes) > 0 {
		plan, err = engine.Build(pipes, reg, connectors.Env{Lookup: os.LookupEnv, Log: log, Stdout: stdout})
		errs.Add(pipeline.Pos{}, "", err)
	}
	if len(errs) > 0 {
		errs.Sort()
		errs = dedupe(errs)
		return nil, nil, &exitError{code: exitInvalid, err: fmt.Errorf("%w\n%d problem(s) found", errs, len(errs))}
	}
	return plan, pipes, nil
}

// dedupe drops errors reported twice at the same place (the engine re-checks
// pipelines the loader already flagged).
func dedupe(es pipeline.Errors) pipeline.Errors {
	seen := map[string]bool{}
	out := es[:0]
	for _, e := range es {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			out = append(out, e)
		}
	}
	return out
}

// validPaths returns the files' paths once they load exactly as run loads
// them (connectors built, expressions compiled), quietly: check and plan
// must accept only files that would run.
func (f *pipelineFiles) validPaths() ([]string, error) {
	paths, err := f.paths()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := load(paths, io.Discard, log); err != nil {
		return nil, err
	}
	return paths, nil
}

func (c *checkCmd) run(stdout io.Writer) error {
	paths, err := c.paths()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var notes []string
	prepare := func(pipes []*pipeline.Config) pipeline.Errors {
		var errs pipeline.Errors
		if c.Registry != "" {
			errs = append(errs, c.registryTypes(pipes, log, &notes)...)
		}
		typeSources(pipes, c.Connect, log, &notes)
		return errs
	}
	_, _, err = loadPipelines(paths, io.Discard, log, prepare)
	for _, n := range notes {
		fmt.Fprintln(stdout, "note: "+n)
	}
	if err != nil {
		return err
	}
	files, _ := pipeline.Files(paths)
	if c.Registry != "" {
		fmt.Fprintf(stdout, "ok: %d file(s) valid, schemas compatible with %s\n", len(files), c.Registry)
		return nil
	}
	fmt.Fprintf(stdout, "ok: %d file(s) valid\n", len(files))
	return nil
}

func (c *runCmd) run(log *slog.Logger, stdout io.Writer, term *terminal) error {
	paths, err := c.paths()
	if err != nil {
		return err
	}
	flagAddr, err := metricsFlag(c.Metrics)
	if err != nil {
		return err
	}
	consoleFlagAddr, err := consoleFlag(c.Console)
	if err != nil {
		return err
	}
	plan, pipes, err := loadPipelines(paths, stdout, log, nil)
	if err != nil {
		return err
	}
	instance := c.Instance
	if instance == "" {
		names := make([]string, len(pipes))
		for i, p := range pipes {
			names[i] = p.Name
		}
		name, release, err := defaultInstance(names)
		if err != nil {
			return err
		}
		defer release()
		instance = name
	}
	log.Info("instance", "name", instance, "explicit", c.Instance != "")
	regs := engine.NewRegistries(log)
	opts := engine.RunOptions{Log: log, ProgressInterval: c.Progress, Instance: instance, Registries: regs}
	if term != nil {
		opts.Terminal = term
	}
	mAddr := metricsAddr(flagAddr, pipes)
	cAddr := consoleAddr(consoleFlagAddr, pipes)
	var reg *metrics.Registry
	if mAddr != "" {
		reg = metrics.New(registry())
		opts.Monitor = reg
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	triggers := make(chan string, 1)
	ctx, stop := signalContext(log, func() { trigger(triggers, "SIGHUP") })
	defer stop()
	run, err := plan.Start(ctx, opts)
	if err != nil {
		return err
	}
	// Everything below serves the run and ends with it: aux ends when
	// the run does, whatever ended it.
	aux, cancelAux := context.WithCancel(ctx)
	defer cancelAux()
	var g errgroup.Group
	defer func() {
		cancelAux()
		_ = g.Wait()
	}()
	rel := &reloader{paths: paths, log: log, out: stdout, run: run}
	var console *control.Server
	if cAddr != "" || mAddr != "" {
		b := &browsers{run: run, regs: regs, log: log}
		defer b.close()
		console = control.New(control.Options{
			Instance: instance, Version: versionString(), Started: time.Now(), Token: consoleToken(pipes),
			Stages: run, Reloader: rel, Configs: pipes, Connectors: registry(),
			Cluster: b.cluster, DeadLetters: b.deadLetters, Log: log,
		})
		rel.applied = func(p []*pipeline.Config) {
			console.SetConfigs(p)
			console.SetToken(consoleToken(p))
		}
		g.Go(func() error { return console.Run(aux) })
	}
	var consoleHandler http.Handler // nil, not a nil *control.Server, when there is none
	if console != nil {
		consoleHandler = console
	}
	servers, err := serve(mAddr, cAddr, reg, consoleHandler, log)
	if err != nil {
		cancelAux()
		run.Stop()
		_ = run.Wait()
		return err
	}
	defer servers.stop()
	g.Go(func() error { rel.reloadOn(aux, triggers); return nil })
	if c.Watch {
		fw, err := newFileWatch(paths, log)
		if err != nil {
			cancelAux()
			run.Stop()
			_ = run.Wait()
			return err
		}
		g.Go(func() error { fw.run(aux, triggers); return nil })
	}
	return run.Wait()
}

func (c *brokerCmd) run(log *slog.Logger) error {
	b, err := embedded.Start(c.Listen)
	if err != nil {
		return err
	}
	defer b.Close()
	log.Warn("embedded broker serving; its data lives in memory only", "address", b.Addr())
	ctx, stop := signalContext(log, nil)
	defer stop()
	<-ctx.Done()
	return nil
}

// repeatWindow is how long after a stop signal a repeat counts as the same
// signal: GNU timeout and some supervisors deliver SIGTERM twice a moment
// apart, which must not cut the drain short.
const repeatWindow = time.Second

// signalContext is cancelled by the first SIGINT or SIGTERM, which starts
// a graceful drain; a signal more than repeatWindow later exits at once.
// SIGHUP calls onHUP (a reload) when set, else it drains like SIGTERM.
func signalContext(log *slog.Logger, onHUP func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		var first time.Time
	wait:
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP && onHUP != nil {
					onHUP()
					continue
				}
				first = time.Now()
				log.Info("stopping: draining in-flight records (signal again to exit at once)", "signal", s.String())
				cancel()
				break wait
			case <-done:
				return
			}
		}
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP && onHUP != nil {
					continue // no reload while stopping
				}
				if time.Since(first) < repeatWindow {
					log.Info("signal repeated within 1s: taken as the same stop, still draining", "signal", s.String())
					continue
				}
				log.Warn("second signal: exiting without draining", "signal", s.String())
				os.Exit(exitInterrupt)
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
