// Package sqlsource polls a SQL table or query into Kafka, like Kafka
// Connect's JDBC source: bulk, incrementing, timestamp and
// timestamp+incrementing modes, with the cursor kept durable by the engine.
package sqlsource

import (
	"fmt"
	"strings"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// Modes.
const (
	Bulk                  = "bulk"
	Incrementing          = "incrementing"
	Timestamp             = "timestamp"
	TimestampIncrementing = "timestamp+incrementing"
)

// Config is the `sql:` block of a source.
type Config struct {
	Driver             string            `yaml:"driver" conf:"required" example:"postgres" doc:"the database: postgres, mysql (MariaDB too) or sqlite"`
	DSN                string            `yaml:"dsn" conf:"required" example:"${PG_DSN}" doc:"the driver's connection string (postgres://user:pass@host/db, user:pass@tcp(host:3306)/db, file:shop.db); its password never appears in logs or errors"`
	Table              string            `yaml:"table" example:"orders" doc:"the table or schema.table (validated, quoted); or query instead"`
	Columns            []string          `yaml:"columns" defaultdoc:"all" example:"[id, store, total, updated_at]" doc:"the columns of table to read"`
	Query              string            `yaml:"query" example:"SELECT id, store, total FROM orders" doc:"instead of table: one SELECT statement, wrapped as a subquery so the mode's conditions apply"`
	Mode               string            `yaml:"mode" enum:"bulk,incrementing,timestamp,timestamp+incrementing" enumof:"mode" defaultdoc:"incrementing when incrementing_column is set, else bulk" doc:"how new rows are found: bulk (the whole table each poll), incrementing (by a strictly increasing column), timestamp (by a last-modified column) or timestamp+incrementing (both)"`
	IncrementingColumn string            `yaml:"incrementing_column" example:"id" doc:"a strictly increasing column (an id)"`
	TimestampColumn    string            `yaml:"timestamp_column" example:"updated_at" doc:"a last-modified column"`
	Delay              pipeline.Duration `yaml:"delay" defaultdoc:"0s" example:"5s" doc:"timestamp modes: only rows older than now minus the delay, so rows committed late by long transactions are not skipped"`
	PollInterval       pipeline.Duration `yaml:"poll_interval" default:"1s" doc:"the pause after a poll that found nothing more"`
	BatchSize          int               `yaml:"batch_size" default:"1000" doc:"rows per batch (and the LIMIT of the incrementing modes)"`
	KeyColumns         []string          `yaml:"key_columns" defaultdoc:"none" example:"[store]" doc:"the record key: one column's value as text, or a JSON object of several; the stage's key: expression is the other way"`
	Startup            string            `yaml:"startup" default:"wait" enum:"wait,fail" doc:"wait: a database that does not answer, or a table that does not exist yet, leaves the stage running but not ready (/readyz says why) while it polls again with backoff; fail: the stage, and so the runner, stops at start"`
}

// validate checks the config and applies defaults; every problem found is
// returned, each at the connector's position.
func (c *Config) validate(conn pipeline.Connector, at pipeline.Positions) (sqldb.Dialect, error) {
	var errs pipeline.Errors
	bad := func(key, format string, args ...any) {
		path := conn.Path + "." + key
		errs.Addf(at.Of(path, conn.Pos), path, format, args...)
	}
	d, err := sqldb.Lookup(c.Driver)
	if err != nil && c.Driver != "" {
		bad("driver", "%v", err)
	}
	switch {
	case c.Table == "" && c.Query == "":
		bad("table", "set table (with optional columns) or query")
	case c.Table != "" && c.Query != "":
		bad("query", "set table or query, not both")
	case c.Table != "":
		if err := sqldb.CheckTable(c.Table); err != nil {
			bad("table", "%v", err)
		}
	case len(c.Columns) > 0:
		bad("columns", "columns go with table; a query names its own")
	}
	for i, col := range c.Columns {
		if err := sqldb.CheckIdent("column", col); err != nil {
			bad(fmt.Sprintf("columns[%d]", i), "%v", err)
		}
	}
	for i, col := range c.KeyColumns {
		if err := sqldb.CheckIdent("column", col); err != nil {
			bad(fmt.Sprintf("key_columns[%d]", i), "%v", err)
		}
	}
	if c.Mode == "" {
		c.Mode = Incrementing
		if c.IncrementingColumn == "" && c.TimestampColumn == "" {
			c.Mode = Bulk
		}
	}
	needInc := c.Mode == Incrementing || c.Mode == TimestampIncrementing
	needTS := c.Mode == Timestamp || c.Mode == TimestampIncrementing
	check := func(key, col string, need bool) {
		switch {
		case need && col == "":
			bad(key, "mode %s needs %s", c.Mode, key)
		case !need && col != "" && c.Mode != "":
			bad(key, "mode %s does not use %s", c.Mode, key)
		case col != "":
			if err := sqldb.CheckIdent("column", col); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	check("incrementing_column", c.IncrementingColumn, needInc)
	check("timestamp_column", c.TimestampColumn, needTS)
	if c.Delay > 0 && !needTS {
		bad("delay", "delay applies to the timestamp modes")
	}
	if c.PollInterval <= 0 {
		bad("poll_interval", "must be positive")
	}
	if c.BatchSize < 1 {
		bad("batch_size", "must be positive")
	}
	if strings.TrimSpace(c.Query) != "" && strings.Contains(c.Query, ";") {
		bad("query", "one statement only: remove the ';'")
	}
	return d, errs.Err()
}
