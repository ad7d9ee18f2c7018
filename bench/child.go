package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// child is one measured process: the runner or `bench raw`. Its stdout and
// stderr go to a log file, read back when it fails.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	exited  chan struct{} // closed by the wait goroutine, the cmd's owner
	waitErr error         // valid once exited is closed
	// peakRSS is the highest VmHWM sampled from /proc while the process
	// ran. The kernel's ru_maxrss cannot serve: os/exec starts the child
	// with vfork, so its ru_maxrss includes the harness's own resident set
	// at exec, and the harness holds every preloaded order in memory.
	peakRSS atomic.Int64
}

func startChild(name, logPath string, argv ...string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create log: %w", name, err)
	}
	// The process gets its own copy of the descriptor: ours closes at once.
	defer f.Close()
	c := &child{name: name, cmd: exec.Command(argv[0], argv[1:]...), logPath: logPath, exited: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	go c.sampleRSS()
	return c, nil
}

// sampleRSS reads the process's VmHWM every 50ms until it exits. VmHWM is
// itself a high-water mark, so a sample after a peak still sees it; only a
// peak in the last 50ms before exit can be missed.
func (c *child) sampleRSS() {
	path := fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if kb, ok := vmHWM(path); ok && kb*1024 > c.peakRSS.Load() {
			c.peakRSS.Store(kb * 1024)
		}
		select {
		case <-c.exited:
			return
		case <-t.C:
		}
	}
}

// vmHWM reads the VmHWM line (KiB) of a /proc status file.
func vmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

func (c *child) hasExited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit on its own and returns
// its exit error (nil for status 0).
func (c *child) wait(timeout time.Duration) error {
	if !c.hasExited() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-t.C:
			return fmt.Errorf("%s: still running after %s", c.name, timeout)
		}
	}
	if c.waitErr != nil {
		return fmt.Errorf("%s: %w; its output ends with:\n%s", c.name, c.waitErr, c.logTail())
	}
	return nil
}

// terminate sends SIGTERM (a graceful drain for the runner) and waits;
// SIGKILL after timeout.
func (c *child) terminate(timeout time.Duration) error {
	if !c.hasExited() {
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("%s: send SIGTERM: %w", c.name, err)
		}
	}
	if err := c.wait(timeout); err != nil {
		c.kill()
		return err
	}
	return nil
}

// kill stops the process at once and waits for it; for failures and
// cancellation, where its numbers no longer matter.
func (c *child) kill() {
	if !c.hasExited() {
		_ = c.cmd.Process.Kill() // it may have exited since the check
	}
	<-c.exited
}

// usage is what the kernel accounted to the exited process.
type usage struct {
	cpu    time.Duration // user + system
	maxRSS int64         // bytes
}

func (c *child) usage() (usage, error) {
	if !c.hasExited() {
		return usage{}, fmt.Errorf("%s: usage asked before exit", c.name)
	}
	ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return usage{}, fmt.Errorf("%s: no rusage on this platform", c.name)
	}
	return usage{
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		maxRSS: c.peakRSS.Load(),
	}, nil
}

// logTail is the last lines the process wrote, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-20):], []byte("\n")))
}
