package connectors

import (
	"context"
	"errors"
	"fmt"

	"github.com/conveyor-dev/conveyor/record"
)

// Partition names one partition of a topic.
type Partition struct {
	Topic     string
	Partition int32
}

// TopicID is what a topic is beyond its name: Kafka's cluster id and the
// topic's id. A topic deleted and created again under its name gets a new
// topic id; another cluster, or a new embedded broker, has another cluster
// id. Offsets kept outside Kafka are stored with it, so that they are never
// applied to another topic than the one they were read from. An empty field
// is unknown (a broker that gives none, or offsets stored before conveyor
// kept them).
type TopicID struct {
	Cluster string
	Topic   string
}

// IsZero reports that nothing is known of the identity.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// Matches reports whether id and other can be the same topic: they differ
// in nothing both know.
func (id TopicID) Matches(other TopicID) bool {
	differ := func(a, b string) bool { return a != "" && b != "" && a != b }
	return !differ(id.Cluster, other.Cluster) && !differ(id.Topic, other.Topic)
}

func (id TopicID) String() string {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	return fmt.Sprintf("cluster %s, topic id %s", unknown(id.Cluster), unknown(id.Topic))
}

// Offset moves one partition's stored position for a consumer group from
// Prev to Next. Prev is the position the stage last saw stored (-1: none
// stored yet); a store that finds another value there was written by another
// process meanwhile and must refuse with ErrOffsetConflict. ID is the
// identity of the topic the records were read from, stored with Next.
type Offset struct {
	Group string
	Partition
	ID   TopicID
	Prev int64
	Next int64 // the offset of the next record to read
}

// StoredOffset is a partition's stored position and the identity of the
// topic it was stored for.
type StoredOffset struct {
	Next int64
	ID   TopicID
}

// ErrOffsetConflict is returned by an OffsetSink when a stored position is
// not the one the stage expected: another process owns the partition now.
// Nothing of the batch was written; the stage reads the positions again.
var ErrOffsetConflict = errors.New("stored offsets moved: another process owns the partition")

// ErrStalePosition marks a stored position (a sink's offsets, a source's
// cursor) that belongs to another topic or table than the one there now:
// going on from it would skip or repeat records, so the stage stops, and
// `runner reset` deletes it.
var ErrStalePosition = errors.New("stored position is stale")

// OffsetSink is a sink that keeps consumer positions in the same
// transaction as the records it writes, so a stage using it is exactly-once:
// on assignment the stage starts where the sink's own store says.
type OffsetSink interface {
	Sink
	// WriteWithOffsets writes batch and advances offsets atomically: both or
	// neither. A record it rejects for good comes back as *RecordError, as
	// from Write, with nothing written.
	WriteWithOffsets(ctx context.Context, batch []*record.Record, offsets []Offset) error
	// StoredOffsets returns the stored position of each partition that
	// has one, for the group.
	StoredOffsets(ctx context.Context, group string, parts []Partition) (map[Partition]StoredOffset, error)
	// ResetOffsets deletes the stored positions of group for topics and
	// returns how many there were.
	ResetOffsets(ctx context.Context, group string, topics []string) (int64, error)
	// OffsetStore names where the positions are kept, for messages
	// ("table conveyor_offsets").
	OffsetStore() string
}
