package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// Counters are a stage's running totals, read by the progress reporter
// and by a Monitor.
type Counters struct {
	In           atomic.Int64 // records read
	Out          atomic.Int64 // records written
	Filtered     atomic.Int64 // records a filter removed
	Dropped      atomic.Int64 // bad records dropped by on_error: drop
	DeadLettered atomic.Int64 // bad records sent to the dead-letter topic
	Failed       atomic.Int64 // bad records that stopped the stage (on_error: fail)
	TxnCommits   atomic.Int64 // exactly-once transactions committed
	TxnAborts    atomic.Int64 // exactly-once transactions aborted
	Rebalances   atomic.Int64 // assignments the stage's group consumer received

	live live
	// recordFailed is set when a record's on_error: fail stopped the
	// stage: that error is in live's errors already.
	recordFailed atomic.Bool
	ready        atomic.Bool
	health       *connectors.Health // nil for stages without connectors
	// registry is the schema registry the stage's codecs wait for; nil
	// when it uses none.
	registry interface{ Health() error }
	lag      atomic.Int64
	batch    Observer // seconds to process a batch (a transaction's work, a sink write)
	commit   Observer // seconds to commit (offsets, a transaction, a sink's offsets with its rows)
}

// Dead-letter headers. The original key, value and headers are kept; these
// say where the record came from and what went wrong.
const (
	HeaderPipeline  = "conveyor.error.pipeline"
	HeaderStage     = "conveyor.error.stage"
	HeaderStep      = "conveyor.error.step"
	HeaderMessage   = "conveyor.error.message"
	HeaderTopic     = "conveyor.error.topic"
	HeaderPartition = "conveyor.error.partition"
	HeaderOffset    = "conveyor.error.offset"
	HeaderTime      = "conveyor.error.time"
)

// stage holds what every kind of running stage shares.
type stage struct {
	pipeline  string
	file      string // the pipeline's file, for messages
	name      string
	kind      string // source, transform, sink
	connector string // the source's or sink's connector kind
	delivery  pipeline.Delivery
	onError   pipeline.OnError
	codecs    *codecs
	// rawFormat decodes the bytes a source read (file lines): the stage's
	// format, except that lines are JSON where the stage writes a
	// registered format.
	rawFormat record.Format
	chain     *transforms.Chain
	log       *slog.Logger
	counters  *Counters
	drain     time.Duration
	stats     *statsHandler
	// pause holds the stage while it is paused (see Run.Pause); nil: never.
	pause *pauser

	dropLog rateLimited
}

