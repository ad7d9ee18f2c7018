package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
)

// emitted is one batch as the stage got it.
type emitted struct {
	recs   []*record.Record
	cursor string
}

// readAll runs a source from a stored cursor until EOF, or until stopAfter
// batches when stopAfter > 0 (as a stop signal would), and returns the
// batches.
func readAll(t *testing.T, body, cursor string, stopAfter int) ([]emitted, error) {
	t.Helper()
	src, err := NewSource(connector(t, body), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if cursor != "" {
		stored = []byte(cursor)
	}
	if err := src.(connectors.Resumer).Resume(stored); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []emitted
	err = src.Read(ctx, func(_ context.Context, b []*record.Record, c []byte) error {
		got = append(got, emitted{b, string(c)})
		if len(got) == stopAfter {
			cancel()
		}
		return nil
	})
	return got, err
}

func raws(es []emitted) string {
	var out []string
	for _, e := range es {
		for _, r := range e.recs {
			s := string(r.Raw)
			if r.Err != nil {
				s = "ERR(" + s + ")"
			}
			out = append(out, fmt.Sprintf("%s@%d", s, r.Offset))
		}
	}
	return strings.Join(out, ",")
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSourceLongLineFollowsOnError: a line over max_line does not stop the
// source: it comes as a record carrying an error (the stage applies
// on_error), keeping the line's start and naming the file and byte offset,
// and the lines after it are read.
func TestSourceLongLineFollowsOnError(t *testing.T) {
	long := `{"id":2,"pad":"` + strings.Repeat("x", 100) + `"}`
	path := writeFile(t, "{\"id\":1}\r\n"+long+"\n{\"id\":3}\n"+strings.Repeat("y", 17)+"\n{\"id\":5}")
	got, err := readAll(t, "{path: "+path+", max_line: 16}", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1}@1,ERR({"id":2,"pad":"x)@2,{"id":3}@3,ERR(yyyyyyyyyyyyyyyy)@4,{"id":5}@5`
	if raws(got) != want {
		t.Fatalf("got  %s\nwant %s", raws(got), want)
	}
	bad := got[0].recs[1]
	wantErr := fmt.Sprintf("%s: line 2 at byte 10 is %d bytes, over max_line (16 bytes); its first 16 bytes are kept", path, len(long))
	if bad.Err.Error() != wantErr {
		t.Errorf("error %q, want %q", bad.Err, wantErr)
	}
	if f, _ := bad.Header(HeaderFile); string(f) != path {
		t.Errorf("file header %q", f)
	}
	if o, _ := bad.Header(HeaderFileOffset); string(o) != "10" {
		t.Errorf("offset header %q, want 10", o)
	}
	// A line of exactly max_line bytes is fine, with either line end.
	got, err = readAll(t, "{path: "+writeFile(t, "0123456789abcdef\r\n0123456789abcdef\n")+", max_line: 16}", "", 0)
	if err != nil || raws(got) != "0123456789abcdef@1,0123456789abcdef@2" {
		t.Fatalf("got %s, %v", raws(got), err)
	}
}

// TestSourceResumesAfterCursor: a source stopped after two batches and
// resumed from the cursor of the second reads every line once.
func TestSourceResumesAfterCursor(t *testing.T) {
	var lines []string
	for i := 1; i <= 10; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":%d}`, i))
		if i == 4 {
			lines = append(lines, "") // empty lines count as lines
		}
	}
	path := writeFile(t, strings.Join(lines, "\n")+"\n")
	body := "{path: " + path + ", batch: 3}"
	first, err := readAll(t, body, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 {
		t.Fatalf("%d batches before the stop, want 2", len(first))
	}
	cursor := first[1].cursor
	if !strings.HasPrefix(cursor, `{"offset":55,"line":7,`) {
		t.Fatalf("cursor %s, want offset 55 after line 7", cursor)
	}
	rest, err := readAll(t, body, cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	all := raws(append(first, rest...))
	want := `{"id":1}@1,{"id":2}@2,{"id":3}@3,{"id":4}@4,{"id":5}@6,{"id":6}@7,{"id":7}@8,{"id":8}@9,{"id":9}@10,{"id":10}@11`
	if all != want {
		t.Fatalf("got  %s\nwant %s", all, want)
	}
	// Lines appended later are read after the cursor of the last batch.
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n{\"id\":11}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	more, err := readAll(t, body, rest[len(rest)-1].cursor, 0)
	if err != nil || raws(more) != `{"id":11}@12` {
		t.Fatalf("after appending: %s, %v", raws(more), err)
	}
}

// TestSourceTruncatedFile: a file shorter than the stored cursor, or with
// other bytes before it, stops the source with an error naming the file,
// the sizes and how to reset, unless on_truncate: reread.
func TestSourceTruncatedFile(t *testing.T) {
	path := writeFile(t, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n")
	got, err := readAll(t, "{path: "+path+", batch: 2}", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	cursor := got[0].cursor // after line 2, byte 18
	for _, tc := range []struct{ name, content, what string }{
		{"shorter", "{\"id\":9}\n", "(9 bytes now) is shorter than"},
		{"replaced", "{\"id\":7}\n{\"id\":8}\n{\"id\":9}\n{\"id\":10}\n", "(37 bytes now) has other bytes before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readAll(t, "{path: "+path+"}", cursor, 0)
			want := path + " " + tc.what + " the stored cursor (byte 18, after line 2)"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "on_truncate: reread") {
				t.Fatalf("error %v, want it to contain %q and how to reset", err, want)
			}
			got, err := readAll(t, "{path: "+path+", on_truncate: reread}", cursor, 0)
			if err != nil || !strings.HasPrefix(raws(got), `{"id":`) || got[0].recs[0].Offset != 1 {
				t.Fatalf("reread: %s, %v; want the file from its start", raws(got), err)
			}
		})
	}
	if _, err := NewSource(connector(t, "{path: x, on_truncate: skip}"), connectors.Env{}); err == nil ||
		!strings.Contains(err.Error(), `sources.s.file.on_truncate: unknown value "skip": want fail or reread`) {
		t.Fatalf("bad on_truncate: %v", err)
	}
}

// TestSourceStdinHasNoCursor: standard input cannot be read again, so it
// is no Resumer (and exactly_once rejects it).
func TestSourceStdinHasNoCursor(t *testing.T) {
	src, err := NewSource(connector(t, "{path: '-'}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(connectors.Resumer); ok {
		t.Fatal("a stdin source must not keep a cursor")
	}
}
