// Package sqlsource polls a SQL table or query into Kafka, like Kafka
// Connect's JDBC source: bulk, incrementing, timestamp and
// timestamp+incrementing modes, with the cursor kept durable by the engine.
package sqlsource

import (
	"fmt"
	"strings"
	"time"

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
	Driver string `yaml:"driver" conf:"required"`
	DSN    string `yaml:"dsn" conf:"required"`
	// Table (optionally schema.table) and Columns, or a custom Query.
	Table   string   `yaml:"table"`
	Columns []string `yaml:"columns"`
	Query   string   `yaml:"query"`
	// Mode says how new rows are found; see the package doc.
	Mode               string            `yaml:"mode"`
	IncrementingColumn string            `yaml:"incrementing_column"`
	TimestampColumn    string            `yaml:"timestamp_column"`
	Delay              pipeline.Duration `yaml:"delay"`
	PollInterval       pipeline.Duration `yaml:"poll_interval"`
	BatchSize          int               `yaml:"batch_size"`
	// KeyColumns make the record key: one column's value as text, or a JSON
	// object of several.
	KeyColumns []string `yaml:"key_columns"`
	// Startup is wait (the default: retry, not ready, until the database
	// answers and the table exists) or fail (stop at start).
	Startup string `yaml:"startup"`
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
	switch c.Mode {
	case Bulk, Incrementing, Timestamp, TimestampIncrementing:
	default:
		bad("mode", "unknown mode %q: want %s, %s, %s or %s", c.Mode, Bulk, Incrementing, Timestamp, TimestampIncrementing)
	}
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
	if c.PollInterval == 0 {
		c.PollInterval = pipeline.Duration(time.Second)
	}
	if c.BatchSize < 0 {
		bad("batch_size", "must be positive")
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if err := sqldb.CheckStartup(c.Startup); err != nil {
		bad("startup", "%v", err)
	}
	if strings.TrimSpace(c.Query) != "" && strings.Contains(c.Query, ";") {
		bad("query", "one statement only: remove the ';'")
	}
	return d, errs.Err()
}
