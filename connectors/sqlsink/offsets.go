package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/sqldb"
	"github.com/conveyor-dev/conveyor/record"
)

// The offsets table's columns; the first three are its primary key. The
// last two say which topic the offsets were read from (connectors.TopicID);
// tables from before they existed get them added, NULL in old rows.
const (
	colGroup     = "consumer_group"
	colTopic     = "topic"
	colPartition = "partition" // reserved in MySQL: always quoted
	colNext      = "next_offset"
	colCluster   = "cluster_id"
	colTopicID   = "topic_id"
)

var (
	offsetKey = []string{colGroup, colTopic, colPartition}
	identity  = []string{colCluster, colTopicID}
)

// offsetSQL is the SQL text of the offsets table, written once per sink.
type offsetSQL struct {
	create string // CREATE TABLE IF NOT EXISTS
	// upgrade adds a column of identity to a table from an older version.
	upgrade map[string]string
	probe   string // selects the identity columns (plain names, see selectOffsets): fails on an old table
	insert  string // a first position: group, topic, partition, next, cluster, topic id
	update  string // next, cluster, topic id, then group, topic, partition, the expected next
	one     string // one partition's next: group, topic, partition
	topic   string // partition, next, cluster and topic id of a topic's partitions: group, topic
	old     string // partition and next of a topic's partitions, in a table without identities
	reset   string // deletes a topic's positions: group, topic
}

func newOffsetSQL(d sqldb.Dialect, table string) offsetSQL {
	st := newStatements(d, table, 1)
	o := offsetSQL{
		create:  st.createOffsets(),
		upgrade: map[string]string{},
		probe:   "SELECT " + strings.Join(identity, ", ") + " FROM " + st.table + " WHERE 1 = 0",
		insert:  st.insertOffset(),
		update:  st.updateOffset(),
		one:     st.selectOffsets([]string{colNext}, offsetKey),
		topic:   st.selectOffsets([]string{colPartition, colNext}, offsetKey[:2], identity...),
		old:     st.selectOffsets([]string{colPartition, colNext}, offsetKey[:2]),
		reset:   st.deleteOffsets(),
	}
	for _, c := range identity {
		o.upgrade[c] = "ALTER TABLE " + st.table + " ADD COLUMN " + d.Quote(c) + " " + columnType(d, kindText, false)
	}
	return o
}

// createOffsets is the offsets table. MySQL cannot index TEXT, hence
// columnType's VARCHAR(255) for the text key columns there.
func (st statements) createOffsets() string {
	text := columnType(st.d, kindText, true)
	b := st.text()
	b.WriteString("CREATE TABLE IF NOT EXISTS " + st.table + " (")
	b.WriteString(st.d.Quote(colGroup) + " " + text + " NOT NULL, ")
	b.WriteString(st.d.Quote(colTopic) + " " + text + " NOT NULL, ")
	b.WriteString(st.d.Quote(colPartition) + " INTEGER NOT NULL, ")
	b.WriteString(st.d.Quote(colNext) + " " + columnType(st.d, kindInt, false) + " NOT NULL, ")
	for _, c := range identity {
		b.WriteString(st.d.Quote(c) + " " + columnType(st.d, kindText, false) + ", ")
	}
	b.WriteString("PRIMARY KEY (")
	b.names(offsetKey)
	b.WriteString("))")
	return b.String()
}

// deleteOffsets removes a group's positions of one topic.
func (st statements) deleteOffsets() string {
	b := st.text()
	b.WriteString("DELETE FROM " + st.table + " WHERE ")
	st.where(b, offsetKey[:2])
	return b.String()
}

// insertOffset stores a partition's first position. Where a row is there
// already, PostgreSQL and SQLite insert nothing (0 rows) and MySQL fails
// with a duplicate key: either way another process stored it first. A
// PostgreSQL error would abort the transaction, before the conflict's
// message could read what is stored; MySQL's ON DUPLICATE KEY cannot
// tell "already there" apart under clientFoundRows, hence the plain insert.
func (st statements) insertOffset() string {
	b := st.text()
	b.WriteString("INSERT INTO " + st.table + " (")
	b.names(slices.Concat(offsetKey, []string{colNext}, identity))
	b.WriteString(") VALUES ")
	b.tuples(1, len(offsetKey)+1+len(identity))
	if st.d != sqldb.MySQL {
		b.WriteString(" ON CONFLICT (")
		b.names(offsetKey)
		b.WriteString(") DO NOTHING")
	}
	return b.String()
}

// updateOffset moves a position that is where the stage last saw it, and
// stores the identity of the topic it belongs to.
func (st statements) updateOffset() string {
	b := st.text()
	b.WriteString("UPDATE " + st.table + " SET ")
	for i, c := range append([]string{colNext}, identity...) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(st.d.Quote(c) + " = ")
		b.param()
	}
	b.WriteString(" WHERE ")
	st.where(b, append(slices.Clone(offsetKey), colNext))
	return b.String()
}

