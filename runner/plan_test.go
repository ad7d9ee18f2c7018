package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// unsetConfigVars unsets, for the test, every environment variable the
// files refer to, so that ${VAR:-default} takes its default whatever the
// machine's environment holds.
func unsetConfigVars(t *testing.T, files []string) {
	t.Helper()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range varRE.FindAllStringSubmatch(string(src), -1) {
			t.Setenv(m[1], "") // restored after the test
			os.Unsetenv(m[1])
		}
	}
}

// TestPlanGolden prints the plan of every example pipeline, one file at a
// time and the whole folder, as text and as Mermaid, and compares it with
// testdata/plan (go test ./runner -run TestPlanGolden -update rewrites it).
func TestPlanGolden(t *testing.T) {
	goldenDir, err := filepath.Abs("testdata/plan")
	if err != nil {
		t.Fatal(err)
	}
	// From the repository root, so the files print as configs/NAME.yaml.
	t.Chdir("..")
	files, err := filepath.Glob("configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	unsetConfigVars(t, files)
	cases := map[string]string{"configs": "configs"}
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		cases[strings.TrimSuffix(filepath.Base(f), ".yaml")] = f
	}
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, path := range cases {
		for format, ext := range map[string]string{"text": ".txt", "mermaid": ".mmd"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := run([]string{"plan", "-c", path, "--format", format}, &stdout, &stderr); code != exitOK {
					t.Fatalf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
				}
				if stderr.Len() > 0 {
					t.Errorf("unexpected standard error:\n%s", stderr.String())
				}
				checkGolden(t, filepath.Join(goldenDir, name+ext), stdout.Bytes(), "TestPlanGolden")
			})
		}
	}
}

// TestPlanDefaultFormat checks that text is the default.
func TestPlanDefaultFormat(t *testing.T) {
	unsetConfigVars(t, []string{"../configs/donut-orders.yaml"})
	var def, text, stderr bytes.Buffer
	if code := run([]string{"plan", "-c", "../configs/donut-orders.yaml"}, &def, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"plan", "-c", "../configs/donut-orders.yaml", "--format", "text"}, &text, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if def.String() != text.String() || !strings.HasPrefix(def.String(), "pipeline donut-orders ") {
		t.Errorf("default output is not the text format:\n%s", def.String())
	}
}

// TestPlanInvalidFiles reports config errors as check does, exit status 3.
func TestPlanInvalidFiles(t *testing.T) {
	for _, f := range []string{"testdata/check/bad-expression.yaml", "testdata/check/unknown-key.yaml"} {
		var planOut, planErr, checkOut, checkErr bytes.Buffer
		code := run([]string{"plan", "-c", f}, &planOut, &planErr)
		if code != exitInvalid {
			t.Fatalf("%s: exit %d, want %d", f, code, exitInvalid)
		}
		run([]string{"check", "-c", f}, &checkOut, &checkErr)
		if planOut.Len() > 0 {
			t.Errorf("%s: printed a plan for invalid files:\n%s", f, planOut.String())
		}
		if planErr.String() != checkErr.String() {
			t.Errorf("%s: errors differ from check's\n--- plan\n%s--- check\n%s", f, planErr.String(), checkErr.String())
		}
	}
}

// TestPlanBadFormat rejects formats other than text and mermaid.
func TestPlanBadFormat(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"plan", "-c", "../configs/donut-orders.yaml", "--format", "dot"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
}

// TestPlanWarningsExitZero: warnings are printed but do not fail the command.
func TestPlanWarningsExitZero(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "loop.yaml")
	src := `pipeline: loop
kafka: {brokers: embedded}
transforms:
  there: {from: a, to: b}
  back:  {from: b, to: a}
  away:  {from: in, to: out}
`
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for format, want := range map[string][]string{
		"text": {"\nwarnings:\n", "  cycle: a -> loop/there -> b -> loop/back -> a\n",
			"  external: topic in is read by loop/away but no stage of these files writes it\n",
			"  info: topic out is written by loop/away, not read by these files\n"},
		"mermaid": {"  %% warning: cycle: a -> loop/there -> b -> loop/back -> a\n",
			"  %% warning: external: topic in is read by loop/away but no stage of these files writes it\n",
			"  %% warning: info: topic out is written by loop/away, not read by these files\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"plan", "-c", f, "--format", format}, &stdout, &stderr); code != exitOK {
			t.Fatalf("%s: exit %d, want 0: %s", format, code, stderr.String())
		}
		for _, w := range want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", format, w, stdout.String())
			}
		}
	}
}
