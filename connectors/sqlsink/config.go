package sqlsink

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Config is the `sql:` block of a sink, as written in the pipeline file.
type Config struct {
	Driver            string                   `yaml:"driver" conf:"required" example:"postgres" doc:"the database: postgres, mysql (MariaDB too) or sqlite"`
	DSN               string                   `yaml:"dsn" conf:"required" example:"${PG_DSN}" doc:"the driver's connection string, as for the source; its password never appears in logs or errors"`
	Table             string                   `yaml:"table" conf:"required" example:"orders" doc:"table or schema.table: letters, digits and underscores, then quoted"`
	Mode              string                   `yaml:"mode" default:"upsert" enum:"insert,upsert,update" enumof:"mode" doc:"insert (append), upsert (ON CONFLICT ... DO UPDATE; MySQL ON DUPLICATE KEY UPDATE) or update (existing rows only)"`
	Key               []string                 `yaml:"key" defaultdoc:"none" example:"[order_id]" doc:"the primary-key columns; needed for upsert, update and delete_on_tombstone"`
	KeyFrom           string                   `yaml:"key_from" default:"value" enum:"value,record_key" doc:"value: key columns are value fields; record_key: the Kafka key (the key itself for one column, or a JSON object with a field per key column)"`
	Columns           map[string]pipeline.Expr `yaml:"columns" defaultdoc:"every top-level field" example:"{total_cents: round(total * 100)}" doc:"column: expression over the record; with key_from: value the key columns must be listed"`
	DeleteOnTombstone bool                     `yaml:"delete_on_tombstone" default:"false" doc:"a null value deletes the row by key (needs key_from: record_key); otherwise tombstones are skipped"`
	BatchSize         int                      `yaml:"batch_size" default:"1000" doc:"most records per transaction (the stage reads batches of this size)"`
	FlushInterval     pipeline.Duration        `yaml:"flush_interval" default:"100ms" doc:"how long the stage waits to fill a batch"`
	AutoCreate        bool                     `yaml:"auto_create" default:"false" doc:"CREATE TABLE IF NOT EXISTS from the first batch's fields (BIGINT, DOUBLE PRECISION, BOOLEAN, TEXT, TIMESTAMPTZ, BYTEA, JSONB and the other dialects' equivalents; key columns NOT NULL PRIMARY KEY)"`
	OffsetsTable      string                   `yaml:"offsets_table" default:"conveyor_offsets" doc:"exactly-once: the table that keeps the stage's consumer offsets with the identity of their topic, written in the same transaction as the rows (created when missing)"`
	Startup           string                   `yaml:"startup" default:"wait" enum:"wait,fail" doc:"wait: start even when the database does not answer or the table is missing, not ready, and retry writes until they work; fail: stop at start instead (the table is not checked with auto_create)"`
}

// Mode is how a record becomes a row.
type Mode string

// The modes.
const (
	Insert Mode = "insert" // plain INSERT: append-only tables
	Upsert Mode = "upsert" // insert, or update the row with the same key
	Update Mode = "update" // update the row with the same key; no row, no change
)

// Where key column values come from.
const (
	KeyFromValue     = "value"
	KeyFromRecordKey = "record_key"
)

// column is one configured column and the expression that computes it.
type column struct {
	name string
	prog *expression.Program
	// field is set when the expression is a bare field name, which is read
	// from the value directly: the common case, and per row and column the
	// expression machine costs more than the map lookup.
	field string
}

// settings is a validated config.
type settings struct {
	dialect       sqldb.Dialect
	dsn           string
	table         string // validated, not quoted
	mode          Mode
	key           []string
	keyFromRecord bool
	columns       []column // nil: the value's top-level fields
	deleteOnNull  bool
	batchSize     int
	flushInterval time.Duration
	autoCreate    bool
	offsetsTable  string // validated, not quoted
	startup       string
	vars          map[string]any
}

