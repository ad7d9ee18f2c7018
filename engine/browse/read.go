package browse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/internal/printable"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// AllPartitions reads every partition of a topic.
const AllPartitions int32 = -1

// ReadOptions say which records Read passes on.
type ReadOptions struct {
	Topic string
	// From is where each partition starts: beginning, end (the default),
	// offset:N, time:RFC3339 or next:0=13,1=41 (a Position from an earlier
	// read).
	From string
	// Partition is the one partition to read, or AllPartitions (-1).
	Partition int32
	// Limit stops the read after this many records passed on; 0 or less:
	// no limit.
	Limit int
	// Where, when set, passes on only the records for which this
	// expression is true (as runner dlq replay's --where: value fields by
	// name, _key, _headers["name"], _partition, _offset, _timestamp...).
	Where string
	// Raw adds the key and value bytes as read to every record.
	Raw bool
	// Follow keeps reading records written after the read started until
	// ctx ends (or Limit). Without it the read ends at the end offsets the
	// partitions had when it started.
	Follow bool
}

// Record is one record as the API shows it.
type Record struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Key is the key as text (decoded when the topic's keys have a
	// format); null for a null key. Bytes that are not UTF-8 show as \xNN.
	Key *string `json:"key"`
	// Value is the value decoded in the topic's format, as JSON; null for
	// a tombstone. A value that does not decode is its bytes as a JSON
	// string, with DecodeError saying why and RawValue set.
	Value   json.RawMessage `json:"value"`
	Headers []Header        `json:"headers"`
	// RawKey and RawValue are the bytes as read (with ReadOptions.Raw).
	RawKey      []byte `json:"raw_key_base64,omitempty"`
	RawValue    []byte `json:"raw_value_base64,omitempty"`
	DecodeError string `json:"decode_error,omitempty"`
}

// Header is one record header; a value that is not UTF-8 shows as \xNN.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Read passes the records of o.Topic to fn, partition after partition in
// offset order up to the end offsets they had when Read started, then,
// with o.Follow, every partition's new records as they come. It returns
// the position after the last record it looked at (matching o.Where or
// not) on each partition read, from which a later Read resumes
// (From "next:"+next.String()), and the first error of fn, ctx or the
// cluster. A Follow read ends without error when ctx ends.
func (c *Client) Read(ctx context.Context, o ReadOptions, fn func(Record) error) (Position, error) {
	from, err := ParseFrom(o.From)
	if err != nil {
		return nil, err
	}
	r := &reader{c: c, o: o, fn: fn, next: Position{}}
	if o.Where != "" {
		if r.where, err = expression.CompileFilter("where", o.Where); err != nil {
			return nil, &UsageError{Err: err}
		}
	}
	if c.opt.Codecs != nil {
		r.value, r.key, r.codecErr = c.opt.Codecs(o.Topic)
	}
	cons, err := c.newConsumer()
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	r.cons = cons
	parts, err := r.partitions()
	if err != nil {
		return nil, err
	}
	if err := r.start(from, parts); err != nil {
		return nil, err
	}
	done, err := r.catchUp(ctx, parts)
	if o.Follow && err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return r.next, nil // stopped while still catching up
	}
	if err != nil || done || !o.Follow {
		return r.next, err
	}
	return r.next, r.follow(ctx, parts)
}

// reader is one Read.
type reader struct {
	c        *Client
	o        ReadOptions
	fn       func(Record) error
	cons     *kafka.Consumer
	where    *expression.Filter
	value    serde.Codec // nil: JSON, else text
	key      *serde.KeyCodec
	codecErr error // the topic's codecs could not be made: values shown raw
	next     Position
	passed   int
}

// bounds are a partition's first offset and its end for read_committed
// readers (the last stable offset), as of the call.
type bounds struct {
	partition int32
	low, end  int64
}

