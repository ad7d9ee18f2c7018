package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conveyor-dev/conveyor/kafka/embedded"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// Run is a plan running: every stage in its own goroutine with its own
// context, under the Run, so that one stage can be paused, restarted, added
// or removed while the others go on. A stage that fails ends the run: the
// others are stopped and drained, and Wait returns the failure.
type Run struct {
	opts     RunOptions
	log      *slog.Logger
	regs     *Registries
	instance string

	// ctx is the parent of every stage's context: cancelled when the
	// caller's context is (a graceful stop) or a stage fails.
	ctx    context.Context
	cancel context.CancelFunc

	// control lets one Restart or Reload at a time change the stages.
	control sync.Mutex

	mu     sync.Mutex
	plan   *Plan // the configs the stages run now
	pipes  []*runPipeline
	broker *embedded.Broker
	// holds counts running stages and control calls under way; the run
	// is over when it drops to zero.
	holds    int
	ended    bool
	err      error         // the first stage failure
	done     chan struct{} // closed when holds dropped to zero
	finished chan struct{} // closed once the run cleaned up after done
}

// runPipeline is one pipeline of a run.
type runPipeline struct {
	name   string
	rep    *progress
	stages []*runStage // file order
}

// runStage is one stage of a pipeline across its incarnations.
type runStage struct {
	pipeline, name string
	fingerprint    string
	pause          *pauser
	// restarts and cur are guarded by Run.mu.
	restarts int
	cur      *incarnation
}

// incarnation is one start of a stage, from its start to its end.
type incarnation struct {
	st       *stage
	group    string
	from     []string
	to       string
	config   string
	started  time.Time
	cancel   context.CancelFunc
	draining atomic.Bool   // stopped by the run (restart, reload), not failed
	done     chan struct{} // closed when the stage ended; err is set then
	err      error
}

// Start starts every stage of every pipeline and returns the live run. The
// run ends when ctx is cancelled (every stage drains for its pipeline's
// shutdown_timeout), when a stage fails (the others then stop too), or when
// every stage has finished on its own.
func (pl *Plan) Start(ctx context.Context, opts RunOptions) (*Run, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	regs := opts.Registries
	if regs == nil {
		regs = NewRegistries(log)
	}
	r := &Run{opts: opts, log: log, regs: regs, instance: instance(opts.Instance), plan: pl,
		holds: 1, done: make(chan struct{}), finished: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(ctx)
	go r.supervise()
	for _, pp := range pl.pipelines {
		rp := r.addPipeline(pp.cfg.Name)
		if err := r.startStages(ctx, rp, pp, nil, nil); err != nil {
			r.cancel()
			r.release()
			<-r.finished
			return nil, err
		}
	}
	r.release()
	return r, nil
}

// Stop starts a graceful stop of every stage, as cancelling Start's ctx
// does; Wait tells when it is over.
func (r *Run) Stop() { r.cancel() }

// Configs are the pipelines the run has now: those it started with, or
// those of its last Reload.
func (r *Run) Configs() []*pipeline.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan.Configs()
}

// Wait returns once every stage has ended: nil after a clean stop, the
// first stage failure otherwise.
func (r *Run) Wait() error {
	<-r.finished
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// supervise draws the progress while the run lasts, then reports it a last
// time and releases the run's resources.
func (r *Run) supervise() {
	defer close(r.finished)
	var tick <-chan time.Time
	if r.opts.ProgressInterval > 0 {
		t := time.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-r.done:
			for _, rep := range r.reporters() {
				rep.report()
			}
			r.cancel()
			r.mu.Lock()
			if r.broker != nil {
				r.broker.Close()
			}
			r.mu.Unlock()
			return
		case <-tick:
			if r.opts.Terminal != nil {
				drawProgress(r.opts.Terminal, r.reporters())
				continue
			}
			for _, rep := range r.reporters() {
				rep.report()
			}
		}
	}
}

func (r *Run) reporters() []*progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*progress, len(r.pipes))
	for i, rp := range r.pipes {
		out[i] = rp.rep
	}
	return out
}

