package sqlsource

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/record"
)

// kind is how a column's scanned values become record values, decided once
// per query from the column's database type.
type kind int

const (
	kindAuto    kind = iota // by Go type
	kindText                // text as a string
	kindDecimal             // exact: the digits as a string
	kindJSON                // JSON text decoded
	kindBytes               // binary as base64 text
	kindDate                // a date as 2006-01-02
	kindTime                // a timestamp as RFC 3339 UTC
	kindInt                 // an integer the driver sent as text
	kindFloat               // a float the driver sent as text
)

func kindOf(dbType string) kind {
	t := strings.ToUpper(dbType)
	switch {
	case t == "NUMERIC" || t == "DECIMAL" || strings.HasPrefix(t, "DECIMAL") || strings.HasPrefix(t, "NUMERIC"):
		return kindDecimal
	case t == "JSON" || t == "JSONB":
		return kindJSON
	case t == "BYTEA" || strings.Contains(t, "BLOB") || strings.Contains(t, "BINARY"):
		return kindBytes
	case t == "DATE":
		return kindDate
	case strings.Contains(t, "TIMESTAMP") || t == "DATETIME":
		return kindTime
	case strings.Contains(t, "CHAR") || strings.Contains(t, "TEXT") || t == "ENUM" || t == "SET" || t == "UUID":
		return kindText
	case strings.Contains(t, "INT"):
		return kindInt
	case t == "FLOAT" || t == "DOUBLE" || t == "REAL" || strings.HasPrefix(t, "FLOAT") || t == "DOUBLE PRECISION":
		return kindFloat
	}
	return kindAuto
}

// columnType is the type of a column's record values (see convert).
func columnType(dbType string, k kind) record.Type {
	switch k {
	case kindDecimal, kindBytes, kindDate, kindText:
		return record.Type{Kind: record.Text}
	case kindTime:
		return record.Type{Kind: record.Time}
	case kindInt:
		return record.Type{Kind: record.Int}
	case kindFloat:
		return record.Type{Kind: record.Float}
	case kindJSON:
		return record.Type{}
	}
	switch t := strings.ToUpper(dbType); {
	case t == "BOOL" || t == "BOOLEAN":
		return record.Type{Kind: record.Bool}
	}
	return record.Type{}
}

// convert maps one scanned value to a record value. The mapping is the same
// for every driver: integers int64, decimals exact strings, floats float64,
// booleans bool, text strings, timestamps RFC 3339 UTC strings, dates
// 2006-01-02, binary base64 strings, JSON decoded, NULL null.
func convert(v any, k kind) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint64:
		if x > 1<<63-1 {
			return strconv.FormatUint(x, 10), nil
		}
		return int64(x), nil
	case float32:
		if k == kindDecimal {
			return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
		}
		return float64(x), nil
	case float64:
		if k == kindDecimal {
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
		return x, nil
	case bool:
		return x, nil
	case time.Time:
		if k == kindDate {
			return x.Format(time.DateOnly), nil
		}
		return x.UTC().Format(time.RFC3339Nano), nil
	case []byte:
		if k == kindBytes {
			return base64.StdEncoding.EncodeToString(x), nil
		}
		return convertText(string(x), k)
	case string:
		return convertText(x, k)
	default:
		return fmt.Sprint(x), nil
	}
}

func convertText(s string, k kind) (any, error) {
	switch k {
	case kindJSON:
		v, err := record.DecodeJSON([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("JSON column: %w", err)
		}
		return v, nil
	case kindInt:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
	case kindFloat:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	case kindTime:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Format(time.RFC3339Nano), nil
			}
		}
	case kindBytes:
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	}
	return s, nil
}
