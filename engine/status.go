package engine

import (
	"errors"
	"time"
)

// StageState is where a running stage is in its life, as the control API,
// the console and runner top show it.
type StageState string

// Stage states.
const (
	// StateStarting: the stage is opening its clients or restoring state.
	StateStarting StageState = "starting"
	// StateRunning: a source is open, or a consuming stage owns partitions.
	StateRunning StageState = "running"
	// StateWaiting: a consuming stage is in its group with no partitions
	// (more members than partitions), or a shared source stands by.
	StateWaiting StageState = "waiting"
	// StateRetrying: the stage's connector or schema registry is down and
	// it retries; Reason says why.
	StateRetrying StageState = "retrying"
	// StatePaused: paused from the control API; it holds its partitions
	// and reads nothing until resumed.
	StatePaused StageState = "paused"
	// StateDraining: stopping (restart, reload or shutdown), finishing
	// what is in flight.
	StateDraining StageState = "draining"
	// StateFailed: the stage stopped with an error (Reason).
	StateFailed StageState = "failed"
	// StateStopped: the stage ended without an error.
	StateStopped StageState = "stopped"
)

// StageStatus is a snapshot of one stage of a run.
type StageStatus struct {
	Pipeline  string     `json:"pipeline"`
	Stage     string     `json:"stage"`
	Kind      string     `json:"kind"`                // source, transform, sink
	Connector string     `json:"connector,omitempty"` // a source's or sink's connector kind
	Delivery  string     `json:"delivery"`
	Group     string     `json:"group,omitempty"` // a consuming stage's consumer group
	From      []string   `json:"from,omitempty"`
	To        string     `json:"to,omitempty"`
	State     StageState `json:"state"`
	Reason    string     `json:"reason,omitempty"` // why retrying or failed
	// Started is when this incarnation of the stage started; Restarts
	// counts restarts and reloads that restarted it.
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`

	In           int64 `json:"in"`
	Out          int64 `json:"out"`
	Filtered     int64 `json:"filtered"`
	Dropped      int64 `json:"dropped"`
	DeadLettered int64 `json:"dead_lettered"`
	Failed       int64 `json:"failed"`
	// Rebalances counts the assignments the stage's group consumer got
	// (each rebalance of its group gives one), across incarnations.
	Rebalances int64 `json:"rebalances"`
	// Lag is the group's lag summed over its partitions; -1 unknown.
	Lag int64 `json:"lag"`
	// Partitions are the partitions this process owns, with their lag.
	Partitions []PartitionStatus `json:"partitions,omitempty"`
	// Errors are the stage's last errors, newest last.
	Errors []StageError `json:"errors,omitempty"`
	// Config is the stage's YAML as written in its file, before ${VAR}
	// expansion, with secret values replaced by "[redacted]".
	Config string `json:"config"`
}

// PartitionStatus is one partition a stage owns.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Lag       int64  `json:"lag"` // -1 unknown
}

// StageError is one record a stage rejected, or the error that stopped it.
type StageError struct {
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
	Step    string    `json:"step,omitempty"`
	// Action is what on_error did: fail, drop, dead_letter; "" for an
	// error that stopped the stage outside a record.
	Action    string `json:"action,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"` // -1 without a record
	Offset    int64  `json:"offset"`    // -1 without a record
}

// ReloadReport says what a reload did to each stage, by "pipeline/stage".
type ReloadReport struct {
	Unchanged []string `json:"unchanged"` // kept running, untouched
	Restarted []string `json:"restarted"` // config changed: drained and started anew
	Added     []string `json:"added"`
	Removed   []string `json:"removed"` // drained, left their groups
}

// ErrNoStage: no running stage has that pipeline and name.
var ErrNoStage = errors.New("no such stage")
