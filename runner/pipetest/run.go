package pipetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/kafka/embedded"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Options tune a test run.
type Options struct {
	// Registry lists the connectors pipelines may use (the runner's).
	Registry connectors.Registry
	// Lookup is the process environment, under each case's env; default
	// os.LookupEnv.
	Lookup pipeline.LookupFunc
	// Log receives the pipelines' logs; nil discards them.
	Log *slog.Logger
	// PipelineStdout receives what stdout sinks print; nil discards it.
	PipelineStdout io.Writer
	// Report receives a PASS/FAIL line per case, the diffs of failures and a
	// summary line.
	Report io.Writer
	// Match, when set, runs only the cases whose name matches.
	Match *regexp.Regexp
}

func (opts Options) withDefaults() Options {
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.PipelineStdout == nil {
		opts.PipelineStdout = io.Discard
	}
	if opts.Report == nil {
		opts.Report = io.Discard
	}
	return opts
}

// Summary counts the cases run.
type Summary struct {
	Passed, Failed int
}

// ErrInvalid wraps errors in test files (as opposed to failing tests).
var ErrInvalid = errors.New("invalid test files")

// Run loads every test file under paths (see Files) and runs their cases
// one after another, reporting to opts.Report. Invalid test files stop it
// before anything runs, with an error wrapping ErrInvalid.
func Run(ctx context.Context, paths []string, opts Options) (Summary, error) {
	opts = opts.withDefaults()
	files, err := Files(paths)
	if err != nil {
		return Summary{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var loaded []*File
	var errs pipeline.Errors
	for _, f := range files {
		tf, err := Load(f)
		errs.Add(pipeline.Pos{File: f}, "", err)
		if tf != nil {
			loaded = append(loaded, tf)
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return Summary{}, fmt.Errorf("%w:\n%w", ErrInvalid, errs)
	}
	var sum Summary
	for _, f := range loaded {
		for _, c := range f.Cases {
			if opts.Match != nil && !opts.Match.MatchString(c.Name) {
				continue
			}
			res := RunCase(ctx, f, c, opts)
			res.Write(opts.Report)
			if res.Passed() {
				sum.Passed++
			} else {
				sum.Failed++
			}
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
		}
	}
	switch {
	case sum.Passed+sum.Failed == 0:
		fmt.Fprintln(opts.Report, "no test cases matched")
	case sum.Failed > 0:
		fmt.Fprintf(opts.Report, "FAIL: %d of %d test case(s) failed\n", sum.Failed, sum.Passed+sum.Failed)
	default:
		fmt.Fprintf(opts.Report, "ok: %d test case(s) passed\n", sum.Passed)
	}
	return sum, nil
}

// Result is the outcome of one case.
type Result struct {
	File     string
	Case     string
	Duration time.Duration
	// Problems are the report's lines under the FAIL line; none means PASS.
	Problems []string
}

// Passed reports whether the case passed.
func (r *Result) Passed() bool { return len(r.Problems) == 0 }

// Write prints the PASS or FAIL line and the problems.
func (r *Result) Write(w io.Writer) {
	status := "PASS"
	if !r.Passed() {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s %s: %s (%s)\n", status, r.File, r.Case, r.Duration.Round(10*time.Millisecond))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "    %s\n", p)
	}
}

func (r *Result) fail(format string, args ...any) {
	r.Problems = append(r.Problems, strings.Split(fmt.Sprintf(format, args...), "\n")...)
}

// RunCase runs one case on its own embedded broker and temporary folder.
func RunCase(ctx context.Context, f *File, c *Case, opts Options) *Result {
	started := time.Now()
	res := &Result{File: f.Path, Case: c.Name}
	defer func() { res.Duration = time.Since(started) }()
	tmp, err := os.MkdirTemp("", "pipetest-")
	if err != nil {
		res.fail("temporary folder: %v", err)
		return res
	}
	defer os.RemoveAll(tmp)
	r := &caseRun{f: f, c: c, opts: opts.withDefaults(), res: res, tmp: tmp}
	r.run(ctx)
	return res
}

type caseRun struct {
	f    *File
	c    *Case
	opts Options
	res  *Result
	tmp  string
}

func (r *caseRun) subst(s string) string { return strings.ReplaceAll(s, "{{tmp}}", r.tmp) }

func (r *caseRun) lookup(name string) (string, bool) {
	if v, ok := r.c.Env[name]; ok {
		return r.subst(v), true
	}
	return r.opts.Lookup(name)
}

func (r *caseRun) run(ctx context.Context) {
	c, res := r.c, r.res
	src, err := readBounded(r.f.Pipeline) // checked by Load: inside the test's folder, a pipeline
	if err != nil {
		res.fail("pipeline: %v", err)
		return
	}
	reg := r.opts.Registry
	p, err := pipeline.Parse(r.f.Pipeline, src, pipeline.Options{Lookup: r.lookup, Kinds: reg.Kinds()})
	if err != nil {
		res.fail("invalid pipeline:\n%v", err)
		return
	}
	if !r.disable(p) {
		return
	}
	watches, quiet := r.sources(p)
	if !res.Passed() {
		return
	}
	where, ok := r.compileWhere(p)
	if !ok {
		return
	}

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if err := r.execSQL(ctx); err != nil {
		res.fail("%v", err)
		return
	}
	broker, err := embedded.Start("127.0.0.1:0")
	if err != nil {
		res.fail("%v", err)
		return
	}
	defer broker.Close()
	forEmbedded(p, broker.Addr())
	if err := createTopics(ctx, p); err != nil {
		res.fail("create topics: %v", err)
		return
	}
	regs := engine.NewRegistries(r.opts.Log)
	sr, err := regs.Get(p.SchemaRegistry)
	if err != nil {
		res.fail("%v", err)
		return
	}
	tc := topicCodecs{p: p, reg: sr}
	if err := produce(ctx, p, tc, c.Input); err != nil {
		res.fail("inputs: %v", err)
		return
	}
	byPath := map[string]*sourceWatch{}
	for _, w := range watches {
		byPath[w.path] = w.sourceWatch
	}
	env := connectors.Env{Lookup: r.lookup, Log: r.opts.Log, Stdout: r.opts.PipelineStdout}
	plan, err := engine.Build([]*pipeline.Config{p}, watchRegistry(reg, byPath), env)
	if err != nil {
		res.fail("invalid pipeline:\n%v", err)
		return
	}
	var consumers []consuming
	for _, t := range p.Transforms {
		consumers = append(consumers, consuming{what: "transform " + t.Name, group: t.Group, topics: t.From})
	}
	for _, s := range p.Sinks {
		consumers = append(consumers, consuming{what: "sink " + s.Name, group: s.Group, topics: s.From})
	}
	var sw []*sourceWatch
	for _, w := range watches {
		sw = append(sw, w.sourceWatch)
	}
	st, err := newSettler(broker.Addr(), quiet, consumers, sw)
	if err != nil {
		res.fail("%v", err)
		return
	}
	defer st.close()

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	runDone := make(chan struct{})
	var runErr error
	go func() {
		defer close(runDone)
		runErr = plan.Run(runCtx, engine.RunOptions{Log: r.opts.Log, Instance: "pipetest", Registries: regs})
	}()
	settled, pending := st.wait(ctx, runDone)
	ended := false // every stage finished on its own
	select {
	case <-runDone:
		ended = true
	default:
	}
	stopRun()
	select {
	case <-runDone:
	case <-time.After(time.Duration(p.ShutdownTimeout) + 10*time.Second):
		res.fail("the pipeline did not stop within its shutdown_timeout (%s)", time.Duration(p.ShutdownTimeout))
		return
	}
	switch {
	case runErr != nil:
		res.fail("pipeline failed: %v", runErr)
	case settled || ended:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.fail("did not settle within %s:", c.Timeout)
		for _, s := range pending {
			res.fail("  %s", s)
		}
	default:
		res.fail("interrupted")
		return
	}

	readCtx, cancelRead := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelRead()
	mt := &matcher{where: where, m: expression.Options{Vars: p.Vars}.NewMachine()}
	for _, te := range c.Expect {
		got, err := readTopic(readCtx, broker.Addr(), te.Topic)
		if err == nil {
			err = tc.decode(readCtx, te.Topic, got)
		}
		if err != nil {
			res.fail("topic %s: %v", te.Topic, err)
			continue
		}
		if ms := mt.compare(te.Records, got); len(ms) > 0 {
			r.reportTopic(te, got, ms)
		}
	}
	r.checkRows(readCtx)
}

// disable removes the disabled stages from the pipeline.
func (r *caseRun) disable(p *pipeline.Config) bool {
	off := map[string]bool{}
	for _, d := range r.c.Disable {
		off[d.Name] = true
	}
	known := map[string]bool{}
	p.Sources = slices.DeleteFunc(p.Sources, func(s pipeline.Source) bool { known[s.Name] = true; return off[s.Name] })
	p.Transforms = slices.DeleteFunc(p.Transforms, func(t pipeline.Transform) bool { known[t.Name] = true; return off[t.Name] })
	p.Sinks = slices.DeleteFunc(p.Sinks, func(s pipeline.Sink) bool { known[s.Name] = true; return off[s.Name] })
	for _, d := range r.c.Disable {
		if !known[d.Name] {
			r.res.fail("%s: disable: pipeline %s has no stage %q", d.Pos, p.Name, d.Name)
		}
	}
	if len(p.Sources)+len(p.Transforms)+len(p.Sinks) == 0 {
		r.res.fail("%s: disable: every stage is disabled", r.c.Pos)
	}
	return r.res.Passed()
}

type pathWatch struct {
	path string
	*sourceWatch
}

// sources prepares a watch per source and the quiet period: the case's,
// but at least twice the longest poll_interval of a source plus 200ms, so
// a polling source polls again after the last change. A source whose spec
// names the option that ends it (generate's count) must have it set (or be
// disabled): otherwise it never finishes.
func (r *caseRun) sources(p *pipeline.Config) ([]pathWatch, time.Duration) {
	quiet := r.c.Quiet
	var out []pathWatch
	for _, s := range p.Sources {
		w := &sourceWatch{name: s.Name, kind: s.Connector.Kind}
		if spec, _ := r.opts.Registry.Source(s.Connector.Kind); spec.Caps.EndsWith != "" {
			ends := spec.Caps.EndsWith
			var g map[string]int64
			_ = pipeline.Decode(only(s.Connector, ends), r.lookup, &g)
			if g[ends] <= 0 {
				r.res.fail("%s: source %s never finishes: disable it (disable: [%s]) or give it a %s", s.Pos, s.Name, s.Name, ends)
			}
			w.finite = true
		}
		var poll struct {
			PollInterval pipeline.Duration `yaml:"poll_interval"`
		}
		_ = pipeline.Decode(only(s.Connector, "poll_interval"), r.lookup, &poll)
		if q := 2*time.Duration(poll.PollInterval) + 200*time.Millisecond; poll.PollInterval > 0 && q > quiet {
			quiet = q
		}
		out = append(out, pathWatch{s.Connector.Path, w})
	}
	return out, quiet
}

// only is c with just the key named (if present), so decoding it into a
// one-field struct reports nothing about the other keys.
func only(c pipeline.Connector, key string) pipeline.Connector {
	n := c.Node
	c.Node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return c
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			c.Node.Content = append(c.Node.Content, n.Content[i], n.Content[i+1])
		}
	}
	return c
}

func (r *caseRun) compileWhere(p *pipeline.Config) (map[*Expect]*expression.Program, bool) {
	out := map[*Expect]*expression.Program{}
	var errs pipeline.Errors
	for ti := range r.c.Expect {
		recs := r.c.Expect[ti].Records
		for i := range recs {
			e := &recs[i]
			if e.Where == nil {
				continue
			}
			prog, err := expression.Compile(*e.Where, expression.Options{Vars: p.Vars}, expression.Bool)
			if err != nil {
				errs.Add(e.Where.Pos, e.Where.Path, err)
				continue
			}
			out[e] = prog
		}
	}
	if len(errs) > 0 {
		errs = slices.CompactFunc(errs, func(a, b *pipeline.Error) bool { return a.Error() == b.Error() })
		r.res.fail("%v", errs)
		return nil, false
	}
	return out, true
}

// maxLines caps the differences shown per topic.
const maxLines = 20

func (r *caseRun) reportTopic(te TopicExpect, got []*Got, ms []Mismatch) {
	r.res.fail("topic %s: expected %d record(s), got %d", te.Topic, len(te.Records), len(got))
	for i, m := range ms {
		if i == maxLines {
			r.res.fail("  ... and %d more", len(ms)-i)
			break
		}
		switch m.Kind {
		case "differs":
			r.res.fail("  differs:    expected %s  (%s)", formatExpect(m.Expected), m.Expected.Pos)
			r.res.fail("              got      %s", formatGot(m.Got, m.Expected))
		case "missing":
			r.res.fail("  missing:    %s  (%s)", formatExpect(m.Expected), m.Expected.Pos)
		case "unexpected":
			r.res.fail("  unexpected: %s", formatGot(m.Got, nil))
		}
		if m.Note != "" {
			r.res.fail("              %s", m.Note)
		}
	}
}
