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

// servers are the HTTP servers of a run: metrics and the console, on
// one address or two.
type servers []*http.Server

// serve listens at once, so a taken port fails the start, and serves until
// stop: metrics, /healthz and /readyz at mAddr, the console and its API at
// cAddr, or beside the metrics when cAddr is "" or the same address.
func serve(mAddr, cAddr pipeline.ListenAddr, reg *metrics.Registry, console http.Handler, log *slog.Logger) (servers, error) {
	var ss servers
	listen := func(addr pipeline.ListenAddr, h http.Handler, what string, withConsole, withMetrics bool) error {
		if addr.EveryInterface() {
			// ":9464" reads like "this machine only" but is every interface.
			log.Warn(what+" served on every network interface; give a host (127.0.0.1:PORT) to keep them local", "address", string(addr))
		}
		ln, err := net.Listen("tcp", string(addr))
		if err != nil {
			return fmt.Errorf("%s: listen on %s: %w", what, addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		ss = append(ss, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(what+" server stopped", "error", err)
			}
		}()
		if withMetrics {
			log.Info("serving metrics", "address", ln.Addr().String(), "paths", "/metrics /healthz /readyz")
		}
		if withConsole {
			log.Info("serving the console and the control API", "url", "http://"+ln.Addr().String()+"/", "api", "/api/v1/")
		}
		return nil
	}
	var err error
	switch {
	case mAddr != "" && console != nil && (cAddr == "" || cAddr == mAddr):
		mux := http.NewServeMux()
		mh := reg.Handler()
		for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
			mux.Handle(p, mh)
		}
		mux.Handle("/", console)
		err = listen(mAddr, mux, "metrics, /healthz and /readyz are", true, true)
	default:
		if mAddr != "" {
			err = listen(mAddr, reg.Handler(), "metrics, /healthz and /readyz are", false, true)
		}
		if err == nil && cAddr != "" && console != nil {
			err = listen(cAddr, console, "the console and its control API are", true, false)
		}
	}
	if err != nil {
		ss.stop()
		return nil, err
	}
	return ss, nil
}

// stop shuts the servers down, giving requests under way 2 s.
func (ss servers) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range ss {
		_ = s.Shutdown(ctx)
	}
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
