package pipeline

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a pipeline file. Line and Col count from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in a pipeline file, printed as
// "file:line:col: yaml.path: message".
type Error struct {
	Pos  Pos
	Path string
	Err  error
}

// Errorf builds an Error at pos for the YAML path.
func Errorf(pos Pos, path, format string, args ...any) *Error {
	return &Error{Pos: pos, Path: path, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %v", e.Pos, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Pos, e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors collects every problem found, so a user fixes them in one pass.
type Errors []*Error

// Add appends err; an Errors value is flattened, other errors are wrapped at pos.
func (es *Errors) Add(pos Pos, path string, err error) {
	if err == nil {
		return
	}
	var many Errors
	if errors.As(err, &many) {
		*es = append(*es, many...)
		return
	}
	var one *Error
	if errors.As(err, &one) {
		*es = append(*es, one)
		return
	}
	*es = append(*es, &Error{Pos: pos, Path: path, Err: err})
}

// Addf appends a formatted error.
func (es *Errors) Addf(pos Pos, path, format string, args ...any) {
	*es = append(*es, Errorf(pos, path, format, args...))
}

// Err returns nil when there are no errors, else the sorted list.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}

// Sort orders errors by file, line and column.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
