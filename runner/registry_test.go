package main

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// exampleConnector is the connector block of spec's example, as Load
// hands it to New.
func exampleConnector(t *testing.T, kind string, s connectors.Spec) pipeline.Connector {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s.Example), &doc); err != nil || len(doc.Content) == 0 {
		t.Fatalf("%s %s: example does not parse: %v", kind, s.Name, err)
	}
	return pipeline.Connector{Kind: s.Name, Node: doc.Content[0], Path: kind + "s.x." + s.Name, Pos: pipeline.Pos{File: "example.yaml", Line: 1, Col: 1}}
}

// TestSpecsMatchConnectors builds every connector from its spec's example
// and checks that it does what its capabilities say, since runner plan,
// metrics and pipeline tests believe the spec while the engine uses the
// connector: a spec promising a cursor has a Resumer, and so on.
func TestSpecsMatchConnectors(t *testing.T) {
	reg := registry()
	if err := reg.Check(); err != nil {
		t.Fatal(err)
	}
	env := connectors.Env{Lookup: func(string) (string, bool) { return "file:example.db", true }, Stdout: &bytes.Buffer{}}
	for _, s := range reg.Sources {
		c := exampleConnector(t, "source", s.Spec)
		src, err := s.New(c, env)
		if err != nil {
			t.Errorf("source %s: its example does not build: %v", s.Name, err)
			continue
		}
		_, resumer := src.(connectors.Resumer)
		if want := reg.KeepsCursor(c); resumer != want {
			t.Errorf("source %s: spec says keeps a cursor: %v; implements Resumer: %v", s.Name, want, resumer)
		}
		sh, shared := src.(connectors.Shared)
		if shared = shared && sh.Shared(); shared != s.Caps.Shared {
			t.Errorf("source %s: spec says shared: %v; Shared(): %v", s.Name, s.Caps.Shared, shared)
		}
		if c, ok := src.(connectors.Closer); ok {
			_ = c.Close()
		}
	}
	for _, s := range reg.Sinks {
		sink, err := s.New(exampleConnector(t, "sink", s.Spec), env)
		if err != nil {
			t.Errorf("sink %s: its example does not build: %v", s.Name, err)
			continue
		}
		if _, own := sink.(connectors.OffsetSink); own != s.Caps.OwnOffsets {
			t.Errorf("sink %s: spec says keeps its own offsets: %v; implements OffsetSink: %v", s.Name, s.Caps.OwnOffsets, own)
		}
		_ = sink.Close()
	}
}
