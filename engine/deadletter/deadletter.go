// Package deadletter reads dead-letter topics, the ones stages with
// on_error: {dead_letter: TOPIC} write, and re-publishes their records once
// the cause is fixed: the logic behind `runner dlq inspect` and
// `runner dlq replay`.
package deadletter

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/record"
)

// ErrorHeaderPrefix starts the name of every header the engine adds to a
// dead letter (engine.HeaderPipeline and the others). Replay strips them.
const ErrorHeaderPrefix = "conveyor.error."

// HeaderReplayedFrom is added to every replayed record:
// "<dead-letter topic>[partition]@offset".
const HeaderReplayedFrom = "conveyor.replayed.from"

// Options says how to reach the cluster.
type Options struct {
	Brokers string
	// Config holds librdkafka properties for every client (security
	// settings, say). Their secret values never appear in errors or logs.
	Config map[string]string
	// Log receives librdkafka's log lines and progress at debug level; nil
	// discards them.
	Log *slog.Logger
	// Timeout bounds each metadata and offset request (default 30s).
	Timeout time.Duration
	// Decode, when set, reads values in the Confluent wire format (a
	// schema registry's codec): inspect shows them as JSON and --where
	// reads their fields. Other values are JSON or text as before.
	Decode func(ctx context.Context, b []byte) (any, error)
}

// letter is letterOf with the value decoded by o.Decode where it is in
// the wire format. A value that fails to decode stays as it is, with the
// reason kept for inspect.
func (o Options) letter(ctx context.Context, m *kafka.Message) Letter {
	l := letterOf(m)
	if o.Decode == nil || len(l.Value) < 5 || l.Value[0] != 0 {
		return l
	}
	v, err := o.Decode(ctx, l.Value)
	if err != nil {
		l.DecodeErr = err
		return l
	}
	l.Decoded, l.IsDecoded = v, true
	return l
}

func (o Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o Options) timeoutMs() int {
	if o.Timeout <= 0 {
		return 30000
	}
	return int(o.Timeout / time.Millisecond)
}

// UsageError marks a mistake on the command line (a bad --where, say), as
// opposed to a failure while running.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Letter is one record of a dead-letter topic.
type Letter struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte // nil is a null key
	Value     []byte // nil is a tombstone
	Headers   []record.Header
	// Decoded is Value read through Options.Decode (IsDecoded set), or
	// DecodeErr why it could not be.
	Decoded   any
	IsDecoded bool
	DecodeErr error
}

// shown is the value as inspect prints it: decoded values as JSON.
func (l *Letter) shown() []byte {
	if l.IsDecoded {
		if b, err := record.JSON.Encode(l.Decoded); err == nil {
			return b
		}
	}
	return l.Value
}

func letterOf(m *kafka.Message) Letter {
	l := Letter{
		Topic:     *m.TopicPartition.Topic,
		Partition: m.TopicPartition.Partition,
		Offset:    int64(m.TopicPartition.Offset),
		Timestamp: m.Timestamp,
		Key:       m.Key,
		Value:     m.Value,
	}
	if len(m.Headers) > 0 {
		l.Headers = make([]record.Header, len(m.Headers))
		for i, h := range m.Headers {
			l.Headers[i] = record.Header{Key: h.Key, Value: h.Value}
		}
	}
	return l
}

// Header returns the value of the last header named key.
func (l *Letter) Header(key string) (string, bool) {
	for i := len(l.Headers) - 1; i >= 0; i-- {
		if l.Headers[i].Key == key {
			return string(l.Headers[i].Value), true
		}
	}
	return "", false
}

func (l *Letter) header(key string) string {
	v, _ := l.Header(key)
	return v
}

// At is "partition@offset" within the dead-letter topic.
func (l *Letter) At() string { return fmt.Sprintf("%d@%d", l.Partition, l.Offset) }

// Where is "topic[partition]@offset" of the dead letter itself.
func (l *Letter) Where() string { return fmt.Sprintf("%s[%d]@%d", l.Topic, l.Partition, l.Offset) }

// Source is "topic[partition]@offset" of the record the stage rejected, or
// "" when the stage did not read it from a topic (a source's record).
func (l *Letter) Source() string {
	topic, ok := l.Header(engine.HeaderTopic)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s[%s]@%s", topic, l.header(engine.HeaderPartition), l.header(engine.HeaderOffset))
}

// Original returns the headers the record had before it was dead-lettered:
// every header but the conveyor.error.* ones.
func (l *Letter) Original() []record.Header {
	var out []record.Header
	for _, h := range l.Headers {
		if !strings.HasPrefix(h.Key, ErrorHeaderPrefix) {
			out = append(out, h)
		}
	}
	return out
}

