package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPositionalPaths: pipeline files may be given as arguments wherever
// -c is accepted, alone or beside -c, and the default command takes them
// too.
func TestPositionalPaths(t *testing.T) {
	bad := "testdata/check/bad-duration.yaml"
	var want bytes.Buffer
	if code := run([]string{"check", "-c", bad}, &bytes.Buffer{}, &want); code != exitInvalid {
		t.Fatalf("check -c %s: exit %d, want %d", bad, code, exitInvalid)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // a part of standard output
		stderr string // a part of standard error
	}{
		{args: []string{"check", bad}, code: exitInvalid, stderr: want.String()},
		{args: []string{"check", "../configs"}, code: exitOK, stdout: "ok: 5 file(s) valid"},
		{args: []string{"check", "../configs/donut-orders.yaml", "-c", "../configs/shop-orders.yaml"}, code: exitOK, stdout: "ok: 2 file(s) valid"},
		{args: []string{"check", "../configs/donut-orders.yaml", "-c", "../configs/donut-orders.yaml"}, code: exitOK, stdout: "ok: 1 file(s) valid"},
		{args: []string{"plan", "../configs/donut-orders.yaml"}, code: exitOK, stdout: "pipeline donut-orders"},
		{args: []string{"plan", "--format", "mermaid", bad}, code: exitInvalid, stderr: want.String()},
		{args: []string{"run", bad}, code: exitInvalid, stderr: want.String()},
		{args: []string{bad}, code: exitInvalid, stderr: want.String()},
		{args: []string{"-c", bad}, code: exitInvalid, stderr: want.String()},
		{args: []string{"--progress", "0", "testdata/run/finite.yaml"}, code: exitOK, stderr: `msg="source finished" pipeline=finite stage=once`},
		{args: []string{"chek", "configs"}, code: exitUsage, stderr: "runner: chek: no such pipeline file or folder, nor a command (see runner --help)"},
		{args: []string{"check"}, code: exitUsage, stderr: "runner: no pipeline file"},
		{args: []string{"plan"}, code: exitUsage, stderr: "runner: no pipeline file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout (want a part %q):\n%s\nstderr (want a part %q):\n%s", code, tc.code, tc.stdout, stdout.String(), tc.stderr, stderr.String())
			}
		})
	}
}

const everyInterface = "metrics, /healthz and /readyz are served on every network interface"

// TestMetricsAddrUsage: a malformed --metrics-addr or CONVEYOR_METRICS_ADDR
// is a bad command line (exit 2), reported before anything runs.
func TestMetricsAddrUsage(t *testing.T) {
	for _, addr := range []string{"nonsense", "9464", ":99999", "127.0.0.1:http", "bad host:9464", "[::1:9464"} {
		t.Run(addr, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"--metrics-addr", addr, "-c", "testdata/run/finite.yaml"}, &stdout, &stderr)
			want := `runner: --metrics-addr (or CONVEYOR_METRICS_ADDR): invalid address "` + addr + `"`
			if code != exitUsage || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "source finished") {
				t.Fatalf("exit %d, want %d with %q and no run; stderr:\n%s", code, exitUsage, want, stderr.String())
			}
		})
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv("CONVEYOR_METRICS_ADDR", "localhost")
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-c", "testdata/run/finite.yaml"}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), `invalid address "localhost": want host:port`) {
			t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
		}
	})
}

// TestMetricsEveryInterfaceWarning: an address without a host, or with
// 0.0.0.0 or ::, serves metrics on every interface and says so once; a
// host keeps quiet.
func TestMetricsEveryInterfaceWarning(t *testing.T) {
	for addr, warnings := range map[string]int{":0": 1, "0.0.0.0:0": 1, "127.0.0.1:0": 0, "localhost:0": 0} {
		t.Run(addr, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"--progress", "0", "--metrics-addr", addr, "-c", "testdata/run/finite.yaml"}, &stdout, &stderr)
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
			}
			if n := strings.Count(stderr.String(), everyInterface); n != warnings || !strings.Contains(stderr.String(), `msg="serving metrics"`) {
				t.Fatalf("%d warning(s) about every interface, want %d, and metrics served; stderr:\n%s", n, warnings, stderr.String())
			}
		})
	}
}
