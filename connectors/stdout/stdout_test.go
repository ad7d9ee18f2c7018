package stdout

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

var update = flag.Bool("update", false, "rewrite golden files")

func records() []*record.Record {
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return []*record.Record{
		{Topic: "orders", Partition: 2, Offset: 7, Timestamp: ts, Key: []byte("orlando"),
			Value:   map[string]any{"qty": int64(3), "donut": "glazed", "total": 3.75},
			Headers: []record.Header{{Key: "source", Value: []byte("register")}}},
		{Topic: "dlq", Partition: 0, Offset: 1, Timestamp: ts, Value: "REJECTED: not on the menu"},
		{Topic: "orders", Partition: 0, Offset: 8, Timestamp: ts, Key: []byte("tampa"), Value: nil},
	}
}

func TestGolden(t *testing.T) {
	for _, format := range []string{"pretty", "json"} {
		t.Run(format, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte("{format: "+format+"}"), &n); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			s, err := New(pipeline.Connector{Node: n.Content[0], Path: "sinks.s.stdout"}, connectors.Env{Stdout: &out})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Write(context.Background(), records()); err != nil {
				t.Fatal(err)
			}
			golden := "testdata/" + format + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("{format: xml}"), &n)
	_, err := New(pipeline.Connector{Node: n.Content[0], Path: "sinks.s.stdout", Pos: pipeline.Pos{File: "p.yaml", Line: 3, Col: 5}}, connectors.Env{Stdout: &bytes.Buffer{}})
	if err == nil || err.Error() != `p.yaml:1:10: sinks.s.stdout.format: unknown format "xml": want pretty or json` { // at the value
		t.Fatalf("got %v", err)
	}
}

// writes records each Write call, as a terminal shared by several sinks
// would see them.
type writes struct{ calls []string }

func (w *writes) Write(p []byte) (int, error) {
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

// Sinks that share stdout must not split a line across writes, or another
// sink's output lands inside it.
func TestOneWritePerBatch(t *testing.T) {
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("{format: pretty}"), &n)
	var w writes
	s, err := New(pipeline.Connector{Node: n.Content[0], Path: "sinks.s.stdout"}, connectors.Env{Stdout: &w})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]*record.Record, 0, 2000)
	for i := range 2000 { // far more than one bufio buffer
		batch = append(batch, &record.Record{Topic: "orders", Offset: int64(i), Value: map[string]any{"i": int64(i), "pad": string(bytes.Repeat([]byte("x"), 40))}})
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(w.calls) != 1 {
		t.Fatalf("%d writes for one batch, want 1", len(w.calls))
	}
	if got := bytes.Count([]byte(w.calls[0]), []byte("\n")); got != 2000 {
		t.Fatalf("%d lines, want 2000", got)
	}
}

// TestPrettyEscapesControlCharacters: a record cannot drive the terminal
// (window title, clear screen, cursor moves) or print a line that looks
// like one of the runner's log lines. Keys and values are escaped as dlq
// inspect escapes them, one line per record whatever they hold.
func TestPrettyEscapesControlCharacters(t *testing.T) {
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("{format: pretty}"), &n)
	var out bytes.Buffer
	s, err := New(pipeline.Connector{Node: n.Content[0], Path: "sinks.s.stdout"}, connectors.Env{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	fake := "ok\ntime=2026-12-01T10:00:00Z level=ERROR msg=\"disk full\""
	batch := []*record.Record{
		{Topic: "t", Offset: 0, Key: []byte("k\x1b]0;owned\x07"), Value: "\x1b[2J\x1b[Hcleared"},
		{Topic: "t", Offset: 1, Key: []byte("\xffbin"), Value: []byte(fake)},
		{Topic: "t", Offset: 2, Value: map[string]any{"csi": "\u009b31mred", "del": "x\x7f", "esc": "\x1b[1A"}},
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	want := `t[0]@0 key=k\u001b]0;owned\u0007 \u001b[2J\u001b[Hcleared` + "\n" +
		`t[0]@1 key=\xffbin ok\ntime=2026-12-01T10:00:00Z level=ERROR msg="disk full"` + "\n" +
		`t[0]@2 key=null {"csi":"\u009b31mred","del":"x\u007f","esc":"\u001b[1A"}` + "\n"
	if out.String() != want {
		t.Fatalf("got:\n%q\nwant:\n%q", out.String(), want)
	}
}