// hold keeps the run from ending while a control call changes it; false
// when it has ended already.
func (r *Run) hold() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return false
	}
	r.holds++
	return true
}

func (r *Run) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holds--
	if r.holds == 0 && !r.ended {
		r.ended = true
		close(r.done)
	}
}

// fail ends the run with err, unless it already failed.
func (r *Run) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cancel()
}

func (r *Run) addPipeline(name string) *runPipeline {
	rp := &runPipeline{name: name, rep: &progress{log: r.log.With("pipeline", name), pipeline: name}}
	r.mu.Lock()
	r.pipes = append(r.pipes, rp)
	r.mu.Unlock()
	return rp
}

// Brokers is where pipeline p's Kafka is, for clients beside the run (the
// console's topic browser): p's brokers, or the embedded broker's address.
func (r *Run) Brokers(p *pipeline.Config) (string, error) {
	if p.Kafka.Brokers != "embedded" {
		return p.Kafka.Brokers, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broker == nil {
		return "", errors.New("the embedded broker is not running")
	}
	return r.broker.Addr(), nil
}

// brokersOf is where pipeline p's Kafka is: the embedded broker (started
// on first use) when it says embedded.
func (r *Run) brokersOf(p *pipeline.Config) (string, error) {
	if p.Kafka.Brokers != "embedded" {
		return p.Kafka.Brokers, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broker == nil {
		addr := r.opts.EmbeddedAddr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		b, err := embedded.Start(addr)
		if err != nil {
			return "", err
		}
		r.broker = b
		r.log.Warn("embedded broker started: its data lives in memory only and is lost when the runner stops", "address", b.Addr())
	}
	return r.broker.Addr(), nil
}

// startStages starts the stages of pp that want accepts (nil: all) in rp,
// after ensuring the pipeline's topics exist. Those named in restarted
// count a restart.
func (r *Run) startStages(ctx context.Context, rp *runPipeline, pp *pipelinePlan, want, restarted map[string]bool) error {
	p := pp.cfg
	brokers, err := r.brokersOf(p)
	if err != nil {
		return err
	}
	if pp.registry, err = r.regs.Get(p.SchemaRegistry); err != nil {
		return err
	}
	if err := ensureTopics(ctx, pp, brokers, r.log); err != nil {
		return err
	}
	var filter func(string) bool
	if want != nil {
		filter = func(name string) bool { return want[name] }
	}
	stages, err := pp.stages(brokers, r.instance, r.opts.Monitor, rp.rep.log, filter)
	if err != nil {
		return err
	}
	for _, rn := range stages {
		name := rn.base().name
		fp, _ := p.StageFingerprint(name)
		r.mu.Lock()
		rs := rp.stage(name)
		if rs == nil {
			rs = &runStage{pipeline: p.Name, name: name, pause: &pauser{}}
			rp.stages = append(rp.stages, rs)
		}
		rs.fingerprint = fp
		if restarted[name] {
			rs.restarts++
		}
		r.mu.Unlock()
		r.launch(rp, rs, rn, p)
	}
	r.mu.Lock()
	rp.sortStages(p)
	r.mu.Unlock()
	return nil
}

func (rp *runPipeline) stage(name string) *runStage {
	for _, rs := range rp.stages {
		if rs.name == name {
			return rs
		}
	}
	return nil
}

// sortStages orders the stages as the file lists them; Run.mu is held.
func (rp *runPipeline) sortStages(p *pipeline.Config) {
	at := map[string]pipeline.Pos{}
	for _, st := range allStages(p) {
		at[st.Name] = st.Pos
	}
	slices.SortStableFunc(rp.stages, func(a, b *runStage) int {
		pa, pb := at[a.name], at[b.name]
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Col, pb.Col))
	})
}

