package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/conveyor-dev/conveyor/control"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// reloader re-reads the pipeline files and applies them to the run: the
// one path SIGHUP, --watch and the control API take.
type reloader struct {
	paths []string
	log   *slog.Logger
	out   io.Writer
	run   *engine.Run
	// applied, when set, hears of the configs a reload put in place.
	applied func([]*pipeline.Config)

	mu sync.Mutex // one reload at a time
}

// Reload loads the files as a start would; an invalid file changes nothing.
func (r *reloader) Reload(ctx context.Context) (engine.ReloadReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	plan, pipes, err := loadPipelines(r.paths, r.out, r.log, nil)
	if err != nil {
		return engine.ReloadReport{}, &control.InvalidConfig{Errors: problems(err)}
	}
	rep, err := r.run.Reload(ctx, plan)
	if err != nil {
		return rep, fmt.Errorf("reload: %w", err)
	}
	if r.applied != nil {
		r.applied(pipes)
	}
	return rep, nil
}

// problems lists the messages of a load error, one per problem.
func problems(err error) []string {
	var es pipeline.Errors
	if errors.As(err, &es) {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.Error()
		}
		return out
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err != nil {
		return []string{ee.err.Error()}
	}
	return []string{err.Error()}
}

// reloadOn reloads whenever a trigger names why (a signal, a changed
// file), logging what each reload did, until ctx ends.
func (r *reloader) reloadOn(ctx context.Context, triggers <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case why := <-triggers:
			r.logged(ctx, why)
		}
	}
}

// logged runs one reload and logs its outcome.
func (r *reloader) logged(ctx context.Context, why string) {
	r.log.Info("reloading pipeline files", "trigger", why)
	rep, err := r.Reload(ctx)
	var inv *control.InvalidConfig
	switch {
	case errors.As(err, &inv):
		for _, p := range inv.Errors {
			r.log.Error("reload refused: invalid pipeline file", "problem", p)
		}
		r.log.Warn("reload refused: the running pipelines keep going", "problems", len(inv.Errors))
	case err != nil:
		r.log.Error("reload failed", "error", err)
	default:
		r.log.Info("reloaded", "unchanged", len(rep.Unchanged), "restarted", rep.Restarted, "added", rep.Added, "removed", rep.Removed)
	}
}

// trigger asks for a reload without blocking: one pending is enough,
// since a reload reads the files as they are when it runs.
func trigger(ch chan<- string, why string) {
	select {
	case ch <- why:
	default:
	}
}

// watchDebounce lets an editor finish writing (write, rename, chmod)
// before the files are read.
const watchDebounce = 300 * time.Millisecond

// fileWatch triggers a reload when a pipeline file, or a YAML file in a
// pipeline folder, changes. It watches folders, not files: editors save by
// writing a new file and renaming it over the old one, which a watch on
// the old file would miss.
type fileWatch struct {
	w     *fsnotify.Watcher
	files map[string]bool // the files given; a folder given counts all its YAML files
	dirs  map[string]bool
	log   *slog.Logger
}

func newFileWatch(paths []string, log *slog.Logger) (*fileWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("--watch: %w", err)
	}
	fw := &fileWatch{w: w, files: map[string]bool{}, dirs: map[string]bool{}, log: log}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("--watch: %w", err)
		}
		dir := abs
		if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
			fw.files[abs] = true
			dir = filepath.Dir(abs)
		} else {
			fw.dirs[abs] = true
		}
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("--watch %s: %w", p, err)
		}
	}
	return fw, nil
}

// relevant reports whether a change to name concerns the pipeline files.
func (fw *fileWatch) relevant(name string) bool {
	if fw.files[name] {
		return true
	}
	ext := filepath.Ext(name)
	return fw.dirs[filepath.Dir(name)] && (ext == ".yaml" || ext == ".yml")
}

// run sends triggers until ctx ends, then closes the watcher.
func (fw *fileWatch) run(ctx context.Context, triggers chan<- string) {
	defer fw.w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	changed := ""
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			name := filepath.Clean(ev.Name)
			if ev.Op == fsnotify.Chmod || !fw.relevant(name) {
				continue
			}
			changed = name
			timer.Reset(watchDebounce)
		case <-timer.C:
			trigger(triggers, "file changed: "+changed)
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			fw.log.Warn("--watch: watching the pipeline files", "error", err)
		}
	}
}
