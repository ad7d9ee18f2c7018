package sqlsink

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// fault says whose problem a failed write is.
type fault uint8

const (
	// transient: the database or the network; retrying may succeed.
	transient fault = iota
	// rowFault: a value the table can never take (a constraint, a type,
	// a range). Some record of the batch is at fault.
	rowFault
	// noTable: the table (or its schema) does not exist.
	noTable
	// noColumn: a column does not exist. A record's fault when columns
	// come from the value's fields; a config problem otherwise.
	noColumn
)

// classify sorts a driver error. Anything it does not recognise is taken
// as transient: retrying a bad record forever stalls the stage visibly
// (it logs every failure), while calling a passing outage a bad record
// would drop or dead-letter good data.
func classify(err error) fault {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return postgresFault(pe.Code)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return mysqlFault(me)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return sqliteFault(se)
	}
	// pgx refuses some values before sending them (an int64 too big for
	// an int4 column); the server never saw them, the record is at fault.
	if strings.Contains(err.Error(), "failed to encode args[") {
		return rowFault
	}
	return transient
}

func postgresFault(code string) fault {
	switch {
	case strings.HasPrefix(code, "22"), // data exception: invalid text for a type, out of range, too long
		strings.HasPrefix(code, "23"), // integrity constraint: not null, unique, check, foreign key
		code == "54000":               // program limit: an index row too big for a value
		return rowFault
	case code == "42P01", code == "3F000": // undefined table, undefined schema
		return noTable
	case code == "42703": // undefined column
		return noColumn
	}
	return transient
}

func mysqlFault(e *mysql.MySQLError) fault {
	switch e.Number {
	case 1048, 1062, 1169, // null in a NOT NULL column, duplicate entry, unique constraint
		1216, 1217, 1451, 1452, // foreign key
		1264, 1265, 1292, 1366, 1406, 1690, // out of range, truncated, incorrect value, too long
		1364,       // a NOT NULL column without a default left out
		3140,       // invalid JSON
		3819, 4025: // check constraint (MySQL, MariaDB)
		return rowFault
	case 1146, 1049: // no such table, no such database
		return noTable
	case 1054: // unknown column
		return noColumn
	}
	if s := string(e.SQLState[:2]); s == "22" || s == "23" {
		return rowFault
	}
	return transient
}

func sqliteFault(e *sqlite.Error) fault {
	switch e.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
		return rowFault
	case sqlite3.SQLITE_ERROR:
		// SQLite gives these only as text.
		switch msg := e.Error(); {
		case strings.Contains(msg, "no such table"):
			return noTable
		case strings.Contains(msg, "has no column named"), strings.Contains(msg, "no such column"):
			return noColumn
		}
	}
	return transient
}

// duplicateKey tells whether an insert failed on a row with its key there
// already.
func duplicateKey(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// duplicateColumn tells whether adding a column failed because it is there
// already: another process upgraded the table first.
func duplicateColumn(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "42701"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1060
	}
	var se *sqlite.Error
	return errors.As(err, &se) && strings.Contains(se.Error(), "duplicate column name")
}