// allStages lists a pipeline's stages with what Status shows of their
// config: sources, transforms, sinks.
func allStages(p *pipeline.Config) []stageConfig {
	var out []stageConfig
	for i := range p.Sources {
		s := &p.Sources[i]
		out = append(out, stageConfig{Stage: &s.Stage, to: s.To})
	}
	for i := range p.Transforms {
		t := &p.Transforms[i]
		out = append(out, stageConfig{Stage: &t.Stage, group: t.Group, from: t.From, to: t.To})
	}
	for i := range p.Sinks {
		s := &p.Sinks[i]
		out = append(out, stageConfig{Stage: &s.Stage, group: s.Group, from: s.From})
	}
	return out
}

type stageConfig struct {
	*pipeline.Stage
	group string
	from  []string
	to    string
}

// launch starts a new incarnation of rs running rn, its counters carried
// on from the previous one.
func (r *Run) launch(rp *runPipeline, rs *runStage, rn runnable, p *pipeline.Config) {
	st := rn.base()
	st.pause = rs.pause
	inc := &incarnation{st: st, started: time.Now(), done: make(chan struct{})}
	for _, sc := range allStages(p) {
		if sc.Name == rs.name {
			inc.group, inc.from, inc.to, inc.config = sc.group, sc.from, sc.to, sc.Text
		}
	}
	ctx, cancel := context.WithCancel(r.ctx)
	inc.cancel = cancel
	r.mu.Lock()
	if prev := rs.cur; prev != nil {
		st.counters.carryOver(prev.st.counters)
	}
	rs.cur = inc
	r.holds++
	r.mu.Unlock()
	rp.rep.set(rs.name, st.counters)
	if r.opts.Monitor != nil {
		r.opts.Monitor.AddStage(st.info())
	}
	go func() {
		defer r.release()
		defer cancel()
		err := rn.run(ctx)
		inc.err = err
		st.counters.noteStopped(err)
		close(inc.done)
		switch {
		case err == nil:
		case inc.draining.Load():
			// Stopped by a restart or reload: its records are read
			// again by the next incarnation; the run goes on.
			st.log.Warn("stage stopped with an error while draining", "error", err)
		default:
			r.fail(err)
		}
	}()
}

// drain stops the stages' current incarnations, all at once, and waits for
// each to finish as a graceful stop does: what is durable is committed, a
// static member leaves its group.
func (r *Run) drain(stages []*runStage) {
	var incs []*incarnation
	r.mu.Lock()
	for _, rs := range stages {
		if rs.cur != nil {
			incs = append(incs, rs.cur)
		}
	}
	r.mu.Unlock()
	for _, inc := range incs {
		inc.draining.Store(true)
		inc.cancel()
	}
	for _, inc := range incs {
		<-inc.done
	}
}

// find returns the pipeline and stage named; Run.mu is held.
func (r *Run) find(pipelineName, stage string) (*runPipeline, *runStage, error) {
	for _, rp := range r.pipes {
		if rp.name != pipelineName {
			continue
		}
		if rs := rp.stage(stage); rs != nil {
			return rp, rs, nil
		}
	}
	return nil, nil, fmt.Errorf("stage %s/%s: %w", pipelineName, stage, ErrNoStage)
}

func (r *Run) lookup(pipelineName, stage string) (*runPipeline, *runStage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.find(pipelineName, stage)
}

// Pause holds a stage: a consuming stage pauses its partitions but stays
// in its group, a source stops before its next batch. Records already read
// finish as usual.
func (r *Run) Pause(pipelineName, stage string) error {
	_, rs, err := r.lookup(pipelineName, stage)
	if err != nil {
		return err
	}
	rs.pause.pause()
	return nil
}

// Resume lets a paused stage go on.
func (r *Run) Resume(pipelineName, stage string) error {
	_, rs, err := r.lookup(pipelineName, stage)
	if err != nil {
		return err
	}
	rs.pause.resume()
	return nil
}

// errEnded: the run is over or stopping, and no stage can start any more.
var errEnded = errors.New("the run is stopping")

