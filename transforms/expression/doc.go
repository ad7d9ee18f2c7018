// Package expression compiles the expr-lang expressions of a pipeline file
// and evaluates them against records.
//
// An expression is compiled once, when the pipeline loads (Compile), into a
// Program that any number of goroutines share. Each goroutine evaluates with
// its own Machine and Env:
//
//	m := opts.NewMachine()   // once per goroutine
//	var env expression.Env   // once per goroutine
//	env.Reset(rec)           // once per record
//	out, err := m.Run(p, &env)
//
// # Names
//
// An expression sees, by bare name:
//
//   - the record's metadata under reserved names: _key (string, or null for
//     a null key), _value (the whole decoded value), _headers (object of
//     header name to string value; the last duplicate wins, a missing header
//     is null), _topic (string), _partition (int), _offset (int) and
//     _timestamp (time);
//   - the fields of an object value: qty * unit_price. A missing field is
//     null, so use a?.b for a possibly missing object and x ?? default for a
//     default;
//   - the pipeline's vars, such as a price list: prices[donut].
//
// Metadata names win over value fields, which win over vars: the names above
// are reserved, and a value field called _key is hidden from expressions that
// mention _key. A non-object value (a string, a list, a tombstone) has no
// fields; a tombstone's _value is null. $env is not available; a field whose
// name is not an identifier is _value["odd name"].
//
// _headers holds strings in a map[string]any rather than a
// map[string]string so that a missing header is null, like a missing field,
// and _headers.trace ?? "none" works.
//
// # Compile-time checks
//
// Compile reports, with the file position: syntax errors; calls to unknown
// functions (expr itself would accept them and fail on every record); wrong
// argument counts and literal argument types of built-ins; misuse of the typed
// metadata (_topic + 1, _timestamp.Foo()); and, for Kind Bool, a result whose
// type is known not to be bool (1 + 2, upper(donut), uuid()). Without a
// schema, field types are only known per record, so qty + "a" or a filter
// that is a bare string field fails at run time. At run time a Bool
// program's null result counts as false and any other non-bool is an error.
//
// CompileTyped compiles for values of a known type (a topic's schema): then
// a name that is no field, metadata or var, a field a nested object lacks
// and a type mismatch (order_id > 5 on a string) are compile errors, with
// the closest field's name; Program.Type is the result's type, for the
// steps that follow. The program still runs on the plain variable map.
//
// # Functions
//
// Besides expr's own (len, upper, lower, trim, split, now, date, duration,
// round, floor, ceil, abs, max, min, toJSON, fromJSON, keys, values, ...),
// every expression may call the functions below; Functions returns the same
// table for generated docs. Numeric arguments may be any Go number type
// (JSON numbers arrive as int64 or float64). "null gives null" means a null
// argument makes the result null rather than an error.
//
//	Function                   Result  Example
//	uuid()                     string  uuid()
//	    A random version 4 UUID from the machine's generator.
//	pick(list)                 any     pick(["glazed", "maple"])
//	    A random element; null for an empty list; error for null or a non-list.
//	int_between(a, b)          int     int_between(1, 6)
//	    A random integer in [a, b], both ends included.
//	float_between(a, b)        float   float_between(0.5, 2)
//	    A random number in [a, b).
//	coalesce(a, b, ...)        any     coalesce(nickname, name, "anonymous")
//	    The first argument that is not null, or null.
//	round_to(x, places)        number  round_to(2.675, 2) == 2.68
//	    Decimal rounding, half away from zero; ints stay ints; null gives null.
//	sha256(s)                  string  sha256("abc")
//	    Hex SHA-256 of a string, bytes, number or bool; error for null.
//	md5(s)                     string  md5("abc")
//	    Hex MD5 (not for security); same inputs as sha256.
//	hash(s)                    int     hash(user_id) % 16
//	    FNV-1a 64-bit, sign bit cleared, for bucketing; same inputs as sha256.
//	parse_time(s [, layout])   time    parse_time("2026-12-01T10:00:00Z")
//	    Go layout or a name (DateOnly, DateTime, RFC1123, ...); default RFC 3339.
//	format_time(t [, layout])  string  format_time(_timestamp, "2006-01-02")
//	    Formats in UTC; default RFC 3339 (fractional seconds when present).
//	unix_ms(t)                 int     unix_ms(_timestamp)
//	    Milliseconds since the Unix epoch.
//	from_unix_ms(n)            time    from_unix_ms(1700000000000)
//	    The UTC time n milliseconds after the epoch.
//	to_int(x)                  int     to_int("42")
//	    Numbers truncate toward zero, numeric strings parse; else an error.
//	to_float(x)                float   to_float("2.5")
//	    Numbers and numeric strings; else an error.
//	to_string(x)               string  to_string(3.5)
//	    Numbers as JSON writes them, times RFC 3339 UTC, lists/objects as JSON.
//
// The random functions draw from the evaluating Machine's generator, seeded
// from Options.Rand, so a single-goroutine generator with a fixed seed
// produces the same records on every run. The time and conversion functions
// pass null through; the hash functions and random functions reject it.
package expression
