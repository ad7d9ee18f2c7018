// Package file reads and writes JSON lines files: a source that emits one
// record per line (or reads standard input) and a sink that appends one
// value per line.
package file

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// SourceConfig is the `file:` block of a source.
type SourceConfig struct {
	Path       string        `yaml:"path" conf:"required" example:"orders.jsonl" doc:"the file; - reads standard input"`
	Batch      int           `yaml:"batch" default:"500" doc:"most lines handed to the stage at once"`
	MaxLine    pipeline.Size `yaml:"max_line" default:"1MiB" doc:"the longest line accepted (without its line end); longer lines follow on_error"`
	OnTruncate string        `yaml:"on_truncate" default:"fail" enum:"fail,reread" doc:"when the file no longer holds what the cursor points past: fail (stop the stage) or reread (read it from its start)"`
}

// Dead letters of a line over max_line keep at most this much of it: the
// line's start, small enough for any broker's message size limit.
// Dead-letter headers of a file source's record: the file and the byte
// offset of its line, beside the engine's conveyor.error.* headers.
const (
	HeaderFile       = "conveyor.error.file"
	HeaderFileOffset = "conveyor.error.file.offset"
)

const deadLetterHead = 64 << 10

// tailSize is how many bytes before the cursor its checksum covers.
const tailSize = 64

// Source reads a file line by line. Each non-empty line becomes a record
// whose value the stage's format decodes (JSON by default); its offset is
// the line number. The cursor is the byte offset after the last line of a
// batch, so a restart resumes after the last durable line.
type Source struct {
	cfg  SourceConfig
	from position // where Read starts: the stored cursor, or the start
}

// position is a place in the file, stored as the cursor.
type position struct {
	Offset int64 `json:"offset"` // bytes before it
	Line   int64 `json:"line"`   // lines before it
	// Tail is the CRC-32 of up to tailSize bytes before Offset, so a file
	// replaced by a longer one is noticed rather than read from the middle.
	Tail uint32 `json:"tail"`
}

// SourceSpec declares the file source.
func SourceSpec() connectors.SourceSpec {
	return connectors.SourceSpec{
		Spec: connectors.Spec{
			Name:    "file",
			Doc:     "One record per non-empty line of a file (JSON lines by default), read to the end; the cursor is the byte offset after the last line acknowledged.",
			Config:  SourceConfig{},
			Example: "path: orders.jsonl\n",
			Caps: connectors.Capabilities{
				Cursor:       true,
				NoCursorWhen: map[string]string{"path": "-"},
				NoCursorDoc:  "except on standard input",
				Describe:     []connectors.Detail{{Option: "path", Format: "%s"}},
			},
		},
		New: NewSource,
	}
}

// NewSource checks the config; the file is opened when the stage starts.
// A file keeps a cursor (connectors.Resumer); standard input cannot be read
// again, so it has none.
func NewSource(c pipeline.Connector, env connectors.Env) (connectors.Source, error) {
	var cfg SourceConfig
	if err := pipeline.Decode(c, env.Lookup, &cfg); err != nil {
		return nil, err
	}
	if cfg.Batch < 1 {
		return nil, pipeline.Errorf(c.Pos, c.Path+".batch", "must be at least 1")
	}
	if cfg.MaxLine < 1 {
		return nil, pipeline.Errorf(c.Pos, c.Path+".max_line", "must be at least 1 byte")
	}
	s := &Source{cfg: cfg}
	if cfg.Path == "-" {
		return stdin{s}, nil
	}
	return s, nil
}

// stdin reads standard input, without a cursor.
type stdin struct{ s *Source }

func (in stdin) Read(ctx context.Context, emit connectors.Emit) error {
	return in.s.read(ctx, os.Stdin, position{}, nil, emit)
}