// ErrorInfo is what the conveyor.error.* headers say, decoded.
type ErrorInfo struct {
	Pipeline  string `json:"pipeline,omitempty"`
	Stage     string `json:"stage,omitempty"`
	Step      string `json:"step,omitempty"`
	Message   string `json:"message,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Time      string `json:"time,omitempty"`
}

// Error decodes the conveyor.error.* headers; nil when there are none.
func (l *Letter) Error() *ErrorInfo {
	found := false
	for _, h := range l.Headers {
		if strings.HasPrefix(h.Key, ErrorHeaderPrefix) {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	e := &ErrorInfo{
		Pipeline: l.header(engine.HeaderPipeline),
		Stage:    l.header(engine.HeaderStage),
		Step:     l.header(engine.HeaderStep),
		Message:  l.header(engine.HeaderMessage),
		Topic:    l.header(engine.HeaderTopic),
		Time:     l.header(engine.HeaderTime),
	}
	if v, err := strconv.ParseInt(l.header(engine.HeaderPartition), 10, 32); err == nil {
		p := int32(v)
		e.Partition = &p
	}
	if v, err := strconv.ParseInt(l.header(engine.HeaderOffset), 10, 64); err == nil {
		e.Offset = &v
	}
	return e
}

// Record is the letter as an expression sees it: the value decoded when it
// is JSON (a string otherwise), every header, and the dead letter's own
// topic, partition, offset and timestamp.
func (l *Letter) Record() *record.Record {
	r := &record.Record{
		Key:       l.Key,
		Raw:       l.Value,
		Headers:   l.Headers,
		Topic:     l.Topic,
		Partition: l.Partition,
		Offset:    l.Offset,
		Timestamp: l.Timestamp,
	}
	if l.IsDecoded {
		r.Value = l.Decoded
	} else if l.Value != nil {
		if v, err := record.DecodeJSON(l.Value); err == nil {
			r.Value = v
		} else {
			r.Value = string(l.Value)
		}
	}
	return r
}

// client is what the consumers here share: the config they were built
// from (for scrubbing secrets out of errors) and the log forwarder.
type client struct {
	cm  kafka.ConfigMap
	c   *kafka.Consumer
	opt Options
}

// newConsumer makes a read_committed consumer that commits nothing by
// itself.
func newConsumer(o Options, group string) (*client, error) {
	cm := rdkafka.Build(rdkafka.Consumer, o.Brokers, o.Config, nil, map[string]string{
		"group.id":               group,
		"enable.auto.commit":     "false",
		"isolation.level":        "read_committed",
		"auto.offset.reset":      "earliest",
		"statistics.interval.ms": "0", // nothing here reads statistics
	})
	o.log().Debug("consumer config", "config", rdkafka.Redacted(cm))
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %s", rdkafka.Scrub(cm, err.Error()))
	}
	go rdkafka.Logs(c.Logs(), cm, o.log())
	return &client{cm: cm, c: c, opt: o}, nil
}

func (c *client) close() { _ = c.c.Close() }

func (c *client) scrub(err error) string { return rdkafka.Scrub(c.cm, err.Error()) }

// bounds are a partition's first offset and its end for read_committed
// readers (the last stable offset), as of the call.
type bounds struct {
	partition int32
	low, end  int64
}

// partitions returns topic's partitions with their bounds, or an error
// naming the topic when it does not exist.
func (c *client) partitions(topic string) ([]bounds, error) {
	md, err := c.c.GetMetadata(&topic, false, c.opt.timeoutMs())
	if err != nil {
		return nil, fmt.Errorf("topic %s: metadata: %s", topic, c.scrub(err))
	}
	tm, ok := md.Topics[topic]
	if !ok || tm.Error.Code() == kafka.ErrUnknownTopicOrPart || tm.Error.Code() == kafka.ErrUnknownTopic || (tm.Error.Code() == kafka.ErrNoError && len(tm.Partitions) == 0) {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	if tm.Error.Code() != kafka.ErrNoError {
		return nil, fmt.Errorf("topic %s: %s", topic, c.scrub(tm.Error))
	}
	out := make([]bounds, 0, len(tm.Partitions))
	for _, p := range tm.Partitions {
		// The consumer is read_committed, so librdkafka asks for the last
		// stable offset: the end a read_committed reader can reach.
		low, high, err := c.c.QueryWatermarkOffsets(topic, p.ID, c.opt.timeoutMs())
		if err != nil {
			return nil, fmt.Errorf("topic %s[%d]: end offset: %s", topic, p.ID, c.scrub(err))
		}
		out = append(out, bounds{partition: p.ID, low: low, end: high})
	}
	slices.SortFunc(out, func(a, b bounds) int { return cmp.Compare(a.partition, b.partition) })
	return out, nil
}

// position returns the consumer's position in topic[p], or -1 when it has
// none yet. It counts transaction markers and skipped aborted records,
// which take offsets but are never delivered.
func (c *client) position(topic string, p int32) int64 {
	pos, err := c.c.Position([]kafka.TopicPartition{{Topic: &topic, Partition: p}})
	if err != nil || len(pos) == 0 || pos[0].Offset < 0 {
		return -1
	}
	return int64(pos[0].Offset)
}

// poll returns the next message, nil when none came within ms, or an error
// the consumer cannot go on from.
func (c *client) poll(ctx context.Context, ms int) (*kafka.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch e := c.c.Poll(ms).(type) {
	case *kafka.Message:
		if e.TopicPartition.Error != nil {
			return nil, fmt.Errorf("consume %s[%d]: %s", topicName(e.TopicPartition), e.TopicPartition.Partition, c.scrub(e.TopicPartition.Error))
		}
		return e, nil
	case kafka.Error:
		if e.IsFatal() || e.Code() == kafka.ErrUnknownTopicOrPart {
			return nil, fmt.Errorf("consumer: %s", c.scrub(e))
		}
		c.opt.log().Warn("consumer", "error", c.scrub(e))
	}
	return nil, nil
}

func topicName(tp kafka.TopicPartition) string {
	if tp.Topic == nil {
		return "?"
	}
	return *tp.Topic
}
