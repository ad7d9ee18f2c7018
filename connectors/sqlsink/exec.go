package sqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
)

// inTx runs fn in a transaction and commits it.
func (s *Sink) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	return tx.Commit()
}

// apply runs ops in order; each run of ops of one kind and shape is one
// statement (or a few, to stay under the parameter limit).
func (s *Sink) apply(ctx context.Context, tx *sql.Tx, ops []op) error {
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].kind == ops[i].kind && ops[j].shape == ops[i].shape {
			j++
		}
		if err := s.applyRun(ctx, tx, ops[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (s *Sink) applyRun(ctx context.Context, tx *sql.Tx, run []op) error {
	cols, key := run[0].cols, s.cfg.key
	if run[0].kind == opWrite && s.cfg.mode == Update {
		return s.updateEach(ctx, tx, run)
	}
	n := len(cols)
	if run[0].kind == opDelete {
		n = len(key)
	}
	per := s.st.rowsPer(n)
	args := make([]any, 0, min(len(run), per)*n)
	for len(run) > 0 {
		chunk := run[:min(len(run), per)]
		run = run[len(chunk):]
		q := s.statement(chunk[0].kind, cols, chunk[0].shape, len(chunk))
		args = args[:0]
		for _, o := range chunk {
			args = append(args, o.vals[:n]...) // a delete's row is its key
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// stmtKey names a statement text: batches of one shape repeat them.
type stmtKey struct {
	kind  opKind
	shape string
	rows  int
}

// maxStatements bounds the statement cache; past it the cache starts over.
const maxStatements = 256

// statement returns the SQL of a run of rows of one kind and shape.
func (s *Sink) statement(kind opKind, cols []string, shape string, rows int) string {
	k := stmtKey{kind, shape, rows}
	if q, ok := s.stmts[k]; ok {
		return q
	}
	var q string
	switch {
	case kind == opDelete:
		q = s.st.delete(s.cfg.key, rows)
	case s.cfg.mode == Update:
		q = s.st.update(cols, s.cfg.key)
	case s.cfg.mode == Upsert:
		q = s.st.upsert(cols, s.cfg.key, rows)
	default:
		q = s.st.insert(cols, rows)
	}
	if s.stmts == nil || len(s.stmts) >= maxStatements {
		s.stmts = make(map[stmtKey]string)
	}
	s.stmts[k] = q
	return q
}

// updateEach updates rows one statement each, prepared once per run. A
// row that matches nothing is no error: update mode changes only what is
// there.
func (s *Sink) updateEach(ctx context.Context, tx *sql.Tx, run []op) error {
	key := s.cfg.key
	q := s.statement(opWrite, run[0].cols, run[0].shape, 1)
	if q == "" {
		return nil // only key columns: nothing to set
	}
	stmt, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	defer stmt.Close()
	args := make([]any, 0, len(run[0].cols))
	for _, o := range run {
		// Key columns come first in a row; the statement binds them last.
		args = append(append(args[:0], o.vals[len(key):]...), o.vals[:len(key)]...)
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// locate finds the record a batch fails on, after a failure that some
// record caused: in a new transaction it applies ever smaller halves of the
// ops, in the records' order, each under a savepoint, keeping those that
// pass. Record order makes the culprit the one that fails when the records
// are applied one by one: of two records claiming one unique value, the
// later. The first op that
// fails alone is the culprit, reported as an *connectors.RecordError; the
// transaction is then rolled back, since the engine writes the batch again
// without that record. Should every op pass (the failure came from the
// ops together, not from one), the batch is committed, with the offsets.
func (s *Sink) locate(ctx context.Context, ops []op, offsets []connectors.Offset) error {
	// A key's delete comes before its write in record order too.
	ops = slices.Clone(ops)
	slices.SortStableFunc(ops, func(a, b op) int { return a.index - b.index })
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.dbError("begin", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if s.cfg.dialect == sqldb.Postgres {
		// Deferred constraints would only fail at COMMIT, past the search.
		if _, err := tx.ExecContext(ctx, "SET CONSTRAINTS ALL IMMEDIATE"); err != nil {
			return s.dbError("set constraints", err)
		}
	}
	try := func(part []op) error {
		if _, err := tx.ExecContext(ctx, savepoint("conveyor_find")); err != nil {
			return &dbError{msg: "savepoint: " + err.Error(), err: err}
		}
		if err := s.apply(ctx, tx, part); err != nil {
			if _, rerr := tx.ExecContext(ctx, rollbackTo("conveyor_find")); rerr != nil {
				return &dbError{msg: "rollback to savepoint: " + rerr.Error(), err: rerr}
			}
			_, _ = tx.ExecContext(ctx, release("conveyor_find")) // tidy; the next savepoint replaces it anyway
			return err
		}
		_, err := tx.ExecContext(ctx, release("conveyor_find"))
		return err
	}
	lo, failing := 0, true // the whole batch just failed
	for lo < len(ops) {
		if !failing {
			err := try(ops[lo:])
			if err == nil {
				break
			}
			if !s.recordFault(classify(err)) {
				return s.dbError("write to "+s.cfg.table, err)
			}
		}
		hi := len(ops)
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			switch err := try(ops[lo:mid]); {
			case err == nil:
				lo = mid
			case s.recordFault(classify(err)):
				hi = mid
			default:
				return s.dbError("write to "+s.cfg.table, err)
			}
		}
		err := try(ops[lo : lo+1])
		switch {
		case err == nil:
			lo++
			failing = false
		case s.recordFault(classify(err)):
			return &connectors.RecordError{Index: ops[lo].index, Err: s.dbError(fmt.Sprintf("write to %s", s.cfg.table), err)}
		default:
			return s.dbError("write to "+s.cfg.table, err)
		}
	}
	if err := s.storeOffsets(ctx, tx, offsets); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.dbError("commit", err)
	}
	return nil
}
