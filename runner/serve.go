package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/conveyor-dev/conveyor/engine/metrics"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// metricsFlag checks --metrics-addr (or CONVEYOR_METRICS_ADDR) before
// anything loads: a malformed one is a bad command line (exit 2).
func metricsFlag(flag string) (pipeline.ListenAddr, error) {
	if flag == "" {
		return "", nil
	}
	addr, err := pipeline.ParseListenAddr(flag)
	if err != nil {
		return "", &exitError{code: exitUsage, err: fmt.Errorf("runner: --metrics-addr (or CONVEYOR_METRICS_ADDR): %w", err)}
	}
	return addr, nil
}

// metricsAddr is the flag's address, else the first file's metrics.listen.
func metricsAddr(flag pipeline.ListenAddr, pipes []*pipeline.Config) pipeline.ListenAddr {
	if flag != "" {
		return flag
	}
	for _, p := range pipes {
		if p.Metrics.Listen != "" {
			return p.Metrics.Listen
		}
	}
	return ""
}

// serveMetrics listens at once, so a taken port fails the start, and serves
// until the returned stop is called.
func serveMetrics(addr pipeline.ListenAddr, reg *metrics.Registry, log *slog.Logger) (stop func(), err error) {
	if addr.EveryInterface() {
		// ":9464" reads like "this machine only" but is every interface.
		log.Warn("metrics, /healthz and /readyz are served on every network interface; give a host (127.0.0.1:PORT) to keep them local", "address", string(addr))
	}
	ln, err := net.Listen("tcp", string(addr))
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving metrics", "address", ln.Addr().String(), "paths", "/metrics /healthz /readyz")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// terminal is standard error when it is a terminal: progress is redrawn
// in place there, and log lines written through logs() tell the next
// drawing to start below them instead of over them.
type terminal struct {
	f     *os.File
	other atomic.Bool
}

// newTerminal returns nil when w is not a terminal: progress then goes to
// the log as plain lines.
func newTerminal(w io.Writer) *terminal {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	t := &terminal{f: f}
	t.other.Store(true)
	return t
}

func (t *terminal) Write(p []byte) (int, error) { return t.f.Write(p) }

func (t *terminal) Interrupted() bool { return t.other.Swap(false) }

// logs is the writer for log lines.
func (t *terminal) logs() io.Writer { return logWriter{t} }

type logWriter struct{ t *terminal }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.other.Store(true)
	return w.t.f.Write(p)
}
