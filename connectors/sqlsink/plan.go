package sqlsink

import (
	"slices"
	"sort"
	"strings"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
)

// opKind is what an op does to its row.
type opKind uint8

const (
	opWrite  opKind = iota // insert, upsert or update, per the mode
	opDelete               // delete by key
)

// op is one row change. Consecutive ops of one kind and shape run as one
// statement.
type op struct {
	kind opKind
	row
}

// plan turns a batch into ops, or reports the first record that cannot
// become a row. Tombstones are ignored unless delete_on_tombstone is set.
//
// With a key (upsert, update) each key's records collapse into at most a
// delete and a write, merged field by field so that the result is the same
// as applying them in order: a later record's fields win, a tombstone
// forgets what came before it. Deletes run before writes, which is the
// order within a key and free across keys. Insert mode keeps every record,
// in order.
func (b *rowBuilder) plan(batch []*record.Record) ([]op, error) {
	ops := make([]op, 0, len(batch))
	for i, r := range batch {
		var o op
		var err error
		if r.Value == nil {
			if !b.s.deleteOnNull {
				continue
			}
			o.kind = opDelete
			o.row, err = b.deleteRow(i, r)
		} else {
			o.row, err = b.build(i, r)
		}
		if err != nil {
			return nil, &connectors.RecordError{Index: i, Err: err}
		}
		ops = append(ops, o)
	}
	if b.s.mode == Insert {
		return ops, nil
	}
	return collapse(ops, b.s.key), nil
}

// pending is what a batch does to one key.
type pending struct {
	del   *op
	write *op
}

func collapse(ops []op, key []string) []op {
	byKey := make(map[string]int, len(ops))
	keys := make([]pending, 0, len(ops)) // in the order keys first appear
	for i := range ops {
		o := &ops[i]
		k, seen := byKey[o.key]
		if !seen {
			k = len(keys)
			byKey[o.key] = k
			keys = append(keys, pending{})
		}
		p := &keys[k]
		switch {
		case o.kind == opDelete:
			p.del, p.write = o, nil
		case p.write == nil:
			p.write = o
		default:
			p.write = &op{kind: opWrite, row: merge(p.write.row, o.row, len(key))}
		}
	}
	out := make([]op, 0, len(keys))
	for _, p := range keys {
		if p.del != nil {
			out = append(out, *p.del)
		}
	}
	deletes := len(out)
	for _, p := range keys {
		if p.write != nil {
			out = append(out, *p.write)
		}
	}
	// Group writes of one shape into one statement; stable keeps the
	// batch's order otherwise.
	sort.SliceStable(out[deletes:], func(i, j int) bool { return out[deletes+i].shape < out[deletes+j].shape })
	return out
}

// merge applies newer over older, both rows of one key: same shape, the
// newer replaces; else a column of either, the newer's value where both
// have it. The merged row reports the newer record.
func merge(older, newer row, nkey int) row {
	if older.shape == newer.shape {
		return newer
	}
	vals := make(map[string]any, len(older.cols)+len(newer.cols))
	for j, c := range older.cols {
		vals[c] = older.vals[j]
	}
	for j, c := range newer.cols {
		vals[c] = newer.vals[j]
	}
	cols := slices.Clone(newer.cols[:nkey])
	var rest []string
	for c := range vals {
		if !slices.Contains(cols, c) {
			rest = append(rest, c)
		}
	}
	sort.Strings(rest)
	cols = append(cols, rest...)
	out := row{index: newer.index, cols: cols, vals: make([]any, len(cols)), shape: strings.Join(cols, ","), key: newer.key}
	for j, c := range cols {
		out.vals[j] = vals[c]
	}
	return out
}
