package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Sink writes records to a SQL table, one transaction per batch.
// The engine calls Write from one goroutine at a time.
type Sink struct {
	cfg    *settings
	st     statements
	rows   *rowBuilder
	log    *slog.Logger
	health *connectors.Health
	db     *sqlx.DB
	schema *schema // auto_create: what the records look like; nil once created
	stmts  map[stmtKey]string
	osql   offsetSQL
	// offsetsReady is set once the offsets table is known to exist.
	offsetsReady bool
}

// Spec declares the SQL sink.
func Spec() connectors.SinkSpec {
	return connectors.SinkSpec{
		Spec: connectors.Spec{
			Name:    "sql",
			Doc:     "Writes records into a PostgreSQL, MySQL/MariaDB or SQLite table, like Kafka Connect's JDBC sink: insert, upsert or update, in one transaction of multi-row statements per batch.",
			Config:  Config{},
			Example: "driver: postgres\ndsn: ${PG_DSN}\ntable: store_totals\nmode: upsert\nkey: [store]\n",
			Caps: connectors.Capabilities{
				OwnOffsets: true,
				Rows:       true,
				Describe:   []connectors.Detail{{Option: "table", Format: "table %s"}},
			},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return New(c, env) },
	}
}

// New checks the config without touching the network (runner check calls
// it); every problem comes back as pipeline.Errors with its position.
func New(c pipeline.Connector, env connectors.Env) (*Sink, error) {
	cfg, err := parse(c, env)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Sink{
		cfg:    cfg,
		st:     newStatements(cfg.dialect, cfg.table, cfg.batchSize),
		rows:   newRowBuilder(cfg),
		osql:   newOffsetSQL(cfg.dialect, cfg.offsetsTable),
		log:    log.With("connector", "sql", "table", cfg.table),
		health: env.Health,
	}
	if cfg.autoCreate {
		s.schema = &schema{}
		s.rows.observe = s.schema.observe
	}
	return s, nil
}

// BatchSize is the most records the engine should hand to one Write: one
// transaction. It is also the most rows per statement.
func (s *Sink) BatchSize() int { return s.cfg.batchSize }

// FlushInterval is how long the engine may wait for a batch to fill
// before writing what it has.
func (s *Sink) FlushInterval() time.Duration { return s.cfg.flushInterval }

// Open prepares the connection pool. It does not fail when the database is
// down, so a stage starts before its database does: it logs a warning and
// the writes retry until the database answers.
func (s *Sink) Open(ctx context.Context) error {
	db, err := sqldb.Open(s.cfg.dialect, s.cfg.dsn)
	if err != nil {
		return err
	}
	if s.cfg.dialect != sqldb.SQLite {
		// One Write at a time needs one connection. Idle ones are closed
		// early: servers and firewalls drop them silently.
		db.SetMaxOpenConns(2)
		db.SetMaxIdleConns(2)
		db.SetConnMaxIdleTime(time.Minute)
	}
	s.db = db
	table := s.cfg.table
	if s.cfg.autoCreate {
		table = "" // created with the first batch
	}
	if err := sqldb.Reachable(ctx, db, s.cfg.dialect, s.cfg.dsn, table); err != nil {
		if s.cfg.startup == sqldb.StartupFail {
			db.Close()
			s.db = nil
			return fmt.Errorf("%w (startup: fail)", err)
		}
		s.health.Down(err.Error() + "; writes retry until it works")
		s.log.Warn("not ready: writes will retry until this works", "error", err)
	}
	return nil
}

var errNotOpen = errors.New("sql sink: used before Open")

// The sink keeps consumer offsets with its rows.
var _ connectors.OffsetSink = (*Sink)(nil)

// Write makes the batch durable in one transaction. A record that cannot
// become a row, or that the database rejects for good, comes back as an
// *connectors.RecordError naming it; every other error is transient and the
// engine retries the batch.
func (s *Sink) Write(ctx context.Context, batch []*record.Record) error {
	return s.write(ctx, batch, nil)
}

// write is Write and WriteWithOffsets: the batch's rows and the offsets,
// if any, in one transaction.
func (s *Sink) write(ctx context.Context, batch []*record.Record, offsets []connectors.Offset) error {
	if s.db == nil {
		return errNotOpen
	}
	ops, err := s.rows.plan(batch)
	if err != nil {
		return err
	}
	return s.writeOps(ctx, ops, offsets)
}

// writeOps applies planned ops and moves offsets in one transaction. A
// failure of the offsets is returned as it is; one of the rows is sorted
// out as Write documents.
func (s *Sink) writeOps(ctx context.Context, ops []op, offsets []connectors.Offset) error {
	if len(ops) == 0 && len(offsets) == 0 {
		return nil
	}
	if err := s.ensureTable(ctx, ops); err != nil {
		return err
	}
	if err := s.ensureOffsetsTable(ctx, offsets); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.apply(ctx, tx, ops); err != nil {
			return err
		}
		if err := s.storeOffsets(ctx, tx, offsets); err != nil {
			return &offsetsError{err}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if oe := (*offsetsError)(nil); errors.As(err, &oe) {
		return oe.err
	}
	switch f := classify(err); {
	case s.recordFault(f):
		return s.locate(ctx, ops, offsets)
	case f == noTable:
		if s.cfg.autoCreate {
			if !hasWrites(ops) {
				// Only deletes: nothing to delete from no table, but
				// the offsets still move.
				return s.writeOps(ctx, nil, offsets)
			}
			s.schema = &schema{} // dropped while running: create it again
			s.rows.observe = s.schema.observe
			return s.dbError(fmt.Sprintf("write to %s: the table is missing; it is created on the next try", s.cfg.table), err)
		}
		return s.dbError(fmt.Sprintf("write to %s: the table does not exist: create it, or set auto_create: true", s.cfg.table), err)
	case f == noColumn:
		return s.dbError(fmt.Sprintf("write to %s: a configured column does not exist in the table: add it or change columns", s.cfg.table), err)
	}
	if len(ops) == 0 {
		return s.dbError("store offsets in "+s.cfg.offsetsTable, err)
	}
	return s.dbError(fmt.Sprintf("write %d rows to %s", len(ops), s.cfg.table), err)
}

// recordFault tells whether an error is some record's fault. An unknown
// column is when the columns are the value's fields.
func (s *Sink) recordFault(f fault) bool {
	return f == rowFault || f == noColumn && s.cfg.columns == nil
}

func hasWrites(ops []op) bool {
	for _, o := range ops {
		if o.kind == opWrite {
			return true
		}
	}
	return false
}

// ensureTable runs auto_create once, when a batch first has rows to write.
func (s *Sink) ensureTable(ctx context.Context, ops []op) error {
	if s.schema == nil || !hasWrites(ops) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.st.create(s.schema, s.cfg.key)); err != nil {
		return s.dbError("auto_create: create table "+s.cfg.table, err)
	}
	s.schema, s.rows.observe = nil, nil
	return nil
}

// Close closes the connection pool.
func (s *Sink) Close() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// dbError is a driver error with the DSN's password taken out of its text,
// should the driver repeat it; errors.As still finds the driver's error.
type dbError struct {
	msg string
	err error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.err }

func (s *Sink) dbError(what string, err error) error {
	return &dbError{msg: what + ": " + sqldb.Scrub(s.cfg.dsn, err.Error()), err: err}
}
