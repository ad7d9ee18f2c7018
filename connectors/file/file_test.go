package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

func connector(t *testing.T, body string) pipeline.Connector {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	return pipeline.Connector{Kind: "file", Node: n.Content[0], Path: "sources.s.file", Pos: pipeline.Pos{File: "p.yaml", Line: 1, Col: 1}}
}

func TestSourceReadsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte("{\"a\":1}\n\n{\"a\":2}\nnot json\n{\"a\":3}"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(connector(t, "{path: "+path+", batch: 2}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var batches int
	err = src.Read(context.Background(), func(_ context.Context, b []*record.Record, _ []byte) error {
		batches++
		for _, r := range b {
			got = append(got, string(r.Raw)+"@"+string(rune('0'+r.Offset)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Empty lines are skipped; offsets are line numbers; decoding is the stage's job.
	if want := `{"a":1}@1,{"a":2}@3,not json@4,{"a":3}@5`; strings.Join(got, ",") != want {
		t.Errorf("got %s, want %s", strings.Join(got, ","), want)
	}
	if batches != 2 {
		t.Errorf("%d batches, want 2", batches)
	}
}

func TestSourceMissingFile(t *testing.T) {
	src, err := NewSource(connector(t, "{path: /nonexistent/in.jsonl}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	err = src.Read(context.Background(), func(context.Context, []*record.Record, []byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/in.jsonl") {
		t.Fatalf("error %v should name the file", err)
	}
}

func TestSourceConfigErrors(t *testing.T) {
	_, err := NewSource(connector(t, "{pth: x, max_line: lots}"), connectors.Env{})
	want := "p.yaml:1:2: sources.s.file.pth: unknown key (did you mean \"path\"?)\n" +
		"p.yaml:1:20: sources.s.file.max_line: invalid size \"lots\": want a whole number of bytes with an optional unit, for example 512, 64KiB, 1MiB or 1GB\n" +
		"p.yaml:1:1: sources.s.file: missing required key \"path\""
	if err == nil || sortedLines(err.Error()) != sortedLines(want) {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	for i := range l {
		for j := i + 1; j < len(l); j++ {
			if l[j] < l[i] {
				l[i], l[j] = l[j], l[i]
			}
		}
	}
	return strings.Join(l, "\n")
}

func TestSinkAppendsJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte("{\"old\":true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(connector(t, "{path: "+path+"}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), []*record.Record{
		{Value: map[string]any{"n": int64(1)}},
		{Value: "text"},
		{Value: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "{\"old\":true}\n{\"n\":1}\n\"text\"\nnull\n"; string(b) != want {
		t.Errorf("file = %q, want %q", b, want)
	}
}

func TestSinkBadRecord(t *testing.T) {
	s, err := NewSink(connector(t, "{path: "+filepath.Join(t.TempDir(), "o")+"}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(context.Background(), []*record.Record{{Value: int64(1)}, {Value: map[string]any{"f": func() {}}}})
	var re *connectors.RecordError
	if !asRecordError(err, &re) || re.Index != 1 {
		t.Fatalf("want a RecordError for record 1, got %v", err)
	}
}

func asRecordError(err error, re **connectors.RecordError) bool {
	e, ok := err.(*connectors.RecordError)
	*re = e
	return ok
}
