package pipetest

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/generate"
	"github.com/conveyor-dev/conveyor/connectors/sqlsink"
)

func testRegistry() connectors.Registry {
	return connectors.Registry{
		Sources: []connectors.SourceSpec{generate.Spec()},
		Sinks:   []connectors.SinkSpec{sqlsink.Spec()},
	}
}

// TestRunFixture runs the fixture's cases end to end (the report itself is
// compared with a golden file by the runner's tests).
func TestRunFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pipelines on an embedded broker")
	}
	var report bytes.Buffer
	sum, err := Run(context.Background(), []string{"testdata"}, Options{Registry: testRegistry(), Report: &report})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Passed != 1 || sum.Failed != 1 {
		t.Fatalf("summary %+v, want 1 passed and 1 failed:\n%s", sum, report.String())
	}
	for _, want := range []string{"PASS testdata/wrong-total.test.yaml: right (", "differs:", "missing:", "unexpected:", "FAIL: 1 of 2"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
}

// TestRunCaseProblems: a stage that does not exist, a generate source
// without a count and a where that does not compile fail the case before
// anything runs.
func TestRunCaseProblems(t *testing.T) {
	src := `pipeline: fixture-totals.yaml
tests:
  bad-disable:
    env: {FIXTURE_DSN: "file:{{tmp}}/x.db"}
    disable: [nope]
  bad-where:
    env: {FIXTURE_DSN: "file:{{tmp}}/x.db"}
    expect:
      fixture-totals:
        - {where: 'total +'}
`
	f, err := Parse("testdata/problems.test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Registry: testRegistry(), Match: regexp.MustCompile(".")}
	res := RunCase(context.Background(), f, f.Cases[0], opts)
	if res.Passed() || !strings.Contains(strings.Join(res.Problems, "\n"), `testdata/problems.test.yaml:5:15: disable: pipeline fixture-totals has no stage "nope"`) {
		t.Errorf("bad-disable: %q", res.Problems)
	}
	res = RunCase(context.Background(), f, f.Cases[1], opts)
	if res.Passed() || !strings.Contains(strings.Join(res.Problems, "\n"), "testdata/problems.test.yaml:10:") {
		t.Errorf("bad where: %q", res.Problems)
	}
}
