package engine

import (
	"context"
	"errors"

	"github.com/conveyor-dev/conveyor/record"
)

// Partition names one partition of a topic.
type Partition struct {
	Topic     string
	Partition int32
}

// Offset moves one partition's stored position for a consumer group from
// Prev to Next. Prev is the position the stage last saw stored (-1: none
// stored yet); a store that finds another value there was written by another
// process meanwhile and must refuse with ErrOffsetConflict.
type Offset struct {
	Group string
	Partition
	Prev int64
	Next int64 // the offset of the next record to read
}

// ErrOffsetConflict is returned by an OffsetSink when a stored position is
// not the one the stage expected: another process owns the partition now.
// Nothing of the batch was written; the stage reads the positions again.
var ErrOffsetConflict = errors.New("stored offsets moved: another process owns the partition")

// OffsetSink is a sink that keeps consumer positions in the same
// transaction as the records it writes, so a stage using it is exactly-once:
// on assignment the stage starts where the sink's own store says.
type OffsetSink interface {
	Sink
	// WriteWithOffsets writes batch and advances offsets atomically: both or
	// neither. A record it rejects for good comes back as *RecordError, as
	// from Write, with nothing written.
	WriteWithOffsets(ctx context.Context, batch []*record.Record, offsets []Offset) error
	// StoredOffsets returns the stored next offset of each partition that
	// has one, for the group.
	StoredOffsets(ctx context.Context, group string, parts []Partition) (map[Partition]int64, error)
}
