package browse

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Topic is one topic with its partitions' offsets. Sizes in bytes are not
// given: the Go client has no DescribeLogDirs.
type Topic struct {
	Name       string      `json:"name"`
	Partitions []Partition `json:"partitions"`
	Records    int64       `json:"records"` // the sum of the partitions'
	Internal   bool        `json:"internal"`
}

// Partition is one partition's offsets. Records is End - Start: transaction
// markers and records compaction removed count too, so it is an upper
// bound.
type Partition struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Records   int64 `json:"records"`
	Leader    int32 `json:"leader"` // broker id, -1 when the partition has none
	// Error says why the offsets are missing (-1), when they are.
	Error string `json:"error,omitempty"`
}

// Topics lists every topic of the cluster, by name, Kafka's own included
// (Internal set).
func (c *Client) Topics(ctx context.Context) ([]Topic, error) {
	md, err := c.base.GetMetadata(nil, true, c.opt.timeoutMs())
	if err != nil {
		return nil, fmt.Errorf("topics: metadata: %s", c.scrub(err))
	}
	var keys []partitionKey
	var out []Topic
	for name, tm := range md.Topics {
		if tm.Error.Code() == kafka.ErrUnknownTopicOrPart || tm.Error.Code() == kafka.ErrUnknownTopic {
			continue // deleted while listed
		}
		t := Topic{Name: name, Internal: c.internal(name), Partitions: make([]Partition, 0, len(tm.Partitions))}
		for _, p := range tm.Partitions {
			t.Partitions = append(t.Partitions, Partition{Partition: p.ID, Start: -1, End: -1, Leader: p.Leader})
			keys = append(keys, partitionKey{name, p.ID})
		}
		slices.SortFunc(t.Partitions, func(a, b Partition) int { return cmp.Compare(a.Partition, b.Partition) })
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Topic) int { return cmp.Compare(a.Name, b.Name) })
	start, err := c.offsets(ctx, keys, kafka.EarliestOffsetSpec)
	if err != nil {
		return nil, err
	}
	end, err := c.offsets(ctx, keys, kafka.LatestOffsetSpec)
	if err != nil {
		return nil, err
	}
	for i := range out {
		t := &out[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			k := partitionKey{t.Name, p.Partition}
			s, e := start[k], end[k]
			switch {
			case s.err != "":
				p.Error = s.err
			case e.err != "":
				p.Error = e.err
			default:
				p.Start, p.End, p.Records = s.offset, e.offset, max(0, e.offset-s.offset)
				t.Records += p.Records
			}
		}
	}
	return out, nil
}

type partitionKey struct {
	topic     string
	partition int32
}

// listed is one partition's answer to ListOffsets.
type listed struct {
	offset int64
	err    string
}

// offsets asks partitions for their offset of spec, as read_uncommitted readers see them: the high
// watermark, for LatestOffsetSpec. A partition's own error is its answer;
// an error of the call is the call's.
func (c *Client) offsets(ctx context.Context, partitions []partitionKey, spec kafka.OffsetSpec) (map[partitionKey]listed, error) {
	out := map[partitionKey]listed{}
	if len(partitions) == 0 {
		return out, nil
	}
	ask := make(map[kafka.TopicPartition]kafka.OffsetSpec, len(partitions))
	for _, k := range partitions {
		ask[kafka.TopicPartition{Topic: &k.topic, Partition: k.partition}] = spec
	}
	actx, cancel := c.adminContext(ctx)
	defer cancel()
	res, err := c.admin.ListOffsets(actx, ask)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %s", c.scrub(err))
	}
	for tp, info := range res.ResultInfos {
		k := partitionKey{*tp.Topic, tp.Partition}
		if info.Error.Code() != kafka.ErrNoError {
			out[k] = listed{offset: -1, err: c.scrub(info.Error)}
			continue
		}
		out[k] = listed{offset: int64(info.Offset)}
	}
	return out, nil
}
