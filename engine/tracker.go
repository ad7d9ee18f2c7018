package engine

import (
	"sync"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// tracker follows the records a consuming stage has read and tells which
// offsets are safe to commit: per partition, the offset after the longest
// run of records whose every output is durable. Outputs are confirmed out of
// order (delivery reports from different output partitions, dead letters),
// so a record's offset is safe only when every earlier record is done too.
type tracker struct {
	mu    sync.Mutex
	parts map[partitionKey]*partition
	// durable remembers, per released partition, the offset up to which
	// every record's effect was durable, so a partition that comes back after
	// a lost assignment need not be processed again from an older commit.
	// The detached partition objects are kept: outputs in flight at release
	// still land on them and move their watermark on.
	durable map[partitionKey]*partition
}

type partitionKey struct {
	topic string
	part  int32
}

// partition is the in-flight window of one assigned partition. When the
// partition is revoked the object is detached from the tracker; late
// confirmations then land on the detached object and change nothing.
type partition struct {
	t        *tracker
	key      partitionKey
	entries  []*entry // read order; entries[0] is the oldest not yet released
	next     int64    // offset to commit: one past the last done run
	stored   int64    // offset last handed to the consumer
	detached bool
}

// entry is one input record and how many of its effects are outstanding.
type entry struct {
	p       *partition
	offset  int64
	pending int
}

func newTracker() *tracker {
	return &tracker{parts: map[partitionKey]*partition{}, durable: map[partitionKey]*partition{}}
}

// add registers a record read from topic/part at offset, with one
// outstanding effect (the caller adds more with hold before releasing it).
func (t *tracker) add(topic string, part int32, offset int64) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := partitionKey{topic, part}
	p := t.parts[k]
	if p == nil {
		p = &partition{t: t, key: k, next: -1, stored: -1}
		t.parts[k] = p
	}
	e := &entry{p: p, offset: offset, pending: 1}
	p.entries = append(p.entries, e)
	return e
}

// hold adds n outstanding effects to e.
func (t *tracker) hold(e *entry, n int) {
	t.mu.Lock()
	e.pending += n
	t.mu.Unlock()
}

// done marks one effect of e durable.
func (t *tracker) done(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.pending--
	if e.pending > 0 {
		return
	}
	p := e.p
	i := 0
	for i < len(p.entries) && p.entries[i].pending <= 0 {
		p.next = p.entries[i].offset + 1
		i++
	}
	if i > 0 {
		clear(p.entries[:i])
		p.entries = p.entries[i:]
	}
}

// delivered marks one output of the record durable (see acker).
func (e *entry) delivered() { e.p.t.done(e) }

// live reports whether e's partition is still assigned to this process.
func (t *tracker) live(e *entry) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !e.p.detached
}

// commitable returns the offsets that advanced since the last call.
func (t *tracker) commitable() []kafka.TopicPartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []kafka.TopicPartition
	for _, p := range t.parts {
		if p.next > p.stored {
			topic := p.key.topic
			out = append(out, kafka.TopicPartition{Topic: &topic, Partition: p.key.part, Offset: kafka.Offset(p.next)})
			p.stored = p.next
		}
	}
	return out
}

// pending counts records read but not yet done, in the given partitions
// (all partitions when parts is nil).
func (t *tracker) pending(parts []kafka.TopicPartition) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	if parts == nil {
		for _, p := range t.parts {
			n += len(p.entries)
		}
		return n
	}
	for _, tp := range parts {
		if p := t.parts[partitionKey{*tp.Topic, tp.Partition}]; p != nil {
			n += len(p.entries)
		}
	}
	return n
}

// release forgets the given partitions (all when nil), after a revoke.
func (t *tracker) release(parts []kafka.TopicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	drop := func(k partitionKey, p *partition) {
		p.detached = true
		t.durable[k] = p
		delete(t.parts, k)
	}
	if parts == nil {
		for k, p := range t.parts {
			drop(k, p)
		}
		return
	}
	for _, tp := range parts {
		k := partitionKey{*tp.Topic, tp.Partition}
		if p := t.parts[k]; p != nil {
			drop(k, p)
		}
	}
}

// resume returns, for the given partitions, the offsets this process had
// made durable before it last let them go.
func (t *tracker) resume(parts []kafka.TopicPartition) map[partitionKey]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[partitionKey]int64{}
	for _, tp := range parts {
		k := partitionKey{*tp.Topic, tp.Partition}
		if p, ok := t.durable[k]; ok && p.next >= 0 {
			out[k] = p.next
		}
	}
	return out
}

// skipTo moves the commit offset of each idle partition (every record read
// is done) up to the consumer's position. The position steps over
// transaction markers, which are never handed to the application: without
// this, a stage reading a transactional topic would commit one short of the
// end for ever and show a lag of 1. Call it only from the poll loop that
// adds records, between polls, so no record sits between the position and
// the tracker (never while closing: see offsetDelivery.stepOverGaps).
func (t *tracker) skipTo(positions []kafka.TopicPartition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tp := range positions {
		p := t.parts[partitionKey{*tp.Topic, tp.Partition}]
		if p == nil || len(p.entries) > 0 || p.next < 0 || tp.Offset < 0 {
			continue
		}
		p.next = max(p.next, int64(tp.Offset))
	}
}