// rateLimited keeps per-record warnings from flooding the log.
type rateLimited struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many were held back before.
func (r *rateLimited) allow() (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < time.Second {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = time.Now(), 0
	return true, n
}

// badRecord describes a record a step, the decoder or the writer rejected.
type badRecord struct {
	rec  *record.Record // the record as read (original key, raw value, headers)
	step string         // e.g. "steps[1].set" or "decode" or "write"
	err  error
}

func (b badRecord) where() string {
	if b.rec.Topic == "" {
		return ""
	}
	return fmt.Sprintf("%s[%d]@%d", b.rec.Topic, b.rec.Partition, b.rec.Offset)
}

// stepName names the step of a transforms error for the dead-letter header.
func stepName(err error) string {
	var se *transforms.StepError
	if errors.As(err, &se) {
		return fmt.Sprintf("steps[%d].%s", se.Index, se.Kind)
	}
	return "steps"
}

// resetHint tells how to delete the stage's stale stored position (see
// ErrStalePosition).
func (s *stage) resetHint() string {
	file := s.file
	if strings.ContainsAny(file, " \t'\"$\\;&|<>()*?`") {
		file = "'" + strings.ReplaceAll(file, "'", `'\''`) + "'"
	}
	return fmt.Sprintf("stop every runner of this stage, then run: runner reset -c %s --stage %s", file, s.name)
}

// failure is the error that stops a stage whose on_error is fail.
func (s *stage) failure(b badRecord) error {
	s.counters.Failed.Add(1)
	s.noteRejected(b, pipeline.Fail)
	s.counters.recordFailed.Store(true)
	where := b.where()
	if where != "" {
		where = " at " + where
	}
	return fmt.Errorf("%s %s: record%s: %s: %w", s.kind, s.name, where, b.step, b.err)
}

// deadLetter builds the dead-letter message for b.
func (s *stage) deadLetter(b badRecord) *kafka.Message {
	topic := s.onError.DeadLetter
	hs := make([]kafka.Header, 0, len(b.rec.Headers)+8)
	for _, h := range b.rec.Headers {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	add := func(k, v string) { hs = append(hs, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderPipeline, s.pipeline)
	add(HeaderStage, s.name)
	add(HeaderStep, b.step)
	add(HeaderMessage, b.err.Error())
	if b.rec.Topic != "" {
		add(HeaderTopic, b.rec.Topic)
		add(HeaderPartition, strconv.Itoa(int(b.rec.Partition)))
		add(HeaderOffset, strconv.FormatInt(b.rec.Offset, 10))
	}
	add(HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            b.rec.OriginalKey(),
		Value:          b.rec.Raw,
		Headers:        hs,
	}
}

// reject applies on_error to a bad record. For a dead letter, hold is called
// before the produce so the record counts as done only once its dead letter
// is durable.
func (s *stage) reject(ctx context.Context, b badRecord, prod *producer, a acker, hold func()) error {
	switch s.onError.Action {
	case pipeline.Drop:
		s.logDrop(b)
		return nil
	case pipeline.DeadLetter:
		hold()
		if err := prod.produce(ctx, s.deadLetter(b), a); err != nil {
			return fmt.Errorf("%s %s: dead letter to %s: %w", s.kind, s.name, s.onError.DeadLetter, err)
		}
		s.counters.DeadLettered.Add(1)
		s.noteRejected(b, pipeline.DeadLetter)
		return nil
	default:
		return s.failure(b)
	}
}

// logDrop records a dropped record, rate limited.
func (s *stage) logDrop(b badRecord) {
	s.counters.Dropped.Add(1)
	s.noteRejected(b, pipeline.Drop)
	if ok, held := s.dropLog.allow(); ok {
		s.log.Warn("dropped a bad record", "step", b.step, "record", b.where(), "error", b.err, "dropped_unlogged", held)
	}
}

// toRecord decodes a consumed message. On a decode error the record is
// still returned (with Raw set) so it can be dead-lettered; an error for
// which stopped is true is not the record's fault (see codecFailure).
func (s *stage) toRecord(ctx context.Context, m *kafka.Message) (*record.Record, error) {
	r := &record.Record{
		Key:       m.Key,
		Raw:       m.Value,
		Topic:     *m.TopicPartition.Topic,
		Partition: m.TopicPartition.Partition,
		Offset:    int64(m.TopicPartition.Offset),
		Timestamp: m.Timestamp,
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]record.Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = record.Header{Key: h.Key, Value: h.Value}
		}
	}
	tc, err := s.codecs.of(r.Topic)
	if err != nil {
		return r, codecErr(err)
	}
	if tc.key != nil && m.Key != nil {
		k, err := tc.key.DecodeKey(ctx, m.Key)
		if err != nil {
			return r, codecErr(fmt.Errorf("key: %w", err))
		}
		r.Key, r.RawKey = k, m.Key
	}
	v, err := tc.value.Decode(ctx, m.Value)
	if err != nil {
		return r, codecErr(err)
	}
	r.Value = v
	return r, nil
}

// toMessage encodes an output record for topic (unless the record names its
// own destination).
func (s *stage) toMessage(ctx context.Context, r *record.Record, topic string) (*kafka.Message, error) {
	if r.To != "" {
		topic = r.To
	}
	tc, err := s.codecs.of(topic)
	if err != nil {
		return nil, codecErr(err)
	}
	v, err := tc.value.Encode(ctx, r.Value)
	if err != nil {
		return nil, codecErr(err)
	}
	key := r.Key
	if tc.key != nil && key != nil {
		if key, err = tc.key.EncodeKey(ctx, key); err != nil {
			return nil, codecErr(fmt.Errorf("key: %w", err))
		}
	}
	m := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            key,
		Value:          v,
		Timestamp:      r.Timestamp,
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m, nil
}

// copyRecord gives a step chain its own copy of the metadata, so a chain
// that rewrites the record cannot change what goes to a dead-letter topic.
func copyRecord(r *record.Record) *record.Record {
	c := *r
	if r.Headers != nil {
		c.Headers = append([]record.Header(nil), r.Headers...)
	}
	return &c
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
