package sqlsink

import (
	"slices"
	"strings"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
)

// maxParams is the most bind parameters one statement may have.
func maxParams(d sqldb.Dialect) int {
	if d == sqldb.SQLite {
		return 32766 // SQLITE_MAX_VARIABLE_NUMBER since 3.32
	}
	return 65535 // PostgreSQL's and MySQL's 16-bit parameter count
}

// statements writes the SQL text of one table in one dialect. Every name in
// it has passed sqldb's identifier check and every value is a parameter.
type statements struct {
	d       sqldb.Dialect
	table   string // quoted
	maxRows int    // batch_size
}

func newStatements(d sqldb.Dialect, table string, maxRows int) statements {
	return statements{d: d, table: d.Quote(table), maxRows: maxRows}
}

// rowsPer is how many rows of n values one statement takes.
func (st statements) rowsPer(n int) int {
	return max(1, min(st.maxRows, maxParams(st.d)/max(1, n)))
}

// sqlText builds a statement, numbering placeholders as it goes.
type sqlText struct {
	strings.Builder
	d sqldb.Dialect
	n int
}

func (b *sqlText) param() {
	b.n++
	b.WriteString(b.d.Placeholder(b.n))
}

func (b *sqlText) names(cols []string) {
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(b.d.Quote(c))
	}
}

// tuples writes rows of n parameters: ($1, $2), ($3, $4).
func (b *sqlText) tuples(rows, n int) {
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.param()
		}
		b.WriteByte(')')
	}
}

func (st statements) text() *sqlText { return &sqlText{d: st.d} }

// insert is a multi-row INSERT.
func (st statements) insert(cols []string, rows int) string {
	b := st.text()
	b.WriteString("INSERT INTO " + st.table + " (")
	b.names(cols)
	b.WriteString(") VALUES ")
	b.tuples(rows, len(cols))
	return b.String()
}

// upsert is a multi-row INSERT that updates the row already there.
// MySQL's ON DUPLICATE KEY fires on any unique key, not just the primary
// one; VALUES(c) is the form both MySQL and MariaDB accept.
func (st statements) upsert(cols, key []string, rows int) string {
	var set []string
	for _, c := range cols {
		if !slices.Contains(key, c) {
			q := st.d.Quote(c)
			if st.d == sqldb.MySQL {
				set = append(set, q+" = VALUES("+q+")")
			} else {
				set = append(set, q+" = EXCLUDED."+q)
			}
		}
	}
	s := st.insert(cols, rows)
	if st.d == sqldb.MySQL {
		if len(set) == 0 { // every column is a key column: nothing to update
			q := st.d.Quote(key[0])
			set = []string{q + " = " + q}
		}
		return s + " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	}
	b := st.text()
	b.names(key)
	if len(set) == 0 {
		return s + " ON CONFLICT (" + b.String() + ") DO NOTHING"
	}
	return s + " ON CONFLICT (" + b.String() + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// update sets a row's other columns by its key: the non-key values are
// bound first, then the key values. Empty when there is nothing to set.
func (st statements) update(cols, key []string) string {
	b := st.text()
	b.WriteString("UPDATE " + st.table + " SET ")
	n := 0
	for _, c := range cols {
		if slices.Contains(key, c) {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(st.d.Quote(c) + " = ")
		b.param()
	}
	if n == 0 {
		return ""
	}
	b.WriteString(" WHERE ")
	st.where(b, key)
	return b.String()
}

func (st statements) where(b *sqlText, key []string) {
	for i, k := range key {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(st.d.Quote(k) + " = ")
		b.param()
	}
}

// delete removes rows by key: k IN (...) for one key column, a row-value
// IN for several (SQLite takes row values only from a subquery, hence
// VALUES there).
func (st statements) delete(key []string, rows int) string {
	b := st.text()
	b.WriteString("DELETE FROM " + st.table + " WHERE ")
	if len(key) == 1 {
		b.WriteString(st.d.Quote(key[0]) + " IN (")
		for r := range rows {
			if r > 0 {
				b.WriteString(", ")
			}
			b.param()
		}
		b.WriteByte(')')
		return b.String()
	}
	b.WriteByte('(')
	b.names(key)
	b.WriteString(") IN (")
	if st.d == sqldb.SQLite {
		b.WriteString("VALUES ")
	}
	b.tuples(rows, len(key))
	b.WriteByte(')')
	return b.String()
}

// savepoint statements, for finding the record a batch fails on.
func savepoint(name string) string  { return "SAVEPOINT " + name }
func rollbackTo(name string) string { return "ROLLBACK TO SAVEPOINT " + name }
func release(name string) string    { return "RELEASE SAVEPOINT " + name }
