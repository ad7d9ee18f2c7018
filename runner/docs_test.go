package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

const (
	functionsStart = "<!-- functions:start -->\n"
	functionsEnd   = "<!-- functions:end -->\n"
)

// functionTable renders the built-in reference from its one definition.
func functionTable() string {
	var b strings.Builder
	b.WriteString("| function | result | example | meaning |\n|---|---|---|---|\n")
	for _, f := range expression.Functions() {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", f.Signature, f.Result, f.Example, strings.ReplaceAll(f.Doc, "|", "\\|"))
	}
	return b.String()
}

// TestDocsReference keeps the reference in docs/steps.md in step with the
// code: the function table is generated (go test ./runner -run Docs -update),
// and every step kind must be documented.
func TestDocsReference(t *testing.T) {
	path := "../docs/steps.md"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	i, j := strings.Index(text, functionsStart), strings.Index(text, functionsEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/steps.md lacks the functions markers")
	}
	want := text[:i+len(functionsStart)] + functionTable() + text[j:]
	if *update {
		writeIfUpdating(t, path, []byte(want))
		text = want
	}
	if text != want {
		t.Errorf("docs/steps.md function table is stale: run go test ./runner -run Docs -update")
	}
	for _, k := range pipeline.StepKinds {
		if !strings.Contains(text, "| `"+k+"` |") {
			t.Errorf("docs/steps.md does not document the step %q", k)
		}
	}
}

// TestDocsConnectorReference keeps the option tables of docs/connectors.md in
// step with the connector specs, and documents every registered connector
// (go test ./runner -run Docs -update regenerates them).
func TestDocsConnectorReference(t *testing.T) {
	reg := registry()
	if err := reg.Check(); err != nil {
		t.Fatal(err)
	}
	path := "../docs/connectors.md"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	want := text
	replace := func(kind string, spec connectors.Spec) {
		start := fmt.Sprintf("<!-- options: %s %s -->\n", kind, spec.Name)
		i := strings.Index(want, start)
		if i < 0 {
			t.Errorf("docs/connectors.md has no section for the %s connector %q: add a heading and the line %q", kind, spec.Name, strings.TrimSpace(start))
			return
		}
		i += len(start)
		j := strings.Index(want[i:], optionsEnd)
		if j < 0 {
			t.Fatalf("docs/connectors.md: %q has no %q after it", strings.TrimSpace(start), strings.TrimSpace(optionsEnd))
		}
		table, err := spec.Reference()
		if err != nil {
			t.Fatal(err)
		}
		want = want[:i] + table + want[i+j:]
	}
	for _, s := range reg.Sources {
		replace("source", s.Spec)
	}
	for _, s := range reg.Sinks {
		replace("sink", s.Spec)
	}
	if *update {
		writeIfUpdating(t, path, []byte(want))
		text = want
	}
	if text != want {
		t.Errorf("docs/connectors.md option tables are stale: run go test ./runner -run Docs -update")
	}
}

const optionsEnd = "<!-- options end -->\n"
