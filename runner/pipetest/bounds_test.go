package pipetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCountsBounded: expected records, counts included, are bounded per
// case, and the file's aliases cannot multiply it past MaxNodes: each is a
// positioned error before anything is allocated for it.
func TestCountsBounded(t *testing.T) {
	// Each value is a list of eight of the one before: the seventh stands
	// for 8^6 leaves, over two million nodes.
	bomb := "pipeline: p.yaml\ntests:\n  one:\n    input:\n      in:\n        - {value: &x0 [a, b, c, d, e, f, g, h]}\n"
	for i := 1; i <= 6; i++ {
		bomb += fmt.Sprintf("        - {value: &x%d [*x%d, *x%d, *x%d, *x%d, *x%d, *x%d, *x%d, *x%d]}\n", i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	for name, tc := range map[string]struct{ src, want string }{
		"count-over": {
			src:  "pipeline: p.yaml\ntests:\n  one:\n    expect:\n      out:\n        - {where: 'true', count: 100001}\n",
			want: "x.test.yaml:6:34: tests.one.expect.out[0].count: must be a whole number from 1 to 100000",
		},
		"count-huge": {
			src:  "pipeline: p.yaml\ntests:\n  one:\n    expect:\n      out:\n        - {where: 'true', count: 100000000}\n",
			want: "x.test.yaml:6:34: tests.one.expect.out[0].count: must be a whole number from 1 to 100000",
		},
		"sum-over": {
			src:  "pipeline: p.yaml\ntests:\n  one:\n    expect:\n      out:\n        - {where: 'true', count: 60000}\n      more:\n        - {key: a, count: 40000}\n        - {key: b, count: 1}\n        - {key: c, count: 1}\n",
			want: "x.test.yaml:9:11: tests.one.expect.more[1]: the case expects more than 100000 records: write smaller cases",
		},
		"aliases": {
			src:  bomb,
			want: "x.test.yaml:12:19: the file expands to more than 1000000 YAML nodes (aliases count as often as they are used): write smaller cases",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("x.test.yaml", []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
	// Up to the bounds, all is well.
	ok := "pipeline: p.yaml\ntests:\n  one:\n    expect:\n      out:\n        - {where: 'true', count: 99999}\n        - {key: a}\n"
	if f, err := Parse("x.test.yaml", []byte(ok)); err != nil || len(f.Cases[0].Expect[0].Records) != 100000 {
		t.Fatalf("a case of 100000 expected records: %v", err)
	}
}

// TestPipelinePathConfined: the pipeline a test file names must be a
// pipeline file in the test file's folder or below it; anything else is
// a positioned error that never shows the named file's content.
func TestPipelinePathConfined(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "tests")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const canary = "SECRET-canary"
	write(filepath.Join(top, "outside.yaml"), "pipeline: outside\n# "+canary+"\n")
	write(filepath.Join(dir, "notes.txt"), canary+"\n")
	write(filepath.Join(dir, "secrets.yaml"), "password: "+canary+"\n")
	write(filepath.Join(dir, "broken.yaml"), "pipeline: ["+canary+"\n")
	write(filepath.Join(dir, "sub", "p.yaml"), "pipeline: inside\n")
	if err := os.Symlink(filepath.Join(top, "outside.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "sub", "p.yaml"), filepath.Join(dir, "inside-link.yaml")); err != nil {
		t.Fatal(err)
	}
	for pipeline, want := range map[string]string{
		"../outside.yaml":                  "is outside the test file's folder",
		filepath.Join(top, "outside.yaml"): "is outside the test file's folder",
		"/etc/passwd":                      "is outside the test file's folder",
		"link.yaml":                        "is outside the test file's folder",
		"sub/../../outside.yaml":           "is outside the test file's folder",
		"notes.txt":                        "is not a pipeline file: want a *.yaml or *.yml file",
		"secrets.yaml":                     "is not a pipeline file: want YAML with a top-level pipeline: key",
		"broken.yaml":                      "is not a pipeline file: want YAML with a top-level pipeline: key",
		"missing.yaml":                     "no such file",
		"sub/p.yaml":                       "",
		"inside-link.yaml":                 "",
		filepath.Join(dir, "sub", "..", "sub", "p.yaml"): "",
	} {
		t.Run(pipeline, func(t *testing.T) {
			test := filepath.Join(dir, "x.test.yaml")
			write(test, "pipeline: "+pipeline+"\ntests:\n  one: {expect: {out: []}}\n")
			_, err := Load(test)
			if want == "" {
				if err != nil {
					t.Fatalf("a pipeline inside the folder: %v", err)
				}
				return
			}
			prefix := test + ":1:11: pipeline: "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v\nwant %q... %q", err, prefix, want)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "root:") {
				t.Fatalf("the error shows the file's content: %v", err)
			}
		})
	}
}

// TestExpectRowsBounded: a query yielding many rows is read only as far as
// the report needs.
func TestExpectRowsBounded(t *testing.T) {
	tmp := t.TempDir()
	r := &caseRun{tmp: tmp, res: &Result{}, c: &Case{ExpectRows: []RowsExpect{{
		Driver: "sqlite", DSN: "file:{{tmp}}/x.db",
		Query: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 300000) SELECT i FROM n",
		Rows:  [][]any{{int64(1)}},
	}}}}
	r.checkRows(context.Background())
	if len(r.res.Problems) == 0 || !strings.HasSuffix(r.res.Problems[0], "expected 1 row(s), got more than 21") || len(r.res.Problems) != 21 {
		t.Fatalf("%d problem lines, want 21 under a header saying more than 21 came; the first: %q", len(r.res.Problems), r.res.Problems[:min(3, len(r.res.Problems))])
	}
}
