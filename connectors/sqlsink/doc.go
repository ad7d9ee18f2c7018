// Package sqlsink is the `sql` sink: records of a topic into a table of
// PostgreSQL, MySQL/MariaDB or SQLite, like Kafka Connect's JDBC sink.
//
//	sinks:
//	  totals-db:
//	    from: store-totals
//	    sql:
//	      driver: postgres
//	      dsn: ${PG_DSN}
//	      table: store_totals
//	      mode: upsert
//	      key: [store]
//	      columns: {store: store, total_cents: round(total * 100)}
//
// # Rows
//
// Without columns, a record's value must be an object and each top-level
// field is a column of the same name (names must be plain identifiers).
// With columns, each column's expression is evaluated against the record,
// as a step's would be; a missing field is null. Values are always bound as
// parameters, never written into the SQL text: objects and lists as JSON
// text, times in RFC 3339 (DATETIME for MySQL), bytes as bytes. PostgreSQL
// receives every other value as text and parses it as the column's type,
// so text fits any column whose input accepts it (numeric, date,
// timestamptz, jsonb, uuid, bytea's \x hex form; no base64 decoding) and a
// value the column cannot take (1.5 for a bigint) is rejected rather than
// converted on the way.
//
// # Keys and batches
//
// key names the primary-key columns, taken from the value (key_from: value)
// or from the Kafka record key (key_from: record_key: the key itself for one
// column, or a JSON object key with a field per column; it wins over a
// value field of the same name). In upsert and update mode a batch writes
// each key once, with the effect of applying its records in order: a later
// record's fields win, and a tombstone (with delete_on_tombstone) deletes
// the row before any later record of the key writes it again. Insert mode
// writes every record, in order. Without delete_on_tombstone, tombstones
// are skipped. Each Write is one transaction of multi-row statements, at
// most batch_size rows each and under the dialect's parameter limit.
//
// # Errors
//
// A record that cannot become a row (not an object, a null key, an
// expression error) and a record the database rejects for good (SQLSTATE
// classes 22 and 23 and 54000 in PostgreSQL; MySQL's constraint, range and
// conversion errors; SQLite constraint and type mismatch) come back as an
// *connectors.RecordError naming it: the batch is searched by halves under
// savepoints to find the first record that fails alone. The engine applies
// on_error to it and writes the rest again. Everything else is transient
// (the engine retries with backoff and commits nothing meanwhile):
// connections refused, reset or broken by a restart, serialization
// failures, deadlocks, SQLite busy, timeouts. A missing table is transient
// too, with a message naming auto_create, so creating the table lets the
// stage go on; an unknown column is a record's fault when the columns are
// the value's fields, and transient (a config or schema problem) when they
// are configured.
//
// # auto_create
//
// With auto_create, the first batch that writes rows runs CREATE TABLE IF
// NOT EXISTS with a column per field seen in it, typed from the values:
// integers BIGINT, other numbers DOUBLE PRECISION (MySQL DOUBLE, SQLite
// REAL), booleans BOOLEAN, strings TEXT, times TIMESTAMPTZ (DATETIME(6),
// TEXT), bytes BYTEA (LONGBLOB, BLOB), objects and lists JSONB (JSON,
// TEXT); only nulls give TEXT. Key columns are NOT NULL and the primary key
// (VARCHAR(255) for MySQL text keys). Fields that appear later are not
// added: their records fail as unknown columns.
//
// # Exactly-once
//
// The sink is an connectors.OffsetSink: an exactly-once stage has it store the
// consumer offsets in the same transaction as the rows, like the Kafka
// Connect JDBC sinks that keep offsets with the data, so that after a crash
// the stage reads on from where the database says and no batch is written
// twice or lost. The offsets go to offsets_table (conveyor_offsets by
// default; table or schema.table, not the rows' table), created with
// CREATE TABLE IF NOT EXISTS by the first batch that stores offsets:
//
//	consumer_group TEXT, topic TEXT, partition INTEGER, next_offset BIGINT,
//	PRIMARY KEY (consumer_group, topic, partition)
//
// (VARCHAR(255) for MySQL's text columns.) Each batch moves a partition's
// next_offset from the value the stage last read to the new one, and only
// from that value: if another process moved it meanwhile (a consumer that
// took over the partition), the whole transaction is rolled back and the
// error wraps connectors.ErrOffsetConflict. A rejected record leaves both rows
// and offsets untouched, as does any other failure. Several pipelines may
// share one offsets table; their consumer groups keep them apart.
package sqlsink
