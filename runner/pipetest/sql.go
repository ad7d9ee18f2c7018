package pipetest

import (
	"context"
	"fmt"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
)

// execSQL runs the case's statements, in order, before the pipeline starts.
func (r *caseRun) execSQL(ctx context.Context) error {
	for _, s := range r.c.SQL {
		d, err := sqldb.Lookup(s.Driver)
		if err != nil {
			return fmt.Errorf("%s: sql: %v", s.Pos, err)
		}
		dsn := r.subst(s.DSN)
		db, err := sqldb.Open(d, dsn)
		if err != nil {
			return fmt.Errorf("%s: sql: %v", s.Pos, err)
		}
		for _, stmt := range s.Exec {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				db.Close()
				return fmt.Errorf("%s: sql: %s: %s", s.Pos, stmt, sqldb.Scrub(dsn, err.Error()))
			}
		}
		if err := db.Close(); err != nil {
			return fmt.Errorf("%s: sql: %v", s.Pos, err)
		}
	}
	return nil
}

// checkRows runs each expect_rows query and compares its rows, in order.
func (r *caseRun) checkRows(ctx context.Context) {
	for _, want := range r.c.ExpectRows {
		// Rows past the expected ones plus what a report shows need not
		// be held: a query of the test file may yield any number.
		limit := len(want.Rows) + maxLines + 1
		got, err := r.query(ctx, want, limit)
		if err != nil {
			r.res.fail("rows %q: %v", want.Query, err)
			continue
		}
		gotCount := fmt.Sprint(len(got))
		if len(got) == limit {
			got = got[:limit-1]
			gotCount = fmt.Sprintf("more than %d", len(got))
		}
		var lines []string
		for i := 0; i < max(len(want.Rows), len(got)); i++ {
			switch {
			case i >= len(got):
				lines = append(lines, fmt.Sprintf("  missing:    row %d %s", i+1, formatRow(want.Rows[i])))
			case i >= len(want.Rows):
				lines = append(lines, fmt.Sprintf("  unexpected: row %d %s", i+1, formatRow(got[i])))
			case !rowEqual(want.Rows[i], got[i]):
				lines = append(lines,
					fmt.Sprintf("  differs:    row %d expected %s", i+1, formatRow(want.Rows[i])),
					fmt.Sprintf("                    got      %s", formatRow(got[i])))
			}
		}
		if len(lines) > 0 {
			r.res.fail("rows %q (%s): expected %d row(s), got %s", want.Query, want.Pos, len(want.Rows), gotCount)
			r.res.Problems = append(r.res.Problems, lines...)
		}
	}
}

func rowEqual(want, got []any) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !cellEqual(want[i], got[i]) {
			return false
		}
	}
	return true
}

// query returns at most limit rows of the query.
func (r *caseRun) query(ctx context.Context, want RowsExpect, limit int) ([][]any, error) {
	d, err := sqldb.Lookup(want.Driver)
	if err != nil {
		return nil, err
	}
	dsn := r.subst(want.DSN)
	db, err := sqldb.Open(d, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, want.Query)
	if err != nil {
		return nil, fmt.Errorf("%s", sqldb.Scrub(dsn, err.Error()))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for len(out) < limit && rows.Next() {
		cells := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range cells {
			ptrs[i] = &cells[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, cells)
	}
	return out, rows.Err()
}