// parse decodes and checks the block without touching the network.
func parse(c pipeline.Connector, env connectors.Env) (*settings, error) {
	// Checks go on after decoding errors, so that every problem is
	// reported at once; a key that is absent was reported as missing.
	var cfg Config
	var errs pipeline.Errors
	errs.Add(c.Pos, c.Path, pipeline.Decode(c, env.Lookup, &cfg))
	loc := locator{c}
	s := &settings{dsn: cfg.DSN, table: cfg.Table, autoCreate: cfg.AutoCreate, deleteOnNull: cfg.DeleteOnTombstone, vars: env.Vars}

	if loc.value("driver") != nil {
		d, err := sqldb.Lookup(cfg.Driver)
		errs.Add(loc.at("driver"), loc.path("driver"), err)
		s.dialect = d
	}
	if loc.value("dsn") != nil && cfg.DSN == "" {
		errs.Addf(loc.at("dsn"), loc.path("dsn"), "empty: set the %s connection string", cfg.Driver)
	}
	if loc.value("table") != nil {
		errs.Add(loc.at("table"), loc.path("table"), sqldb.CheckTable(cfg.Table))
	}
	s.offsetsTable = offsetsTable(cfg, loc, &errs)
	s.startup = cfg.Startup
	s.mode = Mode(cfg.Mode) // the spec's enum checked it
	s.keyFromRecord = cfg.KeyFrom == KeyFromRecordKey

	for i, k := range cfg.Key {
		p := loc.item("key", i)
		if err := sqldb.CheckIdent("key column", k); err != nil {
			errs.Add(p, loc.path("key"), err)
		} else if slices.Contains(cfg.Key[:i], k) {
			errs.Addf(p, loc.path("key"), "key column %q is listed twice", k)
		}
	}
	s.key = cfg.Key
	if len(cfg.Key) == 0 {
		switch {
		case s.mode == Upsert || s.mode == Update:
			errs.Addf(loc.at("mode"), loc.path("key"), "mode %s needs key: the primary-key columns that identify a row", s.mode)
		case cfg.DeleteOnTombstone:
			errs.Addf(loc.at("delete_on_tombstone"), loc.path("key"), "delete_on_tombstone needs key: the primary-key columns of the row to delete")
		}
	}
	if cfg.DeleteOnTombstone && !s.keyFromRecord {
		errs.Addf(loc.at("delete_on_tombstone"), loc.path("delete_on_tombstone"), "a tombstone has no value to take the key from: set key_from: record_key")
	}

	s.columns = columns(cfg.Columns, env.Vars, loc, &errs)
	if cfg.Columns != nil && !s.keyFromRecord {
		for i, k := range cfg.Key {
			if !slices.ContainsFunc(s.columns, func(c column) bool { return c.name == k }) {
				errs.Addf(loc.item("key", i), loc.path("key"), "key column %q is not among the columns; add it, or take the key from the record key (key_from: record_key)", k)
			}
		}
	}

	s.batchSize = cfg.BatchSize
	if cfg.BatchSize < 1 {
		errs.Addf(loc.at("batch_size"), loc.path("batch_size"), "must be at least 1")
	}
	s.flushInterval = time.Duration(cfg.FlushInterval)
	if cfg.FlushInterval < 0 {
		errs.Addf(loc.at("flush_interval"), loc.path("flush_interval"), "must not be negative")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// offsetsTable checks offsets_table when it is set.
func offsetsTable(cfg Config, loc locator, errs *pipeline.Errors) string {
	if loc.value("offsets_table") == nil {
		return cfg.OffsetsTable // the default
	}
	if err := sqldb.CheckTable(cfg.OffsetsTable); err != nil {
		errs.Add(loc.at("offsets_table"), loc.path("offsets_table"), err)
	} else if strings.EqualFold(cfg.OffsetsTable, cfg.Table) {
		// Rows of the offsets' shape written into the data table, or the
		// other way round, would corrupt both.
		errs.Addf(loc.at("offsets_table"), loc.path("offsets_table"), "%q is the table the rows go to: name another table for the offsets", cfg.OffsetsTable)
	}
	return cfg.OffsetsTable
}

// bareField matches an expression that is just a field name.
var bareField = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$`)

// columns compiles the column expressions in the order they are written.
func columns(exprs map[string]pipeline.Expr, vars map[string]any, loc locator, errs *pipeline.Errors) []column {
	if exprs == nil {
		return nil
	}
	out := make([]column, 0, len(exprs))
	for name, e := range exprs {
		col := column{name: name}
		if err := sqldb.CheckIdent("column name", name); err != nil {
			errs.Add(e.Pos, e.Path, err)
			continue
		}
		if e.Src == "" {
			continue // pipeline.Decode reported it
		}
		p, err := expression.Compile(e, expression.Options{Vars: vars}, expression.Any)
		if err != nil {
			errs.Add(e.Pos, e.Path, err)
			continue
		}
		col.prog = p
		if m := bareField.FindStringSubmatch(e.Src); m != nil && !expression.IsReserved(m[1]) && !isLiteral(m[1]) {
			col.field = m[1]
		}
		out = append(out, col)
	}
	// A mapping decodes into a Go map: the file's order comes back from
	// the expressions' positions.
	sort.Slice(out, func(i, j int) bool {
		a, b := exprs[out[i].name].Pos, exprs[out[j].name].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return out[i].name < out[j].name
	})
	if len(exprs) == 0 {
		errs.Addf(loc.at("columns"), loc.path("columns"), "want at least one column, or leave columns out to write every field of the value")
	}
	return out
}

func isLiteral(s string) bool {
	switch s {
	case "true", "false", "nil", "null":
		return true
	}
	return false
}
