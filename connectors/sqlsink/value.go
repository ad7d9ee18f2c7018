package sqlsink

import (
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// bind converts a decoded value (or an expression's result) into what the
// dialect's driver binds as a parameter. Objects and lists become JSON text.
//
// PostgreSQL gets text for everything but bytes: the server then parses the
// text as the column's type, so 5 fits a text column, "2026-12-01" a date,
// and 1.5 is rejected by a bigint column instead of being truncated on the
// way, as pgx does when it encodes a float as an integer.
func bind(d sqldb.Dialect, v any) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string, []byte:
		return t, nil
	case map[string]any, []any:
		b, err := json.MarshalWithOption(t, json.DisableHTMLEscape())
		if err != nil {
			return nil, fmt.Errorf("encode %s as JSON: %w", expression.TypeName(v), err)
		}
		return string(b), nil
	case time.Time:
		if d == sqldb.MySQL {
			return t, nil // the driver writes DATETIME's layout; MariaDB rejects RFC 3339
		}
		return t.Format(time.RFC3339Nano), nil
	case bool:
		switch d {
		case sqldb.Postgres:
			return strconv.FormatBool(t), nil
		case sqldb.SQLite:
			if t {
				return int64(1), nil
			}
			return int64(0), nil
		}
		return t, nil
	case float64:
		return float(d, t, 64), nil
	case float32:
		return float(d, float64(t), 32), nil
	}
	if i, ok := expression.ExactInt(v); ok {
		if d == sqldb.Postgres {
			return strconv.FormatInt(i, 10), nil
		}
		return i, nil
	}
	if u, ok := v.(uint64); ok { // above math.MaxInt64: exact as text
		return strconv.FormatUint(u, 10), nil
	}
	if n, ok := v.(json.Number); ok { // a big integer from JSON: exact as text
		return n.String(), nil
	}
	return nil, fmt.Errorf("cannot write a %s value to a column", expression.TypeName(v))
}

func float(d sqldb.Dialect, f float64, bits int) any {
	if d == sqldb.Postgres {
		// The shortest text that reads back as the same float.
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	return f
}

// keyText is a bound key value as text, to recognise the same key within a
// batch: 7 and "7" are one row to the database, so they are one here too.
func keyText(v any) string {
	switch t := v.(type) {
	case nil:
		return "\x00null"
	case string:
		return t
	case []byte:
		return string(t)
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