// Restart drains a stage and starts it anew from the configs the run has
// now (a paused stage comes back paused). ctx bounds the start (creating
// topics), not the drain, which its shutdown_timeout bounds.
func (r *Run) Restart(ctx context.Context, pipelineName, stage string) error {
	r.control.Lock()
	defer r.control.Unlock()
	if !r.hold() {
		return fmt.Errorf("restart %s/%s: %w", pipelineName, stage, errEnded)
	}
	defer r.release()
	rp, rs, err := r.lookup(pipelineName, stage)
	if err != nil {
		return err
	}
	r.mu.Lock()
	plan := r.plan
	r.mu.Unlock()
	var cfg *pipeline.Config
	for _, c := range plan.configs {
		if c.Name == pipelineName {
			cfg = c
		}
	}
	if cfg == nil {
		return fmt.Errorf("restart %s/%s: %w", pipelineName, stage, ErrNoStage)
	}
	// Built before the drain: a stage that cannot be built keeps running.
	fresh, err := Build([]*pipeline.Config{cfg}, plan.reg, plan.env)
	if err != nil {
		return fmt.Errorf("restart %s/%s: %w", pipelineName, stage, err)
	}
	r.log.Info("restarting stage", "pipeline", pipelineName, "stage", stage)
	r.drain([]*runStage{rs})
	if r.ctx.Err() != nil {
		return fmt.Errorf("restart %s/%s: %w", pipelineName, stage, errEnded)
	}
	if err := r.startStages(ctx, rp, fresh.pipelines[0], map[string]bool{stage: true}, map[string]bool{stage: true}); err != nil {
		return fmt.Errorf("restart %s/%s: %w", pipelineName, stage, err)
	}
	return nil
}

// Reload moves the run to next, a plan built from the files read again:
// stages whose effective config (see pipeline.Config.StageFingerprint) is
// unchanged keep running untouched; changed stages are drained and started
// with the new config; removed stages (and pipelines) are drained and leave
// their groups; added ones start. Changed and removed stages drain all at
// once, then changed and added ones start. Restart and later reloads use
// next's configs.
func (r *Run) Reload(ctx context.Context, next *Plan) (ReloadReport, error) {
	report := ReloadReport{Unchanged: []string{}, Restarted: []string{}, Added: []string{}, Removed: []string{}}
	r.control.Lock()
	defer r.control.Unlock()
	if !r.hold() {
		return report, fmt.Errorf("reload: %w", errEnded)
	}
	defer r.release()

	type placed struct {
		rp *runPipeline
		rs *runStage
	}
	r.mu.Lock()
	old := map[string]placed{}
	for _, rp := range r.pipes {
		for _, rs := range rp.stages {
			old[rp.name+"/"+rs.name] = placed{rp, rs}
		}
	}
	r.mu.Unlock()

	var stop []*runStage
	start := map[*pipelinePlan]map[string]bool{}
	restarted := map[string]bool{}
	kept := map[string]bool{}
	for _, pp := range next.pipelines {
		for _, sc := range allStages(pp.cfg) {
			key := pp.cfg.Name + "/" + sc.Name
			fp, _ := pp.cfg.StageFingerprint(sc.Name)
			o, ok := old[key]
			kept[key] = ok
			switch {
			case ok && o.rs.fingerprint == fp:
				report.Unchanged = append(report.Unchanged, key)
				continue
			case ok:
				report.Restarted = append(report.Restarted, key)
				restarted[key] = true
				stop = append(stop, o.rs)
			default:
				report.Added = append(report.Added, key)
			}
			if start[pp] == nil {
				start[pp] = map[string]bool{}
			}
			start[pp][sc.Name] = true
		}
	}
	var removed []placed
	for key, o := range old {
		if !kept[key] {
			report.Removed = append(report.Removed, key)
			removed = append(removed, o)
			stop = append(stop, o.rs)
		}
	}
	slices.Sort(report.Removed)
	r.log.Info("reloading", "unchanged", len(report.Unchanged), "restarted", report.Restarted, "added", report.Added, "removed", report.Removed)

	r.drain(stop)

	// The run's pipelines and stages become next's, in next's order.
	r.mu.Lock()
	for _, o := range removed {
		o.rp.stages = slices.DeleteFunc(o.rp.stages, func(rs *runStage) bool { return rs == o.rs })
		o.rp.rep.remove(o.rs.name)
	}
	byName := map[string]*runPipeline{}
	for _, rp := range r.pipes {
		byName[rp.name] = rp
	}
	pipes := make([]*runPipeline, 0, len(next.pipelines))
	for _, pp := range next.pipelines {
		rp := byName[pp.cfg.Name]
		if rp == nil {
			rp = &runPipeline{name: pp.cfg.Name, rep: &progress{log: r.log.With("pipeline", pp.cfg.Name), pipeline: pp.cfg.Name}}
		}
		rp.sortStages(pp.cfg)
		pipes = append(pipes, rp)
	}
	r.pipes, r.plan = pipes, next
	r.mu.Unlock()
	if r.opts.Monitor != nil {
		for _, o := range removed {
			r.opts.Monitor.RemoveStage(o.rs.pipeline, o.rs.name)
		}
	}
	if r.ctx.Err() != nil {
		return report, fmt.Errorf("reload: %w", errEnded)
	}
	var errs []error
	for _, pp := range next.pipelines {
		names := start[pp]
		if len(names) == 0 {
			continue
		}
		rp := byNameIn(r, pp.cfg.Name)
		again := map[string]bool{}
		for name := range names {
			again[name] = restarted[pp.cfg.Name+"/"+name]
		}
		if err := r.startStages(ctx, rp, pp, names, again); err != nil {
			errs = append(errs, fmt.Errorf("reload: pipeline %s: %w", pp.cfg.Name, err))
		}
	}
	return report, errors.Join(errs...)
}