// selectOffsets reads cols and plain of the rows matching the key columns
// where. The plain names are not quoted: SQLite takes a double-quoted name
// that is no column for a string, so a table without them would answer
// with their names instead of failing.
func (st statements) selectOffsets(cols, where []string, plain ...string) string {
	b := st.text()
	b.WriteString("SELECT ")
	b.names(cols)
	for _, c := range plain {
		b.WriteString(", " + c)
	}
	b.WriteString(" FROM " + st.table + " WHERE ")
	st.where(b, where)
	return b.String()
}

// WriteWithOffsets writes batch as Write does and moves the stored
// positions in the same transaction: both or neither. A position that is
// not at its Prev (another process moved it) fails the whole transaction
// with an error wrapping connectors.ErrOffsetConflict. A batch without rows to
// write (every record a skipped tombstone) still moves the positions.
func (s *Sink) WriteWithOffsets(ctx context.Context, batch []*record.Record, offsets []connectors.Offset) error {
	if err := checkOffsets(offsets); err != nil {
		return err
	}
	return s.write(ctx, batch, offsets)
}

// checkOffsets refuses positions no stage can mean, before they are stored
// for good.
func checkOffsets(offsets []connectors.Offset) error {
	for _, o := range offsets {
		if o.Prev < -1 || o.Next < 0 {
			return fmt.Errorf("sql sink: invalid offset move for group %q, %s: from %d to %d", o.Group, partName(o.Partition), o.Prev, o.Next)
		}
	}
	return nil
}

