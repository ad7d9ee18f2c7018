package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/file"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

const fileSourcePipeline = `
pipeline: lines
kafka: {brokers: '${BROKERS}'}
delivery: ${DELIVERY}
topics:
  lines: {partitions: 3}
  lines-dlq: {partitions: 1}
sources:
  read:
    file: {path: '${IN}', batch: 50, max_line: 200}
    key: string(id % 7)
    to: lines
    on_error: {dead_letter: lines-dlq}
`

// stopAfter wraps the file source and stops the run (as SIGTERM does) once
// a given number of batches were handed to the stage.
type stopAfter struct {
	src    connectors.Source
	after  int
	cancel context.CancelFunc
}

func (s *stopAfter) Resume(c []byte) error {
	r, ok := s.src.(connectors.Resumer)
	if !ok {
		return fmt.Errorf("the file source keeps no cursor")
	}
	return r.Resume(c)
}

func (s *stopAfter) Read(ctx context.Context, emit connectors.Emit) error {
	n := 0
	return s.src.Read(ctx, func(ctx context.Context, b []*record.Record, c []byte) error {
		err := emit(ctx, b, c)
		if n++; n == s.after {
			s.cancel()
		}
		return err
	})
}

// lineFile writes n JSON lines {"id": i}; every 97th is longer than
// max_line (200 bytes). It returns the ids of the long lines.
func lineFile(t *testing.T, path string, n int) map[int]bool {
	t.Helper()
	long := map[int]bool{}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		pad := ""
		if i%97 == 0 {
			long[i] = true
			pad = strings.Repeat("x", 300+i%50)
		}
		fmt.Fprintf(&b, `{"id":%d,"pad":%q}`+"\n", i, pad)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return long
}

// TestFileSourceResumes stops a file source mid-file twice and starts it
// again: it resumes after the last durable line, so every line reaches the
// topic once, and the lines over max_line reach the dead-letter topic once,
// naming the file and their byte offset.
func TestFileSourceResumes(t *testing.T) { eachDelivery(t, testFileSourceResumes) }

func testFileSourceResumes(t *testing.T, delivery string) {
	brokers := kafkatest.Embedded(t)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	const n = 2000
	long := lineFile(t, in, n)
	env := map[string]string{"BROKERS": brokers, "IN": in, "DELIVERY": delivery}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	// Three runs: stopped after 7 batches, after 11 more, then to the end.
	for _, after := range []int{7, 11, 0} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		spec := file.SourceSpec()
		spec.New = func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) {
			src, err := file.NewSource(c, env)
			if err != nil || after == 0 {
				return src, err
			}
			return &stopAfter{src: src, after: after, cancel: cancel}, nil
		}
		reg := connectors.Registry{Sources: []connectors.SourceSpec{spec}, Sinks: registry().Sinks}
		p, err := pipeline.Parse("test.yaml", []byte(fileSourcePipeline), pipeline.Options{Lookup: lookup, Kinds: reg.Kinds()})
		if err != nil {
			t.Fatal(err)
		}
		plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{Lookup: lookup})
		if err != nil {
			t.Fatal(err)
		}
		err = plan.Run(ctx, engine.RunOptions{})
		cancel()
		if err != nil {
			t.Fatalf("run stopped after %d batches: %v", after, err)
		}
	}
	seen := map[int]int{}
	for _, m := range kafkatest.ReadAll(t, brokers, "lines", 30*time.Second) {
		var v struct{ ID int }
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("record %q: %v", m.Value, err)
		}
		seen[v.ID]++
	}
	var lost, dup []int
	for i := 1; i <= n; i++ {
		switch {
		case long[i] && seen[i] > 0:
			t.Errorf("long line %d reached the output topic", i)
		case !long[i] && seen[i] == 0:
			lost = append(lost, i)
		case seen[i] > 1:
			dup = append(dup, i)
		}
	}
	if len(lost) > 0 || len(dup) > 0 {
		t.Fatalf("lost %d lines (%v), duplicated %d (%v)", len(lost), head(lost), len(dup), head(dup))
	}
	dlq := kafkatest.ReadAll(t, brokers, "lines-dlq", 30*time.Second)
	idRE := regexp.MustCompile(`^\{"id":(\d+),`)
	dead := map[int]int{}
	content, _ := os.ReadFile(in)
	for _, m := range dlq {
		match := idRE.FindSubmatch(m.Value)
		if match == nil || len(m.Value) != 200 {
			t.Fatalf("dead letter %.60q... (%d bytes): want the line's first 200 bytes", m.Value, len(m.Value))
		}
		id, _ := strconv.Atoi(string(match[1]))
		dead[id]++
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		off, _ := strconv.Atoi(h[file.HeaderFileOffset])
		if h[file.HeaderFile] != in || !strings.HasPrefix(string(content[off:]), string(m.Value)) || h[engine.HeaderStep] != "read" {
			t.Errorf("dead letter of line %d: headers %v do not point at its line", id, h)
		}
		if !strings.Contains(h[engine.HeaderMessage], fmt.Sprintf("%s: line %d at byte %d is", in, id, off)) {
			t.Errorf("dead-letter message %q", h[engine.HeaderMessage])
		}
	}
	for i := range long {
		if dead[i] != 1 {
			t.Errorf("long line %d has %d dead letters, want 1", i, dead[i])
		}
	}
	if len(dead) != len(long) {
		t.Errorf("%d dead letters for %d long lines", len(dead), len(long))
	}
}

func head(ids []int) []int { return ids[:min(len(ids), 10)] }
