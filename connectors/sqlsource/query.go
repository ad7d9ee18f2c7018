package sqlsource

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// cursor is where the last durable batch ended. Values keep the Go type the
// driver scanned (int64, time.Time, string) so they bind back unchanged.
// Table is the identity of the table read, where the database has one
// (see tableID): a table created again under its name has another.
type cursor struct {
	Inc   any    `json:"inc,omitempty"`
	TS    any    `json:"ts,omitempty"`
	Table string `json:"table,omitempty"`
}

// held reports whether the cursor stands past some rows.
func (c cursor) held() bool { return c.Inc != nil || c.TS != nil }

// query builds the statement and its arguments for the next poll. Names
// were validated at load time and are quoted; values are always bound.
func (s *Source) query(c *cursor, now time.Time) (string, []any) {
	d, cfg := s.dialect, s.cfg
	var b strings.Builder
	if cfg.Query != "" {
		fmt.Fprintf(&b, "SELECT * FROM (%s) conveyor_q", cfg.Query)
	} else {
		cols := "*"
		if len(cfg.Columns) > 0 {
			names := slices.Clone(cfg.Columns)
			for _, need := range []string{cfg.IncrementingColumn, cfg.TimestampColumn} {
				if need != "" && !slices.Contains(names, need) {
					names = append(names, need)
				}
			}
			quoted := make([]string, len(names))
			for i, n := range names {
				quoted[i] = d.Quote(n)
			}
			cols = strings.Join(quoted, ", ")
		}
		fmt.Fprintf(&b, "SELECT %s FROM %s", cols, d.Quote(cfg.Table))
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return d.Placeholder(len(args))
	}
	inc, ts := d.Quote(cfg.IncrementingColumn), d.Quote(cfg.TimestampColumn)
	upper := func() any { return s.bindTime(now.Add(-time.Duration(cfg.Delay))) }
	switch cfg.Mode {
	case Incrementing:
		if c.Inc != nil {
			fmt.Fprintf(&b, " WHERE %s > %s", inc, arg(c.Inc))
		}
		fmt.Fprintf(&b, " ORDER BY %s LIMIT %d", inc, cfg.BatchSize)
	case Timestamp:
		// No LIMIT: rows sharing a timestamp must not be split across polls,
		// since the next poll asks only for later timestamps.
		if c.TS != nil {
			fmt.Fprintf(&b, " WHERE %s > %s AND", ts, arg(c.TS))
		} else {
			b.WriteString(" WHERE")
		}
		fmt.Fprintf(&b, " %s < %s ORDER BY %s", ts, arg(upper()), ts)
	case TimestampIncrementing:
		if c.TS != nil {
			t := arg(c.TS)
			fmt.Fprintf(&b, " WHERE ((%s = %s AND %s > %s) OR %s > %s) AND", ts, t, inc, arg(c.Inc), ts, arg(c.TS))
		} else {
			b.WriteString(" WHERE")
		}
		fmt.Fprintf(&b, " %s < %s ORDER BY %s, %s LIMIT %d", ts, arg(upper()), ts, inc, cfg.BatchSize)
	}
	return b.String(), args
}

// bindTime gives the upper bound as a time value in UTC. SQLite keeps
// timestamps as text; its driver writes a bound time in the layout it
// writes time values in, so comparisons hold for rows it wrote.
func (s *Source) bindTime(t time.Time) any { return t.UTC() }
