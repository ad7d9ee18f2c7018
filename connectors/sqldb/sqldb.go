// Package sqldb holds what the SQL source and sink share: the dialects
// (driver, identifier quoting, placeholders), identifier validation, opening
// a database with sqlx, and keeping credentials out of messages.
package sqldb

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/internal/redact"

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

// RedactDSN hides the secrets of every DSN form the drivers take: the
// password of a URL (postgres://u:pw@host/db, an '@' in pw included) or of
// the MySQL form (u:pw@tcp(host)/db), a key=value password (quoted, with
// doubled quotes or \ escapes), and password-like query parameters
// (?password=, SQLite's _auth_pass, an encryption key pragma).
func RedactDSN(dsn string) string {
	var b strings.Builder
	at := 0
	for _, sp := range secretSpans(dsn) {
		b.WriteString(dsn[at:sp[0]])
		b.WriteString(redact.Mark)
		at = sp[1]
	}
	b.WriteString(dsn[at:])
	return b.String()
}

// Scrub removes the DSN's secrets from a driver message, whole or in the
// pieces a driver that mis-parsed the DSN could show.
func Scrub(dsn, msg string) string {
	return redact.Secrets(msg, secrets(dsn)...)
}

// secrets lists the DSN's secrets as written and as a driver would decode
// them (percent-escapes, quotes, backslash escapes).
func secrets(dsn string) []string {
	var out []string
	for _, sp := range secretSpans(dsn) {
		raw := dsn[sp[0]:sp[1]]
		out = append(out, raw)
		if u, err := url.PathUnescape(raw); err == nil && u != raw {
			out = append(out, u)
		}
		if u := unquote(raw); u != raw {
			out = append(out, u)
		}
	}
	return out
}

// unquote decodes a key=value value: outer single quotes dropped, a
// doubled quote or a backslash escape made one character.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = v[1 : len(v)-1]
	}
	v = strings.ReplaceAll(v, "''", "'")
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

var (
	kvFormRE   = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*\s*=`)
	kvSecretRE = regexp.MustCompile(`(?i)(?:^|\s)(?:sslpassword|password|passwd|pwd)\s*=\s*`)
	kvNextRE   = regexp.MustCompile(`^\s+[A-Za-z_][A-Za-z0-9_]*\s*=`)
	querySecRE = regexp.MustCompile(`(?i)[?&](?:sslpassword|password|passwd|pwd|_auth_pass|_pragma_key)=([^&#]*)`)
	pragmaRE   = regexp.MustCompile(`(?i)_pragma=(?:re|hex|hexre)?key\(([^)]*)\)`)
	mysqlAtRE  = regexp.MustCompile(`^(?:[A-Za-z0-9_]*\(|/)`)
)

// secretSpans returns the byte ranges of the DSN's secrets, sorted and
// merged.
func secretSpans(dsn string) [][2]int {
	var spans [][2]int
	if kvFormRE.MatchString(dsn) {
		for _, m := range kvSecretRE.FindAllStringIndex(dsn, -1) {
			spans = append(spans, [2]int{m[1], kvValueEnd(dsn, m[1])})
		}
	} else if sp, ok := userinfoPassword(dsn); ok {
		spans = append(spans, sp)
	}
	for _, re := range []*regexp.Regexp{querySecRE, pragmaRE} {
		for _, m := range re.FindAllStringSubmatchIndex(dsn, -1) {
			spans = append(spans, [2]int{m[2], m[3]})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var out [][2]int
	for _, sp := range spans {
		if sp[1] <= sp[0] {
			continue
		}
		if n := len(out); n > 0 && sp[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// kvValueEnd finds where a key=value value starting at i ends: at white
// space outside quotes (single, or double, which libpq does not know but
// people write) that is followed by the next key=. A value quoted the SQL
// way (a doubled quote inside, which libpq reads as two quoted strings)
// still ends there, so none of it shows.
func kvValueEnd(dsn string, i int) int {
	var quote byte
	for ; i < len(dsn); i++ {
		switch c := dsn[i]; {
		case c == '\\':
			i++
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case c == quote:
			quote = 0
		case quote == 0 && kvNextRE.MatchString(dsn[i:]):
			return i
		}
	}
	return len(dsn)
}

// userinfoPassword finds the password of a URL or MySQL DSN: after the
// first ':' of the user part, up to the last '@' before the query (drivers
// differ on which '@' ends it; the widest reading hides the most). A DSN
// without "://" counts as MySQL's only when an address (tcp(...)) or a
// '/' follows the '@', so "file:a@b.db" keeps its name.
func userinfoPassword(dsn string) ([2]int, bool) {
	start := 0
	url := false
	if i := strings.Index(dsn, "://"); i >= 0 {
		start, url = i+3, true
	}
	pre := dsn[start:]
	if q := strings.IndexAny(pre, "?#"); q >= 0 {
		pre = pre[:q]
	}
	at := strings.LastIndexByte(pre, '@')
	if at < 0 || (!url && !mysqlAtRE.MatchString(pre[at+1:])) {
		return [2]int{}, false
	}
	colon := strings.IndexByte(pre[:at], ':')
	if colon < 0 {
		return [2]int{}, false
	}
	return [2]int{start + colon + 1, start + at}, true
}

// What a SQL stage does when, as it starts, its database does not answer
// or its table is missing (the `startup` key of the sql source and sink).
const (
	// StartupWait starts the stage anyway: it retries, not ready, until
	// the database answers (a database may start after the runner).
	StartupWait = "wait"
	// StartupFail stops the stage, and so the runner, at once.
	StartupFail = "fail"
)

// Reachable checks that db answers and, when table is set, that the table
// can be read; its error names the table but never the DSN's secrets.
func Reachable(ctx context.Context, db *sqlx.DB, d Dialect, dsn, table string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("database %s does not answer: %s", RedactDSN(dsn), Scrub(dsn, err.Error()))
	}
	if table == "" {
		return nil
	}
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+d.Quote(table)+" WHERE 1=0")
	if err != nil {
		return fmt.Errorf("table %s cannot be read: %s", table, Scrub(dsn, err.Error()))
	}
	return rows.Close()
}
