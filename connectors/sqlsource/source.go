package sqlsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Source polls a table or query.
type Source struct {
	cfg     Config
	dialect sqldb.Dialect
	log     *slog.Logger
	health  *connectors.Health
	db      *sqlx.DB
	cur     cursor
	now     func() time.Time
	typ     record.Type // the columns of the last query, see ValueType
}

// ValueType describes the rows being emitted, from their columns' database
// types, as the values convert them (see convert): decimals, dates and
// binary columns are text, timestamps time; a column the driver does not
// describe is Unknown.
func (s *Source) ValueType() record.Type { return s.typ }

// Spec declares the SQL source.
func Spec() connectors.SourceSpec {
	return connectors.SourceSpec{
		Spec: connectors.Spec{
			Name:    "sql",
			Doc:     "Polls a table or a query of PostgreSQL, MySQL/MariaDB or SQLite, like Kafka Connect's JDBC source; the cursor (last id and/or timestamp read) is stored in a compacted Kafka topic once every row it covers is acknowledged.",
			Config:  Config{},
			Example: "driver: postgres\ndsn: ${PG_DSN}\ntable: orders\nmode: incrementing\nincrementing_column: id\n",
			Caps: connectors.Capabilities{
				Cursor:   true,
				Shared:   true,
				Rows:     true,
				Describe: []connectors.Detail{{Option: "table", Format: "table %s"}, {Option: "query", Format: "query"}},
			},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) { return New(c, env) },
	}
}

// New checks the config offline; the database is opened when the stage starts.
func New(c pipeline.Connector, env connectors.Env) (*Source, error) {
	var cfg Config
	at, err := pipeline.DecodeLocated(c, env.Lookup, &cfg)
	if err != nil {
		return nil, err
	}
	d, err := cfg.validate(c, at)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	return &Source{cfg: cfg, dialect: d, log: log, health: env.Health, now: time.Now}, nil
}

// Resume restores the cursor the engine stored.
// Shared says every runner process sees the same table: only one of them
// polls it at a time (see connectors.Shared).
func (s *Source) Shared() bool { return true }

func (s *Source) Resume(stored []byte) error {
	if stored == nil || s.cfg.Mode == Bulk {
		s.cur = cursor{} // from the start (a source may be resumed again, when it takes over from another process)
		return nil
	}
	var c cursor
	if err := json.Unmarshal(stored, &c); err != nil {
		return fmt.Errorf("decode cursor: %w", err)
	}
	// JSON numbers come back as float64; an incrementing column is integral.
	if f, ok := c.Inc.(float64); ok {
		c.Inc = int64(f)
	}
	if ts, ok := c.TS.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			c.TS = t
		}
	}
	s.cur = c
	return nil
}

// Open opens the database handle (connections are made on first use).
func (s *Source) Open(ctx context.Context) error {
	db, err := sqldb.Open(s.dialect, s.cfg.DSN)
	if err != nil {
		return err
	}
	s.db = db
	if s.cfg.Startup == sqldb.StartupFail {
		if err := sqldb.Reachable(ctx, db, s.dialect, s.cfg.DSN, s.cfg.Table); err != nil {
			db.Close()
			return fmt.Errorf("%w (startup: fail)", err)
		}
	}
	s.health.Down("not polled yet")
	return nil
}

// Close releases the database handle.
func (s *Source) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Read polls until ctx ends. A failing poll is retried with backoff (the
// database may be restarting); a query the database rejects as invalid
// stops the stage, and so does a stored cursor that cannot belong to the
// table (see checkCursor).
func (s *Source) Read(ctx context.Context, emit connectors.Emit) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 200*time.Millisecond, 10*time.Second
	start, check := true, true
	for ctx.Err() == nil {
		var err error
		if check {
			err = s.checkCursor(ctx, start)
		}
		rows := 0
		if err == nil {
			start, check = false, false
			rows, err = s.poll(ctx, emit)
		}
		switch {
		case err == nil:
			s.health.Up()
			b.Reset()
			if !s.full(rows) {
				check = rows == 0
				sleep(ctx, time.Duration(s.cfg.PollInterval))
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, connectors.ErrStalePosition):
			return err
		case permanent(err):
			return fmt.Errorf("poll %s: %s", s.what(), sqldb.Scrub(s.cfg.DSN, err.Error()))
		default:
			wait := b.NextBackOff()
			msg := sqldb.Scrub(s.cfg.DSN, err.Error())
			s.health.Down("polling " + s.what() + " fails and is retried: " + msg)
			s.log.Warn("sql source poll failed; retrying", "reads", s.what(), "error", msg, "retry_in", wait)
			sleep(ctx, wait)
		}
	}
	return nil
}

// full reports that a poll that read rows reached its LIMIT, so more rows
// are waiting.
func (s *Source) full(rows int) bool {
	limited := s.cfg.Mode == Incrementing || s.cfg.Mode == TimestampIncrementing
	return limited && rows >= s.cfg.BatchSize
}

