package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/record"
)

// opener opens a sink on one database from the YAML body of its sql block
// without driver and dsn: every sink a test opens sees the same database,
// as two processes sharing it would.
type opener func(t *testing.T, body string) *Sink

// offsetsDB gives each test its database: a new file for SQLite, the shared
// test database for servers.
type offsetsDB func(t *testing.T) opener

// testOffsets runs the exactly-once scenarios on one dialect.
func testOffsets(t *testing.T, db offsetsDB) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, opener)
	}{
		{"round trip", offsetsRoundTrip},
		{"conflict changes nothing", offsetsConflict},
		{"record fault stores nothing", offsetsRecordFault},
		{"offsets without rows", offsetsWithoutRows},
		{"groups apart", offsetsGroupsApart},
		{"offsets table dropped", offsetsTableDropped},
		{"topic identities", offsetsIdentity},
		{"table of an older version", offsetsOldTable},
		{"reset", offsetsReset},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, db(t)) })
	}
}

// eoSink opens a sink writing rows to name and offsets to name_offsets,
// both dropped first so reruns on a shared server start clean; ddl, when
// set, creates the rows' table.
func eoSink(t *testing.T, open opener, name, ddl, body string) *Sink {
	t.Helper()
	s := open(t, "table: "+name+"\noffsets_table: "+name+"_offsets\n"+strings.TrimLeft(body, "\n"))
	run(t, s, "DROP TABLE IF EXISTS "+name+"_offsets")
	run(t, s, "DROP TABLE IF EXISTS "+name)
	if ddl != "" {
		run(t, s, ddl)
	}
	return s
}

func itemsDDL(name string) string {
	return "CREATE TABLE " + name + " (id BIGINT PRIMARY KEY, v BIGINT CHECK (v >= 0))"
}

func off(group, topic string, p int32, prev, next int64) connectors.Offset {
	return connectors.Offset{Group: group, Partition: connectors.Partition{Topic: topic, Partition: p}, Prev: prev, Next: next}
}

// offID is off with the identity of the topic read.
func offID(group, topic string, p int32, prev, next int64, cluster, id string) connectors.Offset {
	o := off(group, topic, p, prev, next)
	o.ID = connectors.TopicID{Cluster: cluster, Topic: id}
	return o
}

func part(topic string, p int32) connectors.Partition {
	return connectors.Partition{Topic: topic, Partition: p}
}

func mustWriteOffsets(t *testing.T, s *Sink, batch []*record.Record, offsets ...connectors.Offset) {
	t.Helper()
	if err := s.WriteWithOffsets(context.Background(), batch, offsets); err != nil {
		t.Fatalf("WriteWithOffsets: %v", err)
	}
}

// wantStored checks StoredOffsets; want is "topic/partition=next ...".
func wantStored(t *testing.T, s *Sink, group string, parts []connectors.Partition, want string) {
	t.Helper()
	got, err := s.StoredOffsets(context.Background(), group, parts)
	if err != nil {
		t.Fatalf("StoredOffsets(%q): %v", group, err)
	}
	var b []string
	for _, p := range parts {
		if o, ok := got[p]; ok {
			s := fmt.Sprintf("%s/%d=%d", p.Topic, p.Partition, o.Next)
			if !o.ID.IsZero() {
				s += "(" + o.ID.Cluster + "/" + o.ID.Topic + ")"
			}
			b = append(b, s)
		}
	}
	if len(b) != len(got) {
		t.Errorf("StoredOffsets(%q) returned partitions not asked for: %v", group, got)
	}
	if s := strings.Join(b, " "); s != want {
		t.Errorf("StoredOffsets(%q): got %q, want %q", group, s, want)
	}
}

