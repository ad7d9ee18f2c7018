package main

import (
	"os"
	"testing"
)

// writeIfUpdating rewrites path with content under -update, so that the
// comparison that follows passes and the diff shows in git instead.
func writeIfUpdating(t *testing.T, path string, content []byte) {
	t.Helper()
	if !*update {
		return
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkGolden compares a command's output with the golden file (rewritten
// under -update); test names the test that -update must run.
func checkGolden(t *testing.T, golden string, got []byte, test string) {
	t.Helper()
	writeIfUpdating(t, golden, got)
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run go test ./runner -run %s -update): %v", test, err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
	}
}
