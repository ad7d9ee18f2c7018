package sqlsink

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// row is what one record writes: column values bound for the dialect.
type row struct {
	index int      // the record's index in the batch
	cols  []string // column names, key columns first
	vals  []any
	shape string // the column names joined: rows of one shape share a statement
	key   string // the key values as text, to find a key's rows in a batch
}

// rowBuilder turns records into rows. It owns an expression machine, so it
// serves one goroutine: the engine calls Write from one.
type rowBuilder struct {
	s       *settings
	m       *expression.Machine
	env     expression.Env
	cols    []string // with configured columns: their names, key columns first
	slots   []int    // slots[j] is the index in cols of configured column j
	shape   string
	observe func(col string, raw any) // auto_create's type inference; nil when done

	// Without configured columns: the last row's columns, reused while
	// records keep their shape, and the field names already checked.
	last      []string
	lastShape string
	checked   map[string]bool
}

// maxChecked bounds the cache of checked field names: values with ever new
// field names must not grow it without end.
const maxChecked = 4096

func newRowBuilder(s *settings) *rowBuilder {
	b := &rowBuilder{s: s, m: expression.Options{Vars: s.vars}.NewMachine()}
	if s.columns != nil {
		b.cols = append(b.cols, s.key...) // key columns first, as in every row
		for _, c := range s.columns {
			k := slices.Index(b.cols, c.name)
			if k < 0 {
				k = len(b.cols)
				b.cols = append(b.cols, c.name)
			}
			b.slots = append(b.slots, k)
		}
		b.shape = strings.Join(b.cols, ",")
	}
	return b
}

// build makes the row of a record with a value.
func (b *rowBuilder) build(i int, r *record.Record) (row, error) {
	var raw []any
	rw := row{index: i}
	if b.s.columns != nil {
		rw.cols, rw.shape = b.cols, b.shape
		raw = make([]any, len(b.cols))
		b.env.Reset(r)
		defer b.env.Reset(nil)
		fields, _ := r.Value.(map[string]any)
		for j, c := range b.s.columns {
			v, err := b.eval(c, fields)
			if err != nil {
				return row{}, fmt.Errorf("column %s: %w", c.name, err)
			}
			raw[b.slots[j]] = v // a key column the record key sets is overwritten below
		}
	} else {
		fields, ok := r.Value.(map[string]any)
		if !ok {
			return row{}, fmt.Errorf("the value is %s, not an object: set columns to say which column gets what", expression.TypeName(r.Value))
		}
		var err error
		if rw.cols, rw.shape, err = b.fieldColumns(fields); err != nil {
			return row{}, err
		}
		raw = make([]any, len(rw.cols))
		for j, c := range rw.cols {
			raw[j] = fields[c]
		}
	}
	if b.s.keyFromRecord {
		kv, err := recordKey(r.Key, b.s.key)
		if err != nil {
			return row{}, err
		}
		copy(raw, kv) // key columns come first
	}
	for j, k := range b.s.key {
		if raw[j] == nil {
			return row{}, fmt.Errorf("key column %s is null or missing", k)
		}
	}
	return b.bindRow(rw, raw)
}

func (b *rowBuilder) eval(c column, fields map[string]any) (any, error) {
	if c.field != "" {
		// What the expression would do: a value field, else a var.
		if v, ok := fields[c.field]; ok {
			return v, nil
		}
		return b.s.vars[c.field], nil
	}
	return b.m.Run(c.prog, &b.env)
}

// fieldColumns lists a value's fields, key columns first and the rest by
// name, so that records of one shape share a statement.
func (b *rowBuilder) fieldColumns(fields map[string]any) ([]string, string, error) {
	if b.sameShape(fields) {
		return b.last, b.lastShape, nil
	}
	cols := make([]string, 0, len(fields)+len(b.s.key))
	cols = append(cols, b.s.key...)
	rest := len(cols)
	for f := range fields {
		if !slices.Contains(b.s.key, f) {
			cols = append(cols, f)
		}
	}
	sort.Strings(cols[rest:])
	if b.checked == nil || len(b.checked) > maxChecked {
		b.checked = map[string]bool{}
	}
	for _, c := range cols[rest:] {
		if !b.checked[c] {
			if !sqldb.ValidIdent(c) {
				return nil, "", fmt.Errorf("field %q cannot be a column name (letters, digits and underscores only): map it with columns", c)
			}
			b.checked[c] = true
		}
	}
	b.last, b.lastShape = cols, strings.Join(cols, ",")
	return b.last, b.lastShape, nil
}

// sameShape tells whether a value has exactly the last row's fields (key
// columns may come from the record key instead).
func (b *rowBuilder) sameShape(fields map[string]any) bool {
	if b.last == nil {
		return false
	}
	n := 0
	for _, c := range b.last {
		if _, ok := fields[c]; ok {
			n++
		} else if !b.s.keyFromRecord || !slices.Contains(b.s.key, c) {
			return false
		}
	}
	return n == len(fields)
}

// deleteRow makes the key-only row of a tombstone.
func (b *rowBuilder) deleteRow(i int, r *record.Record) (row, error) {
	raw, err := recordKey(r.Key, b.s.key)
	if err != nil {
		return row{}, err
	}
	return b.bindRow(row{index: i, cols: b.s.key, shape: strings.Join(b.s.key, ",")}, raw)
}

func (b *rowBuilder) bindRow(rw row, raw []any) (row, error) {
	rw.vals = make([]any, len(raw))
	for j, v := range raw {
		if b.observe != nil {
			b.observe(rw.cols[j], v)
		}
		bv, err := bind(b.s.dialect, v)
		if err != nil {
			return row{}, fmt.Errorf("column %s: %w", rw.cols[j], err)
		}
		rw.vals[j] = bv
	}
	switch n := len(b.s.key); n {
	case 0:
	case 1:
		rw.key = keyText(rw.vals[0])
	default:
		parts := make([]string, n)
		for j := range n {
			parts[j] = keyText(rw.vals[j])
		}
		rw.key = strings.Join(parts, "\x1f")
	}
	return rw, nil
}

var errNullKey = errors.New("the record key is null: key_from: record_key needs a key")

// recordKey reads the key columns from a Kafka record key: the key itself
// for one column, or the fields of a JSON object key.
func recordKey(key []byte, cols []string) ([]any, error) {
	if key == nil {
		return nil, errNullKey
	}
	if t := bytes.TrimSpace(key); len(t) > 0 && t[0] == '{' {
		if v, err := record.DecodeJSON(t); err == nil {
			obj := v.(map[string]any)
			out := make([]any, len(cols))
			for j, c := range cols {
				f, ok := obj[c]
				if !ok || f == nil {
					return nil, fmt.Errorf("the record key %s has no value for key column %s", t, c)
				}
				out[j] = f
			}
			return out, nil
		} else if len(cols) > 1 {
			return nil, fmt.Errorf("the record key is not a JSON object: %w", err)
		}
	}
	if len(cols) > 1 {
		return nil, fmt.Errorf("a key of %d columns needs a JSON object record key with fields %s", len(cols), strings.Join(cols, ", "))
	}
	return []any{string(key)}, nil
}
