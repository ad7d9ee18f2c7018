package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// durations in the report ("(2.35s)") change from run to run.
var durationRE = regexp.MustCompile(`\([0-9.]+(ns|µs|ms|s|m[0-9.]*s?|h[0-9hms.]*)\)`)

// TestPipelineTestReport runs the fixture under pipetest/testdata, whose
// wrong-total case fails on purpose, and compares the report with the golden
// file (go test ./runner -run TestPipelineTestReport -update rewrites it).
func TestPipelineTestReport(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"test", "pipetest/testdata"}, &stdout, &stderr)
	if code != exitFailed {
		t.Fatalf("exit status %d, want %d; stdout:\n%s\nstderr:\n%s", code, exitFailed, stdout.String(), stderr.String())
	}
	got := durationRE.ReplaceAllString(stdout.String(), "(DURATION)")
	golden := "pipetest/testdata/wrong-total.golden"
	writeIfUpdating(t, golden, []byte(got))
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (go test ./runner -run TestPipelineTestReport -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s\n--- got\n%s--- want\n%s\n--- stderr\n%s", golden, got, want, stderr.String())
	}
}

// TestPipelineTestInvalid: a test file that does not load is reported with
// its position and exit status 3, before anything runs.
func TestPipelineTestInvalid(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.test.yaml"
	if err := os.WriteFile(bad, []byte("pipeline: x.yaml\ntests:\n  one:\n    expcet: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"test", bad}, &stdout, &stderr); code != exitInvalid {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitInvalid, stderr.String())
	}
	want := bad + `:4:5: tests.one.expcet: unknown key (did you mean "expect"?)`
	if !bytes.Contains(stderr.Bytes(), []byte(want)) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}

// TestPipelineTestOutsideFolder: a test file naming a file outside its
// folder is invalid (exit 3) and the report never shows that file's
// content.
func TestPipelineTestOutsideFolder(t *testing.T) {
	top := t.TempDir()
	if err := os.WriteFile(top+"/private.yaml", []byte("SECRET-canary: [1, 2]\nmore: SECRET-canary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(top+"/tests", 0o755); err != nil {
		t.Fatal(err)
	}
	test := top + "/tests/peek.test.yaml"
	if err := os.WriteFile(test, []byte("pipeline: ../private.yaml\ntests:\n  one: {expect: {out: []}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"test", test}, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	if code != exitInvalid || !strings.Contains(out, test+":1:11: pipeline: ") || strings.Contains(out, "SECRET-canary") {
		t.Fatalf("exit %d, want %d with a positioned error and no content of the file; output:\n%s", code, exitInvalid, out)
	}
}

// TestPipelineTestAvro: the user-rewards pipeline tests pass with every
// topic in Avro through the in-process mock:// registry: runner test
// writes the cases' JSON inputs in each topic's format and decodes what the
// stages wrote before comparing.
func TestPipelineTestAvro(t *testing.T) {
	t.Setenv("REWARDS_FORMAT", "avro")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"test", "../configs/user-rewards.test.yaml"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok: 2 test case(s) passed") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
}