// Resume takes the stored cursor; Read checks it against the file.
func (s *Source) Resume(stored []byte) error {
	s.from = position{}
	if stored == nil {
		return nil
	}
	if err := json.Unmarshal(stored, &s.from); err != nil {
		return fmt.Errorf("decode cursor of %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Read emits the file's lines from the stored position until EOF or ctx
// ends.
func (s *Source) Read(ctx context.Context, emit connectors.Emit) error {
	f, err := os.Open(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	from, err := s.start(f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(from.Offset, io.SeekStart); err != nil {
		return fmt.Errorf("%s: seek to byte %d: %w", s.cfg.Path, from.Offset, err)
	}
	return s.read(ctx, f, from, f, emit)
}

// start checks that the file still holds what the cursor points past.
func (s *Source) start(f *os.File) (position, error) {
	from := s.from
	if from.Offset == 0 {
		return from, nil
	}
	st, err := f.Stat()
	if err != nil {
		return from, fmt.Errorf("%s: %w", s.cfg.Path, err)
	}
	what := ""
	if st.Size() < from.Offset {
		what = "is shorter than"
	} else if sum, err := tailSum(f, from.Offset); err != nil {
		return from, fmt.Errorf("%s: %w", s.cfg.Path, err)
	} else if sum != from.Tail {
		what = "has other bytes before"
	}
	if what == "" {
		return from, nil
	}
	if s.cfg.OnTruncate == "reread" {
		return position{}, nil
	}
	return from, fmt.Errorf("%s (%d bytes now) %s the stored cursor (byte %d, after line %d): it was truncated or replaced, "+
		"and reading on would skip or garble lines; to read it from its start, set on_truncate: reread on this source "+
		"or delete the source's stored cursor (a null value under the key PIPELINE/SOURCE in the cursor topic)",
		s.cfg.Path, st.Size(), what, from.Offset, from.Line)
}

// tailSum is the CRC-32 of up to tailSize bytes before offset.
func tailSum(f io.ReaderAt, offset int64) (uint32, error) {
	n := min(offset, tailSize)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, offset-n); err != nil {
		return 0, fmt.Errorf("read before byte %d: %w", offset, err)
	}
	return crc32.ChecksumIEEE(b), nil
}

// read emits lines from in, which stands at position at. With file set,
// each batch carries the cursor after it.
func (s *Source) read(ctx context.Context, in io.Reader, at position, file io.ReaderAt, emit connectors.Emit) error {
	r := bufio.NewReaderSize(in, 64<<10)
	max := int(s.cfg.MaxLine)
	var buf []byte
	batch := make([]*record.Record, 0, s.cfg.Batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var cursor []byte
		if file != nil {
			sum, err := tailSum(file, at.Offset)
			if err != nil {
				return fmt.Errorf("%s: %w", s.cfg.Path, err)
			}
			at.Tail = sum
			cursor, _ = json.Marshal(at)
		}
		err := emit(ctx, batch, cursor)
		batch = make([]*record.Record, 0, s.cfg.Batch)
		return err
	}
	for {
		start := at.Offset
		line, n, size, err := readLine(r, max, buf[:0])
		buf = line
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: line %d at byte %d: %w", s.cfg.Path, at.Line+1, start, err)
		}
		if n == 0 {
			break
		}
		at.Offset += n
		at.Line++
		switch {
		case size > int64(max):
			batch = append(batch, s.tooLong(line, start, at.Line, size))
		case len(line) > 0:
			batch = append(batch, &record.Record{Raw: append([]byte(nil), line...), Offset: at.Line})
		}
		if len(batch) >= s.cfg.Batch {
			if err := flush(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil { // EOF after a last line without a newline
			break
		}
	}
	return flush()
}

// tooLong is the record of a line over max_line: its start, and an error
// the stage applies on_error to, naming the file and the byte offset.
func (s *Source) tooLong(line []byte, start, lineNo, size int64) *record.Record {
	head := line[:min(len(line), int(s.cfg.MaxLine), deadLetterHead)]
	return &record.Record{
		Raw:    append([]byte(nil), head...),
		Offset: lineNo,
		Headers: []record.Header{
			{Key: HeaderFile, Value: []byte(s.cfg.Path)},
			{Key: HeaderFileOffset, Value: strconv.AppendInt(nil, start, 10)},
		},
		Err: fmt.Errorf("%s: line %d at byte %d is %d bytes, over max_line (%d bytes); its first %d bytes are kept",
			s.cfg.Path, lineNo, start, size, s.cfg.MaxLine, len(head)),
	}
}

// readLine reads one line into buf: at most max+2 bytes of it are kept (so
// a line end can be told from content), the rest is skipped. It returns
// the line without its end (\n or \r\n) when it fits, the bytes consumed
// and the line's length without its end. err is io.EOF when the input
// ended, with or without a last line.
func readLine(r *bufio.Reader, max int, buf []byte) (line []byte, n, size int64, err error) {
	keep := max + 2
	for {
		chunk, err := r.ReadSlice('\n')
		n += int64(len(chunk))
		if room := keep - len(buf); room > 0 {
			buf = append(buf, chunk[:min(room, len(chunk))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		whole := int64(len(buf)) == n
		end := 0
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			end = 1
			if whole && len(buf) >= 2 && buf[len(buf)-2] == '\r' {
				end = 2
			}
		}
		if whole {
			buf = buf[:len(buf)-end]
		}
		return buf, n, n - int64(end), err
	}
}
