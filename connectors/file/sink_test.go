package file

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
)

// values makes one record {"a": n} per n; a negative n becomes NaN, which
// JSON cannot encode.
func values(ns ...int) []*record.Record {
	var out []*record.Record
	for _, n := range ns {
		var v any = int64(n)
		if n < 0 {
			v = math.NaN()
		}
		out = append(out, &record.Record{Value: map[string]any{"a": v}})
	}
	return out
}

func openSink(t *testing.T, path string, wrap func(*os.File) output) *Sink {
	t.Helper()
	s, err := NewSink(connector(t, "{path: "+path+"}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		s.open = func(p string) (output, int64, error) {
			f, size, err := openAppend(p)
			if err != nil {
				return nil, 0, err
			}
			return wrap(f.(*os.File)), size, nil
		}
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func content(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSinkBadRecordWritesOthersOnce: the stage answers a RecordError by
// writing the batch again without that record; the lines before it must
// not be written twice.
func TestSinkBadRecordWritesOthersOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openSink(t, path, nil)
	batch := values(0, 1, -1, 3, 4)
	err := s.Write(context.Background(), batch)
	var re *connectors.RecordError
	if !errors.As(err, &re) || re.Index != 2 {
		t.Fatalf("want a RecordError for record 2, got %v", err)
	}
	if err := s.Write(context.Background(), append(batch[:2:2], batch[3:]...)); err != nil {
		t.Fatal(err)
	}
	if got, want := content(t, path), "{\"a\":0}\n{\"a\":1}\n{\"a\":3}\n{\"a\":4}\n"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
}

// failing fails the first writes (after writing half their bytes, as a
// full disk does) and syncs it is told to, then behaves.
type failing struct {
	*os.File
	writes, syncs, truncates int
}

func (f *failing) Truncate(size int64) error {
	if f.truncates > 0 {
		f.truncates--
		return syscall.EIO
	}
	return f.File.Truncate(size)
}

func (f *failing) Write(p []byte) (int, error) {
	if f.writes > 0 {
		f.writes--
		n, _ := f.File.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func (f *failing) Sync() error {
	if f.syncs > 0 {
		f.syncs--
		return syscall.EIO
	}
	return f.File.Sync()
}

// TestSinkRecoversAfterWriteError: a write that fails (disk full) or a sync
// that fails leaves no partial lines, and once the disk has room again the
// retried batch is written exactly once.
func TestSinkRecoversAfterWriteError(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		writes, syncs, truncates int
		want                     error
	}{
		{"disk full", 2, 0, 0, syscall.ENOSPC},
		{"sync fails", 0, 1, 0, syscall.EIO},
		// The half-written batch stays until the next attempt cuts it.
		{"disk full and cut fails", 1, 0, 1, syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			if err := os.WriteFile(path, []byte("{\"old\":true}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			f := &failing{writes: tc.writes, syncs: tc.syncs, truncates: tc.truncates}
			s := openSink(t, path, func(o *os.File) output { f.File = o; return f })
			batch := values(1, 2, 3, 4)
			for i := range tc.writes + tc.syncs {
				err := s.Write(context.Background(), batch)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
					t.Fatalf("attempt %d: got %v, want %v naming the file", i+1, err, tc.want)
				}
				if got := content(t, path); got != "{\"old\":true}\n" && tc.truncates == 0 {
					t.Fatalf("after failed attempt %d the file holds %q", i+1, got)
				}
			}
			if err := s.Write(context.Background(), batch); err != nil {
				t.Fatalf("write after the fault cleared: %v", err)
			}
			if err := s.Write(context.Background(), values(5)); err != nil {
				t.Fatal(err)
			}
			want := "{\"old\":true}\n{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n"
			if got := content(t, path); got != want {
				t.Errorf("file = %q, want %q", got, want)
			}
		})
	}
}