// StoredOffsets returns the position stored for each of parts that has
// one, with the identity of the topic it was stored for (none for rows an
// older version stored). No offsets table yet means nothing is stored: it
// is neither created nor upgraded here, so reading needs no more rights
// than SELECT, and StoredOffsets shares no state with a Write that may be
// running.
func (s *Sink) StoredOffsets(ctx context.Context, group string, parts []connectors.Partition) (map[connectors.Partition]connectors.StoredOffset, error) {
	db := s.db
	if db == nil {
		return nil, errNotOpen
	}
	out := make(map[connectors.Partition]connectors.StoredOffset, len(parts))
	var topics []string
	for _, p := range parts {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	for _, topic := range topics {
		stored, err := s.topicOffsets(ctx, db, group, topic)
		if err != nil && classify(err) == noTable {
			return out, nil // nothing was ever stored
		}
		if err != nil {
			return nil, s.dbError(fmt.Sprintf("read the offsets of group %q, topic %q from %s", group, topic, s.cfg.offsetsTable), err)
		}
		for _, p := range parts {
			if o, ok := stored[p.Partition]; ok && p.Topic == topic {
				out[p] = o
			}
		}
	}
	return out, nil
}

// topicOffsets reads the stored positions of one topic's partitions, from
// a table of an older version too.
func (s *Sink) topicOffsets(ctx context.Context, db *sqlx.DB, group, topic string) (map[int32]connectors.StoredOffset, error) {
	rows, err := db.QueryContext(ctx, s.osql.topic, group, topic)
	old := err != nil && classify(err) == noColumn
	if old {
		rows, err = db.QueryContext(ctx, s.osql.old, group, topic)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int32]connectors.StoredOffset{}
	for rows.Next() {
		var p int32
		var o connectors.StoredOffset
		var cluster, id sql.NullString
		dest := []any{&p, &o.Next, &cluster, &id}
		if old {
			dest = dest[:2]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		o.ID = connectors.TopicID{Cluster: cluster.String, Topic: id.String}
		out[p] = o
	}
	return out, rows.Err()
}

// ResetOffsets deletes the positions group stored for topics, so that
// the stage starts those topics afresh; `runner reset` calls it.
func (s *Sink) ResetOffsets(ctx context.Context, group string, topics []string) (int64, error) {
	if s.db == nil {
		return 0, errNotOpen
	}
	var n int64
	for _, topic := range topics {
		res, err := s.db.ExecContext(ctx, s.osql.reset, group, topic)
		if err != nil && classify(err) == noTable {
			return 0, nil // nothing was ever stored
		}
		if err != nil {
			return n, s.dbError(fmt.Sprintf("delete the offsets of group %q, topic %q from %s", group, topic, s.cfg.offsetsTable), err)
		}
		deleted, err := res.RowsAffected()
		if err != nil {
			return n, s.dbError("count the deleted offsets", err)
		}
		n += deleted
	}
	return n, nil
}

// OffsetStore names the offsets table, for messages.
func (s *Sink) OffsetStore() string { return "table " + s.cfg.offsetsTable }

// ensureOffsetsTable creates the offsets table before the first batch that
// moves positions, and adds the identity columns to one an older version
// created; not in Open, so a sink that never stores offsets never adds a
// table to the database.
func (s *Sink) ensureOffsetsTable(ctx context.Context, offsets []connectors.Offset) error {
	if len(offsets) == 0 || s.offsetsReady {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.osql.create); err != nil {
		return s.dbError("create the offsets table "+s.cfg.offsetsTable, err)
	}
	if err := s.upgradeOffsetsTable(ctx); err != nil {
		return err
	}
	s.offsetsReady = true
	return nil
}

// upgradeOffsetsTable adds the columns of the topics' identities to an
// offsets table created before they existed. Its rows keep NULL there
// until the stage binds them to the topic it reads (connectors.TopicID).
func (s *Sink) upgradeOffsetsTable(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, s.osql.probe)
	if err == nil || classify(err) != noColumn {
		if err != nil {
			return s.dbError("read the offsets table "+s.cfg.offsetsTable, err)
		}
		return nil
	}
	for _, c := range identity {
		if _, err := s.db.ExecContext(ctx, s.osql.upgrade[c]); err != nil && !duplicateColumn(err) {
			return s.dbError(fmt.Sprintf("add column %s to the offsets table %s", c, s.cfg.offsetsTable), err)
		}
	}
	s.log.Info("offsets table upgraded: added the columns that bind stored offsets to their topic",
		"offsets_table", s.cfg.offsetsTable, "columns", strings.Join(identity, ", "))
	return nil
}

// offsetsError is a failure to store the offsets, returned as it is: the
// rows' error handling must not take it for a record's fault or a missing
// data table.
type offsetsError struct{ err error }

func (e *offsetsError) Error() string { return e.err.Error() }
func (e *offsetsError) Unwrap() error { return e.err }

// storeOffsets moves each position in tx, or fails on the first that has
// moved meanwhile (then the caller rolls tx back).
func (s *Sink) storeOffsets(ctx context.Context, tx *sql.Tx, offsets []connectors.Offset) error {
	for _, o := range offsets {
		if err := s.moveOffset(ctx, tx, o); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) moveOffset(ctx context.Context, tx *sql.Tx, o connectors.Offset) error {
	var res sql.Result
	var err error
	cluster, id := nullText(o.ID.Cluster), nullText(o.ID.Topic)
	if o.Prev < 0 {
		res, err = tx.ExecContext(ctx, s.osql.insert, o.Group, o.Topic, o.Partition.Partition, o.Next, cluster, id)
	} else {
		res, err = tx.ExecContext(ctx, s.osql.update, o.Next, cluster, id, o.Group, o.Topic, o.Partition.Partition, o.Prev)
	}
	var n int64
	switch {
	case err == nil:
		n, err = res.RowsAffected()
	case o.Prev < 0 && duplicateKey(err):
		err = nil // MySQL: the row is there already; n stays 0
	}
	if err != nil {
		if classify(err) == noTable {
			s.offsetsReady = false // dropped while running: created again on the next try
		}
		return s.dbError(fmt.Sprintf("store the offset of group %q, %s in %s", o.Group, partName(o.Partition), s.cfg.offsetsTable), err)
	}
	if n > 0 {
		return nil
	}
	return s.checkUnmoved(ctx, tx, o)
}

// checkUnmoved runs when storing a position changed no row: either another
// process moved it (a conflict), or, for MySQL, which counts a row set to
// the value it has as unchanged, the position stays where it was.
func (s *Sink) checkUnmoved(ctx context.Context, tx *sql.Tx, o connectors.Offset) error {
	found := int64(-1)
	err := tx.QueryRowContext(ctx, s.osql.one, o.Group, o.Topic, o.Partition.Partition).Scan(&found)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.dbError(fmt.Sprintf("read the offset of group %q, %s from %s", o.Group, partName(o.Partition), s.cfg.offsetsTable), err)
	}
	if found == o.Prev && o.Next == o.Prev && o.Prev >= 0 {
		return nil
	}
	return fmt.Errorf("sql sink: offset of group %q, %s in %s: expected %s, found %s: %w",
		o.Group, partName(o.Partition), s.cfg.offsetsTable, offsetText(o.Prev), offsetText(found), connectors.ErrOffsetConflict)
}

// nullText stores an unknown identity as NULL.
func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func partName(p connectors.Partition) string {
	return fmt.Sprintf("topic %q partition %d", p.Topic, p.Partition)
}

// offsetText is a stored position for messages; -1 is none.
func offsetText(n int64) string {
	if n < 0 {
		return "none stored"
	}
	return fmt.Sprint(n)
}
