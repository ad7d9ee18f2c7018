// Package connectors defines what a connector is to the engine: the
// interfaces a source and a sink implement, the optional capabilities they
// declare (a cursor, offsets kept in the target, batching, a shared input),
// and the registry a binary lists its connectors in. Each connector lives in
// a package below this one and imports only this package from the runtime's
// side, never the engine.
package connectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// Env is what connector factories get besides their own config.
type Env struct {
	Lookup pipeline.LookupFunc
	Vars   map[string]any // the pipeline's vars, for connector expressions
	Log    *slog.Logger
	// Stdout is shared by every sink that prints; Build serialises writes to
	// it, so a sink that writes whole lines in one call never interleaves
	// with another.
	Stdout io.Writer
	// Health is the stage's, for a connector to say it cannot work (and
	// why) and when it can again. Build sets it, and Log to the stage's
	// logger, per connector.
	Health *Health
	// Drain is the pipeline's shutdown_timeout: how long a stage may take
	// to finish what it holds once told to stop. Build sets it; zero
	// outside a pipeline.
	Drain time.Duration
}

// Opener is implemented by connectors that acquire resources (files,
// connections) when the stage starts rather than when it is built.
type Opener interface {
	Open(ctx context.Context) error
}

// Closer is implemented by sources that hold resources.
type Closer interface {
	Close() error
}

// Resumer is a Source with a cursor (a SQL source's last id or timestamp,
// say). The engine keeps the cursor of the last batch whose records are all
// durable in Kafka in a compacted topic, keyed by pipeline and source, and
// hands it back before Read on the next start, so a restart resumes after
// the last acknowledged row: nothing skipped, at most the unacknowledged
// tail read again.
type Resumer interface {
	// Resume is called once before Read with the stored cursor, or nil on
	// a first run.
	Resume(cursor []byte) error
}

// Shared is implemented by sources whose input every runner process sees
// alike (a database table): when several processes run the same pipeline,
// only one of them may read it at a time, or each would write every row.
type Shared interface {
	Shared() bool
}

// Source reads an external system. Read calls emit with batches of records
// until the input ends (it returns nil) or ctx is done. A source with a
// cursor (see Resumer) passes the cursor that follows the batch; the engine
// stores it once the batch, and every batch before it, is durable in Kafka.
type Source interface {
	Read(ctx context.Context, emit Emit) error
}

// Typed is implemented by sources that know their values' types (a SQL
// source, from its columns), so a stage writing a schema'd format can
// derive the schema. ValueType describes the records of the batch being
// emitted; it is called on the goroutine that emits.
type Typed interface {
	ValueType() record.Type
}

// Prober is implemented by sources that can tell their records' type before
// reading any (a SQL source, from its query's columns), so runner check
// --connect can type their steps. Probe must not change anything outside.
type Prober interface {
	Probe(ctx context.Context) (record.Type, error)
}

// Emit hands a batch to the stage; it blocks while the stage is busy, which
// is how a source feels backpressure. cursor may be nil. It returns once the
// batch is handed on, not once it is durable: a source that must know when
// it is passes an Ack in ctx (WithAck).
type Emit func(ctx context.Context, batch []*record.Record, cursor []byte) error

// Sink writes records to an external system. When Write returns nil every
// record of the batch is durable there. A record the system rejects for good
// (a constraint, a type) is reported as a *RecordError naming it; the stage
// applies on_error to it and writes the rest again. Any other error is taken
// as transient: the stage retries with backoff and commits nothing meanwhile.
type Sink interface {
	Write(ctx context.Context, batch []*record.Record) error
	Close() error
}

// Batcher is implemented by sinks that want other batches than the default
// (500 records, 5ms): a database sink writes faster in larger transactions.
type Batcher interface {
	BatchSize() int
	FlushInterval() time.Duration
}

// RecordError is a permanent error for one record of a batch.
type RecordError struct {
	Index int
	Err   error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d of the batch: %v", e.Index, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }
