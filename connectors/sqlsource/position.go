package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
)

// staleCursor is a stored cursor that cannot belong to the table there
// now: polling on from it would skip that table's rows up to it.
type staleCursor struct {
	what, why string
}

func (e *staleCursor) Error() string {
	return fmt.Sprintf("%s: the stored cursor %s; polling on from it would skip the rows up to it", e.what, e.why)
}

func (e *staleCursor) Unwrap() error { return connectors.ErrStalePosition }

// checkCursor makes sure the cursor still belongs to what is polled: the
// table has the identity the cursor was stored with (PostgreSQL), and the
// cursor is not beyond the highest value of its column (a table emptied
// and filled again, or whose ids restarted). At start every check runs;
// after a poll that found nothing, those that are cheap and cannot mistake
// deleted rows for a new table: the identity, and in incrementing mode on
// PostgreSQL with a sequence, the sequence. An error wrapping
// connectors.ErrStalePosition stops the stage; others are retried as a
// failed poll is.
func (s *Source) checkCursor(ctx context.Context, start bool) error {
	if s.cfg.Mode == Bulk {
		return nil
	}
	if err := s.checkTable(ctx); err != nil {
		return err
	}
	if !start && !(s.cfg.Mode == Incrementing && s.dialect == sqldb.Postgres && s.cfg.Table != "") {
		return nil
	}
	return s.checkBeyond(ctx)
}

// tableID is the identity the database gives the table, "" when it gives
// none: PostgreSQL's oid of the table, new for a table dropped and created
// again. MySQL's and SQLite's would change on ALTER TABLE or VACUUM.
func (s *Source) tableID(ctx context.Context) (string, error) {
	if s.dialect != sqldb.Postgres || s.cfg.Table == "" {
		return "", nil
	}
	var oid int64
	if err := s.db.QueryRowContext(ctx, "SELECT $1::text::regclass::oid::bigint", s.dialect.Quote(s.cfg.Table)).Scan(&oid); err != nil {
		return "", err
	}
	return fmt.Sprintf("oid %d", oid), nil
}

// checkTable binds the cursor to the table's identity, or refuses it when
// it was stored for another table of the same name.
func (s *Source) checkTable(ctx context.Context) error {
	id, err := s.tableID(ctx)
	switch {
	case err != nil:
		return err
	case id == "" || id == s.cur.Table:
		return nil
	case s.cur.Table == "" && s.cur.held():
		s.log.Info("the stored cursor has no table identity (stored by an older conveyor): taking it as this table's and binding it to it",
			"table", s.cfg.Table, "table_identity", id)
	case s.cur.Table != "" && s.cur.held():
		return &staleCursor{what: "table " + s.cfg.Table, why: fmt.Sprintf(
			"(%s) was stored for a table with %s, but %s now has %s: it was dropped and created again, or the DSN points at another database",
			s.cursorText(), s.cur.Table, s.cfg.Table, id)}
	}
	s.cur.Table = id
	return nil
}

// checkBeyond refuses a cursor past the highest value of its column. On
// PostgreSQL the sequence of an incrementing column counts too, so rows
// deleted at the end are not taken for restarted ids.
func (s *Source) checkBeyond(ctx context.Context) error {
	col, at := s.cfg.IncrementingColumn, s.cur.Inc
	if s.cfg.Mode != Incrementing {
		col, at = s.cfg.TimestampColumn, s.cur.TS
	}
	if at == nil {
		return nil
	}
	d := s.dialect
	src, what := d.Quote(s.cfg.Table), "table "+s.cfg.Table
	if s.cfg.Query != "" {
		src, what = "("+s.cfg.Query+") conveyor_q", "the query"
	}
	highest := "MAX(" + d.Quote(col) + ")"
	args := []any{}
	if d == sqldb.Postgres && s.cfg.Table != "" && s.cfg.Mode == Incrementing {
		// pg_sequences shows no value without the rights to the sequence.
		highest = "GREATEST(" + highest + ", (SELECT last_value FROM pg_sequences WHERE format('%I.%I', schemaname, sequencename) = pg_get_serial_sequence($1, $2)))"
		args = append(args, d.Quote(s.cfg.Table), col)
	}
	args = append(args, at)
	q := fmt.Sprintf("SELECT hw FROM (SELECT %s AS hw FROM %s) conveyor_hw WHERE hw < %s", highest, src, d.Placeholder(len(args)))
	var hw any
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&hw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // empty, or nothing past the cursor is missing
	}
	if err != nil {
		return err
	}
	return &staleCursor{what: what, why: fmt.Sprintf("(%s) is beyond the highest %s there now, %s: the table was emptied or created again, or its ids restarted",
		s.cursorText(), col, valueText(hw))}
}

// cursorText shows the cursor's position for messages.
func (s *Source) cursorText() string {
	switch {
	case s.cur.TS != nil && s.cur.Inc != nil:
		return fmt.Sprintf("%s %s, %s %s", s.cfg.TimestampColumn, valueText(s.cur.TS), s.cfg.IncrementingColumn, valueText(s.cur.Inc))
	case s.cur.TS != nil:
		return s.cfg.TimestampColumn + " " + valueText(s.cur.TS)
	}
	return s.cfg.IncrementingColumn + " " + valueText(s.cur.Inc)
}

func valueText(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