func byNameIn(r *Run, name string) *runPipeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rp := range r.pipes {
		if rp.name == name {
			return rp
		}
	}
	return nil
}

// Status is a snapshot of every stage: pipelines in load order, stages in
// file order.
func (r *Run) Status() []StageStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	stopping := r.ctx.Err() != nil
	var out []StageStatus
	for _, rp := range r.pipes {
		for _, rs := range rp.stages {
			if rs.cur != nil {
				out = append(out, rs.status(stopping))
			}
		}
	}
	return out
}

// status describes the stage; Run.mu is held.
func (rs *runStage) status(stopping bool) StageStatus {
	inc := rs.cur
	st, c := inc.st, inc.st.counters
	s := StageStatus{
		Pipeline: rs.pipeline, Stage: rs.name, Kind: st.kind, Connector: st.connector, Delivery: string(st.delivery),
		Group: inc.group, From: slices.Clone(inc.from), To: inc.to,
		Started: inc.started, Restarts: rs.restarts,
		In: c.In.Load(), Out: c.Out.Load(), Filtered: c.Filtered.Load(), Dropped: c.Dropped.Load(),
		DeadLettered: c.DeadLettered.Load(), Failed: c.Failed.Load(), Rebalances: c.Rebalances.Load(),
		Lag: c.Lag(), Errors: c.live.errors(), Config: inc.config,
	}
	if s.Kind != "source" {
		s.Partitions = c.live.partitions()
	}
	s.State, s.Reason = inc.state(rs.pause.isPaused(), stopping, len(s.Partitions))
	return s
}

func (inc *incarnation) state(paused, stopping bool, owned int) (StageState, string) {
	c := inc.st.counters
	select {
	case <-inc.done:
		if inc.err != nil && !inc.draining.Load() {
			return StateFailed, inc.err.Error()
		}
		return StateStopped, ""
	default:
	}
	switch {
	case inc.draining.Load() || stopping:
		return StateDraining, ""
	case paused:
		return StatePaused, ""
	}
	if p := c.problem(); p != "" {
		return StateRetrying, p
	}
	switch {
	case !c.ready.Load():
		return StateStarting, ""
	case inc.st.kind == "source" && c.live.isStandby():
		return StateWaiting, "another runner process reads this shared source"
	case inc.st.kind != "source" && owned == 0:
		return StateWaiting, "no partitions assigned to this process"
	}
	return StateRunning, ""
}