func (s *Source) what() string {
	if s.cfg.Table != "" {
		return s.cfg.Table
	}
	return "query"
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// permanent reports errors a retry cannot fix: the statement itself is
// wrong (SQL syntax, an unknown column). A missing table is not among them:
// it may be created later (by the application, or by a sink's auto_create),
// so the poll is retried with a warning.
func permanent(err error) bool {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "no such table") || strings.Contains(msg, "sqlstate 42p01") ||
		(strings.Contains(msg, "relation") && strings.Contains(msg, "does not exist")) || strings.Contains(msg, "error 1146") {
		return false
	}
	for _, s := range []string{"sqlstate 42", "syntax error", "no such column", "unknown column", "does not exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// poll runs one query, emits its rows in batches and returns how many
// there were.
func (s *Source) poll(ctx context.Context, emit connectors.Emit) (rows int, err error) {
	q, args := s.query(&s.cur, s.now())
	res, err := s.db.QueryxContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer res.Close()
	types, err := res.ColumnTypes()
	if err != nil {
		return 0, err
	}
	names := make([]string, len(types))
	kinds := make([]kind, len(types))
	incAt, tsAt := -1, -1
	s.typ = record.Type{Kind: record.Object, Fields: make([]record.Field, len(types))}
	for i, t := range types {
		names[i], kinds[i] = t.Name(), kindOf(t.DatabaseTypeName())
		s.typ.Fields[i] = record.Field{Name: t.Name(), Type: columnType(t.DatabaseTypeName(), kinds[i])}
		if null, ok := t.Nullable(); null || !ok {
			s.typ.Fields[i].Type.Nullable = true
		}
		switch t.Name() {
		case s.cfg.IncrementingColumn:
			incAt = i
		case s.cfg.TimestampColumn:
			tsAt = i
		}
	}
	if (s.cfg.IncrementingColumn != "" && incAt < 0) || (s.cfg.TimestampColumn != "" && tsAt < 0) {
		return 0, fmt.Errorf("the result has no column %q or %q: columns are %s (sqlstate 42)", s.cfg.IncrementingColumn, s.cfg.TimestampColumn, strings.Join(names, ", "))
	}
	var (
		batch   []*record.Record
		n       int
		next    = s.cur // cursor after the rows read so far
		safe    = s.cur // cursor after the last complete timestamp group
		lastTS  any
		scanned = make([]any, len(types))
		ptrs    = make([]any, len(types))
	)
	for i := range scanned {
		ptrs[i] = &scanned[i]
	}
	flush := func(c cursor) error {
		if len(batch) == 0 {
			return nil
		}
		var raw []byte
		if s.cfg.Mode != Bulk {
			raw, _ = json.Marshal(c)
		}
		err := emit(ctx, batch, raw)
		batch = nil
		return err
	}
	for res.Next() {
		if err := res.Scan(ptrs...); err != nil {
			return 0, err
		}
		rec, err := s.toRecord(names, kinds, scanned)
		if err != nil {
			// One bad row: the stage's on_error decides, and the cursor
			// moves past it rather than polling it for ever.
			rec = &record.Record{Err: err, Timestamp: s.now()}
		}
		n++
		if s.cfg.Mode == Timestamp {
			// A batch may end inside a group of rows sharing a timestamp;
			// the cursor moves past a timestamp only once its group is done.
			if lastTS != nil && !sameValue(scanned[tsAt], lastTS) {
				safe = next
			}
			lastTS = scanned[tsAt]
		}
		if incAt >= 0 {
			next.Inc = scanned[incAt]
		}
		if tsAt >= 0 {
			next.TS = scanned[tsAt]
		}
		batch = append(batch, rec)
		if len(batch) >= s.cfg.BatchSize {
			c := next
			if s.cfg.Mode == Timestamp {
				c = safe
			}
			if err := flush(c); err != nil {
				return 0, err
			}
		}
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	if err := flush(next); err != nil {
		return 0, err
	}
	s.cur = next
	return n, nil
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func (s *Source) toRecord(names []string, kinds []kind, scanned []any) (*record.Record, error) {
	v := make(map[string]any, len(names))
	for i, name := range names {
		x, err := convert(scanned[i], kinds[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", name, err)
		}
		v[name] = x
	}
	r := &record.Record{Value: v, Timestamp: s.now()}
	switch len(s.cfg.KeyColumns) {
	case 0:
	case 1:
		k, err := keyText(v[s.cfg.KeyColumns[0]])
		if err != nil {
			return nil, err
		}
		r.Key = k
	default:
		obj := make(map[string]any, len(s.cfg.KeyColumns))
		for _, c := range s.cfg.KeyColumns {
			obj[c] = v[c]
		}
		k, err := record.JSON.Encode(obj)
		if err != nil {
			return nil, err
		}
		r.Key = k
	}
	return r, nil
}

func keyText(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case int64, float64, bool:
		return []byte(fmt.Sprint(x)), nil
	default:
		return record.JSON.Encode(x)
	}
}

// Probe asks the database for the columns the source's query yields,
// without reading a row, and types them as its records hold them: what
// steps see (timestamps and dates are RFC 3339 text, decimals text).
func (s *Source) Probe(ctx context.Context) (record.Type, error) {
	dsn := s.cfg.DSN
	if s.dialect == sqldb.SQLite && strings.HasPrefix(dsn, "file:") {
		// Read-only, without the WAL pragma Open adds: a probe must not
		// create a database file, nor turn one into WAL mode.
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "mode=ro&_pragma=busy_timeout(10000)"
	}
	db, err := sqldb.Open(s.dialect, dsn)
	if err != nil {
		return record.Type{}, err
	}
	defer db.Close()
	q, args := s.query(&cursor{}, s.now())
	rows, err := db.QueryxContext(ctx, "SELECT * FROM ("+q+") conveyor_probe WHERE 1=0", args...)
	if err != nil {
		return record.Type{}, fmt.Errorf("%s: %s", s.what(), sqldb.Scrub(s.cfg.DSN, err.Error()))
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return record.Type{}, err
	}
	t := record.Type{Kind: record.Object}
	for _, c := range cols {
		ft := columnType(c.DatabaseTypeName(), kindOf(c.DatabaseTypeName()))
		if ft.Kind == record.Time {
			ft.Kind = record.Text // convert renders timestamps as text
		}
		ft.Nullable = true
		t.Fields = append(t.Fields, record.Field{Name: c.Name(), Type: ft})
	}
	return t, nil
}