func offsetsRoundTrip(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_trip", "", `
key: [id]
auto_create: true`)
	parts := []connectors.Partition{part("t", 0), part("t", 1), part("u", 0)}
	wantStored(t, s, "g", parts, "") // no offsets table yet: nothing stored

	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 10}`, `{"id": 2, "v": 20}`), off("g", "t", 0, -1, 2), off("g", "t", 1, -1, 5))
	wantStored(t, s, "g", parts, "t/0=2 t/1=5")
	mustWriteOffsets(t, s, recs(t, `{"id": 3, "v": 30}`, `{"id": 1, "v": 11}`), off("g", "t", 0, 2, 4), off("g", "u", 0, -1, 1))
	wantStored(t, s, "g", parts, "t/0=4 t/1=5 u/0=1")
	// A position that stays where it is: MySQL counts the row unchanged.
	mustWriteOffsets(t, s, nil, off("g", "t", 1, 5, 5))
	wantStored(t, s, "g", parts, "t/0=4 t/1=5 u/0=1")

	wantRows(t, s, "SELECT id, v FROM eo_trip ORDER BY id", "1|11\n2|20\n3|30")
	wantRows(t, s, "SELECT * FROM eo_trip_offsets ORDER BY 1, 2, 3", "g|t|0|4|NULL|NULL\ng|t|1|5|NULL|NULL\ng|u|0|1|NULL|NULL")
	// Plain writes still work beside offsets, and store none.
	writeAll(t, s, recs(t, `{"id": 4, "v": 40}`))
	wantRows(t, s, "SELECT count(*) FROM eo_trip_offsets", "3")
}