// partitions returns the bounds of the partitions to read.
func (r *reader) partitions() ([]bounds, error) {
	topic := r.o.Topic
	md, err := r.cons.GetMetadata(&topic, false, r.c.opt.timeoutMs())
	if err != nil {
		return nil, fmt.Errorf("topic %s: metadata: %s", topic, r.c.scrub(err))
	}
	tm, ok := md.Topics[topic]
	if code := tm.Error.Code(); !ok || code == kafka.ErrUnknownTopicOrPart || code == kafka.ErrUnknownTopic || (code == kafka.ErrNoError && len(tm.Partitions) == 0) {
		return nil, fmt.Errorf("topic %s: %w", topic, ErrNoTopic)
	}
	if tm.Error.Code() != kafka.ErrNoError {
		return nil, fmt.Errorf("topic %s: %s", topic, r.c.scrub(tm.Error))
	}
	var out []bounds
	for _, p := range tm.Partitions {
		if r.o.Partition != AllPartitions && p.ID != r.o.Partition {
			continue
		}
		// The consumer is read_committed: the high offset is the last
		// stable one, the end a read_committed reader reaches.
		low, high, err := r.cons.QueryWatermarkOffsets(topic, p.ID, r.c.opt.timeoutMs())
		if err != nil {
			return nil, fmt.Errorf("topic %s[%d]: offsets: %s", topic, p.ID, r.c.scrub(err))
		}
		out = append(out, bounds{partition: p.ID, low: low, end: high})
	}
	if len(out) == 0 {
		return nil, usage("topic %s has no partition %d (it has %d)", topic, r.o.Partition, len(tm.Partitions))
	}
	return sortedPartitions(out), nil
}

// start sets each partition's first offset from from.
func (r *reader) start(from From, parts []bounds) error {
	for _, b := range parts {
		var at int64
		switch from.Kind {
		case FromEnd:
			at = b.end
		case FromBeginning:
			at = b.low
		case FromOffset:
			at = from.Offset
		case FromNext:
			var ok bool
			if at, ok = from.Next[b.partition]; !ok {
				at = b.low
			}
		case FromTime:
			continue
		}
		r.next[b.partition] = min(max(at, b.low), b.end)
	}
	if from.Kind != FromTime {
		return nil
	}
	topic := r.o.Topic
	ask := make([]kafka.TopicPartition, 0, len(parts))
	for _, b := range parts {
		ask = append(ask, kafka.TopicPartition{Topic: &topic, Partition: b.partition, Offset: kafka.Offset(from.Time.UnixMilli())})
	}
	got, err := r.cons.OffsetsForTimes(ask, r.c.opt.timeoutMs())
	if err != nil {
		return fmt.Errorf("topic %s: offsets for %s: %s", topic, from.Time.Format(time.RFC3339), r.c.scrub(err))
	}
	for _, b := range parts {
		r.next[b.partition] = b.end // no record at or after the time
	}
	for _, tp := range got {
		if tp.Error != nil {
			return fmt.Errorf("topic %s[%d]: offset for %s: %s", topic, tp.Partition, from.Time.Format(time.RFC3339), r.c.scrub(tp.Error))
		}
		if end, ok := r.next[tp.Partition]; ok && tp.Offset >= 0 {
			r.next[tp.Partition] = min(int64(tp.Offset), end)
		}
	}
	return nil
}

// catchUp reads each partition, one after the other, from r.next up to
// its end as of the start; done is true when Limit was reached.
func (r *reader) catchUp(ctx context.Context, parts []bounds) (done bool, err error) {
	topic := r.o.Topic
	for _, b := range parts {
		if r.next[b.partition] >= b.end {
			continue
		}
		tps := []kafka.TopicPartition{{Topic: &topic, Partition: b.partition, Offset: kafka.Offset(r.next[b.partition])}}
		if err := r.cons.Assign(tps); err != nil {
			return false, fmt.Errorf("topic %s[%d]: assign: %s", topic, b.partition, r.c.scrub(err))
		}
		end := map[int32]int64{b.partition: b.end}
		// Done by position, not by the last offset seen: transaction
		// markers and aborted records take offsets but never arrive.
		for !rdkafka.Reached(r.cons, tps, end) {
			m, err := r.poll(ctx)
			if err != nil {
				return false, err
			}
			if m == nil || int64(m.TopicPartition.Offset) >= b.end {
				continue // nothing yet, or written after the read started
			}
			if done, err := r.handle(ctx, m); done || err != nil {
				return done, err
			}
		}
		r.next[b.partition] = max(r.next[b.partition], b.end)
		if err := r.cons.Unassign(); err != nil {
			return false, fmt.Errorf("topic %s[%d]: unassign: %s", topic, b.partition, r.c.scrub(err))
		}
	}
	return false, nil
}

// follow reads every partition from r.next until ctx ends or Limit.
func (r *reader) follow(ctx context.Context, parts []bounds) error {
	topic := r.o.Topic
	tps := make([]kafka.TopicPartition, 0, len(parts))
	for _, b := range parts {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: b.partition, Offset: kafka.Offset(r.next[b.partition])})
	}
	if err := r.cons.Assign(tps); err != nil {
		return fmt.Errorf("topic %s: assign: %s", topic, r.c.scrub(err))
	}
	for {
		m, err := r.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if done, err := r.handle(ctx, m); done || err != nil {
			return err
		}
	}
}

