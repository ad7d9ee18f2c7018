package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

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
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
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