func offsetsConflict(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_conflict", itemsDDL("eo_conflict"), `key: [id]`)
	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 1}`), off("g", "t", 0, -1, 1), off("g", "t", 1, -1, 7))

	// Another process took partition 0 over and moved it on.
	other := open(t, "table: eo_conflict\noffsets_table: eo_conflict_offsets\nkey: [id]")
	mustWriteOffsets(t, other, recs(t, `{"id": 2, "v": 2}`), off("g", "t", 0, 1, 3))

	const rows, offsets = "1|1\n2|2", "g|t|0|3|NULL|NULL\ng|t|1|7|NULL|NULL"
	for _, c := range []struct {
		name    string
		offsets []connectors.Offset
		want    string
	}{
		{"stale position", []connectors.Offset{off("g", "t", 0, 1, 2)}, `group "g", topic "t" partition 0 in eo_conflict_offsets: expected 1, found 3`},
		{"after a good one", []connectors.Offset{off("g", "t", 1, 7, 8), off("g", "t", 0, 1, 2)}, "expected 1, found 3"},
		{"first position twice", []connectors.Offset{off("g", "t", 0, -1, 2)}, "expected none stored, found 3"},
		{"position never stored", []connectors.Offset{off("g", "t", 2, 4, 5)}, "expected 4, found none stored"},
	} {
		err := s.WriteWithOffsets(context.Background(), recs(t, `{"id": 1, "v": 100}`, `{"id": 9, "v": 9}`), c.offsets)
		if !errors.Is(err, connectors.ErrOffsetConflict) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an offset conflict with %q, got %v", c.name, c.want, err)
		}
		var re *connectors.RecordError
		if errors.As(err, &re) {
			t.Errorf("%s: a conflict is no record's fault: %v", c.name, err)
		}
		wantRows(t, s, "SELECT id, v FROM eo_conflict ORDER BY id", rows)
		wantRows(t, s, "SELECT * FROM eo_conflict_offsets ORDER BY 1, 2, 3", offsets)
	}
	// Reading the positions again, the stage goes on from there.
	wantStored(t, s, "g", []connectors.Partition{part("t", 0)}, "t/0=3")
	mustWriteOffsets(t, s, recs(t, `{"id": 3, "v": 3}`), off("g", "t", 0, 3, 4))
	wantRows(t, s, "SELECT * FROM eo_conflict_offsets ORDER BY 1, 2, 3", "g|t|0|4|NULL|NULL\ng|t|1|7|NULL|NULL")
}

func offsetsRecordFault(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_fault", itemsDDL("eo_fault"), `
key: [id]
batch_size: 2`) // several statements, so the search has halves to try
	offsets := []connectors.Offset{off("g", "t", 0, -1, 6)}
	batch := recs(t, `{"id": 1, "v": 1}`, `{"id": 2, "v": 2}`, `{"id": 3, "v": -3}`, `[1]`, `{"id": 5, "v": 5}`, `{"id": 6, "v": -6}`)
	var rejected []int
	for range len(batch) {
		err := s.WriteWithOffsets(context.Background(), batch, offsets)
		if err == nil {
			break
		}
		var re *connectors.RecordError
		if !errors.As(err, &re) {
			t.Fatalf("want a RecordError, got %v", err)
		}
		rejected = append(rejected, re.Index)
		// Nothing of a failed call is stored: neither rows nor offsets.
		wantRows(t, s, "SELECT count(*) FROM eo_fault", "0")
		wantStored(t, s, "g", []connectors.Partition{part("t", 0)}, "")
		batch = append(batch[:re.Index:re.Index], batch[re.Index+1:]...)
	}
	// Indexes in the batch as it shrinks: [1] first, found before the
	// database is asked, then -3 and -6 by the database.
	if got := fmt.Sprint(rejected); got != "[3 2 3]" {
		t.Errorf("rejected %s, want [3 2 3]", got)
	}
	wantRows(t, s, "SELECT id, v FROM eo_fault ORDER BY id", "1|1\n2|2\n5|5")
	wantStored(t, s, "g", []connectors.Partition{part("t", 0)}, "t/0=6")
}

func offsetsWithoutRows(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_norows", itemsDDL("eo_norows"), `key: [id]`)
	// Tombstones are skipped without delete_on_tombstone: no row to write.
	mustWriteOffsets(t, s, recs(t, "", ""), off("g", "t", 0, -1, 2))
	mustWriteOffsets(t, s, nil, off("g", "t", 0, 2, 3), off("g", "t", 1, -1, 1))
	wantStored(t, s, "g", []connectors.Partition{part("t", 0), part("t", 1)}, "t/0=3 t/1=1")
	wantRows(t, s, "SELECT count(*) FROM eo_norows", "0")

	// Only deletes, into an auto_create table not there yet: nothing to
	// delete, but the offsets move.
	d := eoSink(t, open, "eo_deletes", "", `
key: [id]
key_from: record_key
delete_on_tombstone: true
auto_create: true`)
	mustWriteOffsets(t, d, []*record.Record{rec(t, "1", "")}, off("g", "t", 0, -1, 1))
	wantStored(t, d, "g", []connectors.Partition{part("t", 0)}, "t/0=1")
}

func offsetsGroupsApart(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_groups", itemsDDL("eo_groups"), `key: [id]`)
	parts := []connectors.Partition{part("t", 0), part("t", 1)}
	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 1}`), off("a", "t", 0, -1, 10))
	wantStored(t, s, "b", parts, "")
	// Group b's first position is no conflict with group a's.
	mustWriteOffsets(t, s, recs(t, `{"id": 2, "v": 2}`), off("b", "t", 0, -1, 20), off("b", "t", 1, -1, 21))
	mustWriteOffsets(t, s, nil, off("b", "t", 0, 20, 22))
	wantStored(t, s, "a", parts, "t/0=10")
	wantStored(t, s, "b", parts, "t/0=22 t/1=21")
	// Nor is a's position b's to move.
	if err := s.WriteWithOffsets(context.Background(), nil, []connectors.Offset{off("a", "t", 0, 22, 23)}); !errors.Is(err, connectors.ErrOffsetConflict) {
		t.Errorf("moved group a from group b's position: %v", err)
	}
}

