package sqlsink

import (
	"slices"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// kind is a column's type as auto_create infers it from values.
type kind uint8

const (
	kindUnknown kind = iota // only nulls so far: becomes text
	kindInt
	kindFloat
	kindBool
	kindText
	kindTime
	kindBytes
	kindJSON
)

func kindOf(v any) kind {
	switch v.(type) {
	case nil:
		return kindUnknown
	case bool:
		return kindBool
	case float64, float32:
		return kindFloat
	case string:
		return kindText
	case time.Time:
		return kindTime
	case []byte:
		return kindBytes
	case map[string]any, []any:
		return kindJSON
	}
	if _, ok := expression.ExactInt(v); ok {
		return kindInt
	}
	return kindText
}

// schema collects the columns of the first batch and their types, in the
// order they are first seen.
type schema struct {
	cols  []string
	kinds map[string]kind
}

func (s *schema) observe(col string, v any) {
	if s.kinds == nil {
		s.kinds = map[string]kind{}
	}
	old, seen := s.kinds[col]
	if !seen {
		s.cols = append(s.cols, col)
	}
	k := kindOf(v)
	switch {
	case old == kindUnknown:
		s.kinds[col] = k
	case k == kindUnknown || k == old:
	case old == kindInt && k == kindFloat, old == kindFloat && k == kindInt:
		s.kinds[col] = kindFloat
	default: // mixed types: text holds them all
		s.kinds[col] = kindText
	}
}

// columnType is the SQL type of a kind. MySQL cannot index TEXT or BLOB
// without a length, so key columns get VARCHAR and VARBINARY there.
func columnType(d sqldb.Dialect, k kind, isKey bool) string {
	switch d {
	case sqldb.Postgres:
		return [...]string{"TEXT", "BIGINT", "DOUBLE PRECISION", "BOOLEAN", "TEXT", "TIMESTAMPTZ", "BYTEA", "JSONB"}[k]
	case sqldb.MySQL:
		if isKey {
			switch k {
			case kindInt, kindFloat, kindBool, kindTime:
			case kindBytes:
				return "VARBINARY(255)"
			default:
				return "VARCHAR(255)"
			}
		}
		return [...]string{"TEXT", "BIGINT", "DOUBLE", "BOOLEAN", "TEXT", "DATETIME(6)", "LONGBLOB", "JSON"}[k]
	}
	return [...]string{"TEXT", "INTEGER", "REAL", "BOOLEAN", "TEXT", "TEXT", "BLOB", "TEXT"}[k]
}

// create is CREATE TABLE IF NOT EXISTS for the observed columns, key
// columns first, NOT NULL and the primary key.
func (st statements) create(s *schema, key []string) string {
	cols := slices.Clone(key)
	for _, c := range s.cols {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	defs := make([]string, len(cols))
	for i, c := range cols {
		isKey := slices.Contains(key, c)
		defs[i] = st.d.Quote(c) + " " + columnType(st.d, s.kinds[c], isKey)
		if isKey {
			defs[i] += " NOT NULL"
		}
	}
	if len(key) > 0 {
		b := st.text()
		b.names(key)
		defs = append(defs, "PRIMARY KEY ("+b.String()+")")
	}
	return "CREATE TABLE IF NOT EXISTS " + st.table + " (" + strings.Join(defs, ", ") + ")"
}