// poll returns the next record, nil when none came within 100 ms, or an
// error the read cannot go on from.
func (r *reader) poll(ctx context.Context) (*kafka.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch e := r.cons.Poll(100).(type) {
	case *kafka.Message:
		if tp := e.TopicPartition; tp.Error != nil {
			return nil, fmt.Errorf("topic %s[%d]: %s", r.o.Topic, tp.Partition, r.c.scrub(tp.Error))
		}
		return e, nil
	case kafka.Error:
		if e.IsFatal() || e.Code() == kafka.ErrUnknownTopicOrPart {
			return nil, fmt.Errorf("topic %s: %s", r.o.Topic, r.c.scrub(e))
		}
		r.c.opt.log().Warn("browse consumer", "topic", r.o.Topic, "error", r.c.scrub(e))
	}
	return nil, nil
}

// handle passes m on when it matches; done is true once Limit records
// have been.
func (r *reader) handle(ctx context.Context, m *kafka.Message) (done bool, err error) {
	tp := m.TopicPartition
	r.next[tp.Partition] = int64(tp.Offset) + 1
	rec, in := r.decode(ctx, m)
	if r.where != nil {
		ok, err := r.where.Match(in)
		if err != nil {
			return false, &UsageError{Err: fmt.Errorf("where %q at %s[%d]@%d: %w", r.where.Source(), r.o.Topic, tp.Partition, tp.Offset, err)}
		}
		if !ok {
			return false, nil
		}
	}
	if err := r.fn(rec); err != nil {
		return false, err
	}
	r.passed++
	return r.o.Limit > 0 && r.passed >= r.o.Limit, nil
}

// decode returns m as shown and as Where sees it: the key and value
// decoded, or, where they do not decode, as text with the reason in
// DecodeError.
func (r *reader) decode(ctx context.Context, m *kafka.Message) (Record, *record.Record) {
	tp := m.TopicPartition
	out := Record{Topic: r.o.Topic, Partition: tp.Partition, Offset: int64(tp.Offset), Headers: make([]Header, 0, len(m.Headers))}
	if m.TimestampType != kafka.TimestampNotAvailable && m.Timestamp.UnixMilli() > 0 {
		out.Timestamp = m.Timestamp.UTC()
	}
	in := &record.Record{Key: m.Key, Raw: m.Value, Topic: r.o.Topic, Partition: tp.Partition, Offset: int64(tp.Offset), Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, Header{Key: h.Key, Value: text(h.Value)})
		in.Headers = append(in.Headers, record.Header{Key: h.Key, Value: h.Value})
	}
	if r.o.Raw {
		out.RawKey, out.RawValue = m.Key, m.Value
	}
	var problems []error
	if r.key != nil && m.Key != nil {
		dctx, cancel := context.WithTimeout(ctx, r.c.opt.timeout())
		key, err := r.key.DecodeKey(dctx, m.Key)
		cancel()
		if err != nil {
			problems = append(problems, fmt.Errorf("key: %w", err))
			out.RawKey = m.Key
		} else {
			in.Key, in.RawKey = key, m.Key
		}
	}
	if in.Key != nil {
		k := text(in.Key)
		out.Key = &k
	}
	v, err := r.decodeValue(ctx, m.Value)
	if err != nil {
		problems = append(problems, err)
		v = text(m.Value) // shown raw
		out.RawValue = m.Value
	}
	in.Value = v
	js, err := record.JSON.Encode(v)
	if err != nil { // a decoded value JSON cannot hold
		problems = append(problems, fmt.Errorf("as JSON: %w", err))
		js, _ = json.Marshal(text(m.Value))
		out.RawValue = m.Value
	}
	if js == nil {
		js = json.RawMessage("null")
	}
	out.Value = js
	if len(problems) > 0 {
		out.DecodeError = errors.Join(problems...).Error()
	}
	return out, in
}

// decodeValue decodes b with the topic's codec, or as JSON when it parses
// and as text otherwise when the topic has none.
func (r *reader) decodeValue(ctx context.Context, b []byte) (any, error) {
	switch {
	case b == nil:
		return nil, nil
	case r.codecErr != nil:
		return nil, r.codecErr
	case r.value == nil:
		if v, err := record.DecodeJSON(b); err == nil {
			return v, nil
		}
		return text(b), nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opt.timeout())
	defer cancel()
	return r.value.Decode(ctx, b)
}

// text is b as a string, with bytes that are not UTF-8 as \xNN.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return printable.Bytes(b)
}