func offsetsTableDropped(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_dropped", itemsDDL("eo_dropped"), `key: [id]`)
	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 1}`), off("g", "t", 0, -1, 1))
	run(t, s, "DROP TABLE eo_dropped_offsets")
	wantStored(t, s, "g", []connectors.Partition{part("t", 0)}, "")
	// The first try fails, transient, and writes nothing; the next one
	// creates the table again.
	batch := recs(t, `{"id": 2, "v": 2}`)
	err := s.WriteWithOffsets(context.Background(), batch, []connectors.Offset{off("g", "t", 0, -1, 2)})
	var re *connectors.RecordError
	if err == nil || errors.As(err, &re) || errors.Is(err, connectors.ErrOffsetConflict) || !strings.Contains(err.Error(), "eo_dropped_offsets") {
		t.Fatalf("want a transient error naming the offsets table, got %v", err)
	}
	wantRows(t, s, "SELECT count(*) FROM eo_dropped", "1")
	mustWriteOffsets(t, s, batch, off("g", "t", 0, -1, 2))
	wantStored(t, s, "g", []connectors.Partition{part("t", 0)}, "t/0=2")
}

// offsetsIdentity: each position is stored with the identity of the topic
// it was read from, and a move stores the identity it is given; NULL for
// an unknown one.
func offsetsIdentity(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_ident", itemsDDL("eo_ident"), `key: [id]`)
	parts := []connectors.Partition{part("t", 0), part("t", 1), part("u", 0)}
	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 1}`), offID("g", "t", 0, -1, 3, "c1", "T1"), offID("g", "t", 1, -1, 4, "c1", "T1"), offID("g", "u", 0, -1, 1, "c1", ""))
	wantStored(t, s, "g", parts, "t/0=3(c1/T1) t/1=4(c1/T1) u/0=1(c1/)")
	mustWriteOffsets(t, s, nil, offID("g", "t", 0, 3, 5, "c1", "T1"), offID("g", "t", 1, 4, 4, "c2", "T2"))
	wantStored(t, s, "g", parts, "t/0=5(c1/T1) t/1=4(c2/T2) u/0=1(c1/)")
	wantRows(t, s, "SELECT * FROM eo_ident_offsets ORDER BY 1, 2, 3", "g|t|0|5|c1|T1\ng|t|1|4|c2|T2\ng|u|0|1|c1|NULL")
}

