// Package aggregate is the state machine of the aggregate step: it folds
// records into one row per group (and window) of named aggregations. It does
// no I/O: the engine calls State.Add per record of one input partition,
// writes the returned changelog entries and rows to Kafka in one
// transaction, and on start rebuilds each partition's State by replaying
// its changelog through State.Restore.
//
//	spec, err := aggregate.Compile(step.Aggregate, opts) // at load time
//	st := spec.NewState()                               // per input partition
//	for each changelog entry: st.Restore(key, value)    // on start
//	out, changes, err = st.Add(rec, out[:0], changes)   // per record
//
// # Groups
//
// A record's group is its key, or the by expression's result formatted as
// the key step formats keys (text as it is, numbers and bools formatted,
// lists and objects as JSON). A null key, or a null by result, is the group
// "" (so it is the same group as an empty key). Records of one group must
// come from one partition.
//
// # Aggregations
//
// Expressions see the record as every step's expressions do (fields by bare
// name, _key, _timestamp, ...). A record whose where is not true takes no
// part in that aggregation, but still creates its group and window. Null
// values are ignored by every function; count without an expression counts
// records. A tombstone (a null value) is a record without fields: count
// counts it, the other functions see nulls.
//
//	count    records, or records whose expression is not null      0
//	sum      int64 while every input is an integer, float64 once    0
//	         one is a float; int64 overflow is an error
//	min/max  numbers (compared exactly) or strings (by bytes);     null
//	         mixing the two is an error
//	avg      float64 sum / count; an int64 sum that would overflow  null
//	         continues as a float
//	first    the first value to arrive                              null
//	last     the last value to arrive                               null
//	collect  the list of values in arrival order                    null
//
// The last column is the value before any input. Stored values are kept as
// a JSON round trip gives them back (int64 for integers, float64 for other
// numbers, string for times, map[string]any and []any), so a restored
// state is indistinguishable from the original.
//
// # Windows
//
// Times are record timestamps in milliseconds. Tumbling and hopping windows
// are [start, start+size) with start a multiple of the size (tumbling) or
// advance (hopping) since the Unix epoch; a record is in every window that
// holds its timestamp. A session is a group's run of records less than the
// gap apart: [first record, last record + gap); a record less than the gap
// from two sessions merges them.
//
// Stream time is the latest timestamp a State has seen. A window closes
// when its end + grace <= stream time: it leaves the state (a changelog
// tombstone) and, under emit: final, is emitted then, once. A record whose
// every window had closed is not counted: Add returns ErrLate. Under
// sessions, a record joining no open session is late when a session of its
// own would have closed. Stream time moves only with records, so windows
// close during Add.
//
// # Rows
//
// A row is the aggregation names to their values, plus window_start and
// window_end (RFC 3339, UTC, milliseconds) when windowed. Its key is the
// group key and its timestamp the latest record timestamp in the group or
// window. Emit changes (the default) emits the updated row of every window
// a record changed; emit final emits each window when it closes, in order
// of close time, group key and start.
package aggregate
