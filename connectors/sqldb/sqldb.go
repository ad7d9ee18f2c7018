// Package sqldb holds what the SQL source and sink share: the dialects
// (driver, identifier quoting, placeholders), identifier validation, opening
// a database with sqlx, and keeping credentials out of messages.
package sqldb

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jmoiron/sqlx"

	// The database/sql drivers register themselves when imported; this is
	// the one place that imports them.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Dialect is one database family.
type Dialect struct {
	Name   string // as written in pipeline files: postgres, mysql, sqlite
	driver string // the database/sql driver name
}

// The supported dialects.
var (
	Postgres = Dialect{Name: "postgres", driver: "pgx"}
	MySQL    = Dialect{Name: "mysql", driver: "mysql"}
	SQLite   = Dialect{Name: "sqlite", driver: "sqlite"}
)

// Names lists the dialect names for messages.
const Names = "postgres, mysql or sqlite"

// Lookup finds a dialect by its pipeline-file name.
func Lookup(name string) (Dialect, error) {
	switch name {
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	case "sqlite", "sqlite3":
		return SQLite, nil
	}
	return Dialect{}, fmt.Errorf("unknown driver %q: want %s", name, Names)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidIdent reports whether s is a plain SQL identifier: letters, digits
// and underscores, not starting with a digit, at most 63 characters. Names
// from pipeline files must pass it before they are quoted into SQL.
func ValidIdent(s string) bool { return identRE.MatchString(s) }

// CheckIdent returns an error naming what is wrong with an identifier.
func CheckIdent(what, s string) error {
	if !ValidIdent(s) {
		return fmt.Errorf("invalid %s %q: use letters, digits and underscores, starting with a letter or underscore (at most 63)", what, s)
	}
	return nil
}

// CheckTable accepts "table" or "schema.table".
func CheckTable(s string) error {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return fmt.Errorf("invalid table %q: write table or schema.table", s)
	}
	for _, p := range parts {
		if !ValidIdent(p) {
			return fmt.Errorf("invalid table %q: use letters, digits and underscores in table and schema names", s)
		}
	}
	return nil
}

// Quote quotes a validated identifier, or a schema-qualified table name.
func (d Dialect) Quote(ident string) string {
	q := `"`
	if d == MySQL {
		q = "`"
	}
	parts := strings.Split(ident, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// Placeholder is the bind parameter for the n-th value (from 1).
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// Open connects lazily (no network until the first query) with sqlx.
// SQLite gets WAL and a busy timeout, and a single connection: one writer
// is what SQLite handles best.
func Open(d Dialect, dsn string) (*sqlx.DB, error) {
	if d == SQLite {
		dsn = sqliteDSN(dsn)
	}
	db, err := sqlx.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database %s: %s", d.Name, RedactDSN(dsn), Scrub(dsn, err.Error()))
	}
	if d == SQLite {
		db.SetMaxOpenConns(1)
	}
	return db, nil
}

func sqliteDSN(dsn string) string {
	if strings.Contains(dsn, "_pragma=") {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
}

var (
	userinfoRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@]*@`)
	mysqlRE    = regexp.MustCompile(`^([^:/@]*):[^@]*@`)
	kvRE       = regexp.MustCompile(`(?i)(password|passwd|pwd)\s*=\s*('[^']*'|[^\s&]+)`)
	queryRE    = regexp.MustCompile(`(?i)([?&](password|passwd|pwd)=)[^&]*`)
)

// RedactDSN hides the password in the URL, MySQL and key=value DSN forms.
func RedactDSN(dsn string) string {
	s := userinfoRE.ReplaceAllString(dsn, "$1:[redacted]@")
	if s == dsn && !strings.Contains(dsn, "://") {
		s = mysqlRE.ReplaceAllString(dsn, "$1:[redacted]@")
	}
	s = kvRE.ReplaceAllString(s, "$1=[redacted]")
	return queryRE.ReplaceAllString(s, "${1}[redacted]")
}

// Scrub removes the DSN's password from a driver message, should the
// driver repeat it.
func Scrub(dsn, msg string) string {
	if pw := password(dsn); len(pw) >= 3 {
		msg = strings.ReplaceAll(msg, pw, "[redacted]")
	}
	return msg
}

func password(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	if m := mysqlRE.FindString(dsn); m != "" && !strings.Contains(dsn, "://") {
		if _, pw, ok := strings.Cut(strings.TrimSuffix(m, "@"), ":"); ok {
			return pw
		}
	}
	if m := kvRE.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}