// offsetsOldTable: an offsets table created before identities were kept
// is read as it is (no identity), gets the columns added by the first
// write, and from then on keeps identities.
func offsetsOldTable(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_old", itemsDDL("eo_old"), `key: [id]`)
	old := s.osql.create
	for _, c := range identity {
		old = strings.Replace(old, s.cfg.dialect.Quote(c)+" "+columnType(s.cfg.dialect, kindText, false)+", ", "", 1)
	}
	if old == s.osql.create {
		t.Fatalf("could not make the old DDL from %s", old)
	}
	run(t, s, old)
	run(t, s, "INSERT INTO eo_old_offsets VALUES ('g', 't', 0, 5), ('g', 't', 1, 7)")
	parts := []connectors.Partition{part("t", 0), part("t", 1)}
	wantStored(t, s, "g", parts, "t/0=5 t/1=7")
	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 1}`), offID("g", "t", 0, 5, 6, "c1", "T1"))
	wantStored(t, s, "g", parts, "t/0=6(c1/T1) t/1=7")
	wantRows(t, s, "SELECT * FROM eo_old_offsets ORDER BY 1, 2, 3", "g|t|0|6|c1|T1\ng|t|1|7|NULL|NULL")
	// Another process finds the table upgraded already.
	other := open(t, "table: eo_old\noffsets_table: eo_old_offsets\nkey: [id]")
	mustWriteOffsets(t, other, nil, offID("g", "t", 1, 7, 7, "c1", "T1"))
	wantStored(t, s, "g", parts, "t/0=6(c1/T1) t/1=7(c1/T1)")
}

// offsetsReset deletes one group's positions of the topics named, and
// nothing else.
func offsetsReset(t *testing.T, open opener) {
	s := eoSink(t, open, "eo_reset", itemsDDL("eo_reset"), `key: [id]`)
	if n, err := s.ResetOffsets(context.Background(), "g", []string{"t"}); n != 0 || err != nil {
		t.Fatalf("reset without an offsets table: %d, %v", n, err)
	}
	mustWriteOffsets(t, s, recs(t, `{"id": 1, "v": 1}`), off("g", "t", 0, -1, 3), off("g", "t", 1, -1, 4), off("g", "u", 0, -1, 1), off("h", "t", 0, -1, 9))
	n, err := s.ResetOffsets(context.Background(), "g", []string{"t", "v"})
	if n != 2 || err != nil {
		t.Fatalf("reset deleted %d offsets (%v), want 2", n, err)
	}
	wantStored(t, s, "g", []connectors.Partition{part("t", 0), part("t", 1), part("u", 0)}, "u/0=1")
	wantStored(t, s, "h", []connectors.Partition{part("t", 0)}, "t/0=9")
	// The stage starts afresh: its first position is no conflict.
	mustWriteOffsets(t, s, nil, off("g", "t", 0, -1, 1))
	wantStored(t, s, "g", []connectors.Partition{part("t", 0)}, "t/0=1")
	wantRows(t, s, "SELECT count(*) FROM eo_reset", "1")
}

// testOffsetRace starts sinks that all take one partition's first position
// at once, each with its own rows: one wins, the others conflict and write
// nothing.
func testOffsetRace(t *testing.T, open opener) {
	const n = 4
	sinks := []*Sink{eoSink(t, open, "eo_race", itemsDDL("eo_race"), `key: [id]`)}
	for len(sinks) < n {
		sinks = append(sinks, open(t, "table: eo_race\noffsets_table: eo_race_offsets\nkey: [id]"))
	}
	// The offsets table exists before the race: CREATE TABLE IF NOT EXISTS
	// racing itself is PostgreSQL's own unique violation.
	mustWriteOffsets(t, sinks[0], nil, off("setup", "t", 0, -1, 0))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() {
			errs[i] = s.WriteWithOffsets(context.Background(), recs(t, fmt.Sprintf(`{"id": %d, "v": %d}`, i, i)), []connectors.Offset{off("g", "t", 0, -1, int64(100+i))})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("sinks %d and %d both took the partition", winner, i)
		case !errors.Is(err, connectors.ErrOffsetConflict):
			t.Errorf("sink %d: want a conflict, got %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no sink took the partition: %v", errs)
	}
	wantRows(t, sinks[0], "SELECT id FROM eo_race", fmt.Sprint(winner))
	got, err := sinks[0].StoredOffsets(context.Background(), "g", []connectors.Partition{part("t", 0)})
	if want := map[connectors.Partition]connectors.StoredOffset{part("t", 0): {Next: int64(100 + winner)}}; err != nil || !maps.Equal(got, want) {
		t.Errorf("stored %v (%v), want %v", got, err, want)
	}
}

func TestInvalidOffsetMovesAreRefused(t *testing.T) {
	s := sqliteSink(t, itemsDDL("items"), `
table: items
key: [id]`)
	for _, o := range []connectors.Offset{off("g", "t", 0, -2, 1), off("g", "t", 0, 3, -1)} {
		err := s.WriteWithOffsets(context.Background(), recs(t, `{"id": 1, "v": 1}`), []connectors.Offset{o})
		if err == nil || errors.Is(err, connectors.ErrOffsetConflict) || !strings.Contains(err.Error(), "invalid offset move") {
			t.Errorf("%+v: want an invalid offset move, got %v", o, err)
		}
	}
	wantRows(t, s, "SELECT count(*) FROM items", "0")
}
