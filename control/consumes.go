package control

import (
	"context"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
)

// Stages is the live run the API watches and drives (engine.Run).
type Stages interface {
	// Status is every stage, pipelines in load order, stages in file order.
	Status() []engine.StageStatus
	// Pause, Resume and Restart return an error wrapping engine.ErrNoStage
	// for a stage the run does not have.
	Pause(pipeline, stage string) error
	Resume(pipeline, stage string) error
	Restart(ctx context.Context, pipeline, stage string) error
}

// Reloader reloads the pipeline files the run was started with. Files
// that do not load give an *InvalidConfig and leave the run as it was.
type Reloader interface {
	Reload(ctx context.Context) (engine.ReloadReport, error)
}

// Cluster is one pipeline's Kafka cluster, read-only (engine/browse).
// Unknown topics and groups give an error wrapping ErrNotFound; a bad
// query (an expression that does not compile, say) a *QueryError.
type Cluster interface {
	// Topics describes the named topics; topics that do not exist are
	// left out.
	Topics(ctx context.Context, names []string) ([]Topic, error)
	Records(ctx context.Context, q RecordQuery) (RecordPage, error)
	// Groups summarises the named consumer groups; groups the cluster
	// does not know are left out.
	Groups(ctx context.Context, ids []string) ([]GroupSummary, error)
	Group(ctx context.Context, id string) (Group, error)
}

// DeadLetters reads and replays one pipeline's dead-letter topics
// (engine/deadletter, the code path of runner dlq).
type DeadLetters interface {
	Letters(ctx context.Context, topic string, limit int) ([]Letter, error)
	// Replay returns a *QueryError for a request that cannot run (a --where
	// that does not compile, the same topic twice).
	Replay(ctx context.Context, r ReplayRequest) (ReplayResult, error)
}

// Topic is a topic with its partitions' offsets.
type Topic struct {
	Name       string           `json:"name"`
	Partitions []TopicPartition `json:"partitions"`
	Records    int64            `json:"records"` // end - start summed over partitions
	// Internal is set by the server: only the runner writes the topic
	// (changelogs, cursors).
	Internal bool `json:"internal"`
}

// TopicPartition is one partition's offsets: records are end - start.
type TopicPartition struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Records   int64 `json:"records"`
	Leader    int32 `json:"leader"`
}

// FromKind is where reading records starts.
type FromKind string

// Where reading starts.
const (
	FromBeginning FromKind = "beginning"
	FromEnd       FromKind = "end"
	FromOffset    FromKind = "offset" // Offset on every partition asked for
	FromTime      FromKind = "time"   // the first record at or after Time
	FromNext      FromKind = "next"   // Next: per partition, the next offset to read
)

// RecordQuery asks for records of a topic.
type RecordQuery struct {
	Topic string
	From  FromKind
	// Offset (FromOffset), Time (FromTime) and Next (FromNext) say where.
	Offset int64
	Time   time.Time
	Next   map[int32]int64
	// Partition, when set, is the only partition read.
	Partition *int32
	Limit     int
	Where     string // an expression over each record; "" keeps all
	// Raw asks for the bytes too (RawKey, RawValue).
	Raw bool
}

// RecordPage is a batch of records and where the next batch starts.
type RecordPage struct {
	Records []Record `json:"records"`
	// Next is "partition=offset,...": the offset after the last record read
	// on each partition, for from=next:<Next>.
	Next string `json:"next"`
}

// Record is one record, decoded per the topic's format.
type Record struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	Key       any       `json:"key"`
	Value     any       `json:"value"`
	Headers   []Header  `json:"headers"`
	// RawKey and RawValue are the bytes as stored, base64 in JSON; only
	// with RecordQuery.Raw.
	RawKey      []byte `json:"raw_key_base64,omitempty"`
	RawValue    []byte `json:"raw_value_base64,omitempty"`
	DecodeError string `json:"decode_error,omitempty"`
}

// Header is a record header; values show as text.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// GroupSummary is a consumer group in a list.
type GroupSummary struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members int    `json:"members"`
	Lag     int64  `json:"lag"` // -1 unknown
}

// Group is a consumer group in detail.
type Group struct {
	Group   string        `json:"group"`
	State   string        `json:"state"`
	Members []GroupMember `json:"members"`
	Offsets []GroupOffset `json:"offsets"`
}

// GroupMember is a member of a group and the partitions it owns.
type GroupMember struct {
	MemberID   string         `json:"member_id"`
	ClientID   string         `json:"client_id"`
	Host       string         `json:"host"`
	InstanceID string         `json:"instance_id"`
	Assignment []PartitionRef `json:"assignment"`
}

// PartitionRef names a partition of a topic.
type PartitionRef struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// GroupOffset is a group's committed offset on a partition.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1 none
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"` // -1 unknown
}

// Letter is one dead letter with what its error headers say.
type Letter struct {
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp time.Time    `json:"timestamp"`
	Key       any          `json:"key"`
	Value     any          `json:"value"`
	Error     *LetterError `json:"error"`
	Headers   []Header     `json:"headers"`
}

// LetterError is the conveyor.error.* headers of a dead letter.
type LetterError struct {
	Pipeline  string `json:"pipeline"`
	Stage     string `json:"stage"`
	Step      string `json:"step"`
	Message   string `json:"message"`
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition"`
	Offset    *int64 `json:"offset"`
	Time      string `json:"time"`
}

// ReplayRequest re-publishes the dead letters of From to To.
type ReplayRequest struct {
	From   string `json:"-"` // the dead-letter topic, from the path
	To     string `json:"to"`
	Where  string `json:"where"`
	DryRun bool   `json:"dry_run"`
	Group  string `json:"group"` // "" for the default replay group
}

// ReplayResult is what a replay did, or would do on a dry run.
type ReplayResult struct {
	Replayed int  `json:"replayed"`
	Skipped  int  `json:"skipped"`
	DryRun   bool `json:"dry_run"`
}
