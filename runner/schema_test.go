package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/pipeline"
)

const schemaPath = "../schemas/pipeline.schema.json"

// TestSchemaFile keeps schemas/pipeline.schema.json, which editors read,
// equal to what runner schema prints (go test ./runner -run Schema -update).
func TestSchemaFile(t *testing.T) {
	want, err := pipelineSchema(registry())
	if err != nil {
		t.Fatal(err)
	}
	writeIfUpdating(t, schemaPath, want)
	got, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./runner -run Schema -update", schemaPath)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"schema"}, &stdout, &stderr); code != 0 || !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("runner schema: exit %d, %d bytes (want the file's %d): %s", code, stdout.Len(), len(want), stderr.String())
	}
}

// compileSchema compiles the shipped schema with a JSON Schema validator.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(pipeline.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(pipeline.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validateYAML validates a YAML file against s, as a YAML language server
// does: the YAML's data as JSON.
func validateYAML(t *testing.T, s *jsonschema.Schema, path string) error {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data any
	if err := yaml.Unmarshal(src, &data); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// TestSchemaValidatesConfigs validates every example pipeline file against
// the schema with a real validator, and checks that each names the schema
// for editors.
func TestSchemaValidatesConfigs(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") {
			continue // pipeline tests have their own format
		}
		n++
		if err := validateYAML(t, s, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		src, _ := os.ReadFile(f)
		if !strings.HasPrefix(string(src), "# yaml-language-server: $schema=../schemas/pipeline.schema.json\n") {
			t.Errorf("%s does not start with the yaml-language-server line naming the schema", f)
		}
	}
	if n < 4 {
		t.Fatalf("validated %d pipeline files in configs/, want the 4 examples at least", n)
	}
}

// TestSchemaRejectsMistakes: a file with typical mistakes fails validation,
// each mistake named.
func TestSchemaRejectsMistakes(t *testing.T) {
	err := validateYAML(t, compileSchema(t), "testdata/schema/broken.yaml")
	if err == nil {
		t.Fatal("a broken pipeline file validates")
	}
	msg := err.Error()
	for _, want := range []string{"/delivery", "/sources/orders/generate", "bacth", "/transforms/price/steps/0", "/sinks/shop-db/sql/mode", "sorce"} {
		if !strings.Contains(msg, want) {
			t.Errorf("validation error does not name %q:\n%s", want, msg)
		}
	}
}

// TestSchemaAgreesWithLoad: files Load accepts validate, and files Load
// rejects for their shape (unknown keys, steps, connectors) do not.
func TestSchemaAgreesWithLoad(t *testing.T) {
	s := compileSchema(t)
	for _, f := range []string{"pipetest/testdata/fixture-totals.yaml", "testdata/run/finite.yaml"} {
		if _, err := pipeline.Load([]string{f}, pipeline.Options{Kinds: registry().Kinds(), Lookup: func(string) (string, bool) { return "x", true }}); err != nil {
			t.Fatalf("%s: Load: %v", f, err)
		}
		if err := validateYAML(t, s, f); err != nil {
			t.Errorf("%s loads but does not validate: %v", f, err)
		}
	}
	for _, f := range []string{"testdata/check/unknown-key.yaml", "testdata/check/unknown-step.yaml", "testdata/check/unknown-connector.yaml"} {
		if err := validateYAML(t, s, f); err == nil {
			t.Errorf("%s validates, though Load rejects its shape", f)
		}
	}
}
