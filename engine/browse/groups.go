package browse

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// GroupSummary is one consumer group in a list.
type GroupSummary struct {
	Group   string `json:"group"`
	State   string `json:"state"`   // as Kafka names it: Stable, Empty, PreparingRebalance...
	Members int    `json:"members"` // how many
	Lag     int64  `json:"lag"`     // records past the committed offsets, summed over its partitions
}

// Group is one consumer group in detail.
type Group struct {
	Group   string        `json:"group"`
	State   string        `json:"state"`
	Members []Member      `json:"members"`
	Offsets []GroupOffset `json:"offsets"` // the partitions it committed offsets for
}

// Member is one member of a group and the partitions it was assigned.
type Member struct {
	MemberID   string           `json:"member_id"`
	ClientID   string           `json:"client_id"`
	Host       string           `json:"host"`
	InstanceID string           `json:"instance_id,omitempty"` // group.instance.id, static members only
	Assignment []TopicPartition `json:"assignment"`
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// GroupOffset is a group's committed offset of one partition, the
// partition's end (high watermark) and the difference.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"` // -1 when the partition did not answer
	Lag       int64  `json:"lag"`
}

// Groups lists every consumer group of the cluster, by name.
func (c *Client) Groups(ctx context.Context) ([]GroupSummary, error) {
	actx, cancel := c.adminContext(ctx)
	res, err := c.admin.ListConsumerGroups(actx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %s", c.scrub(err))
	}
	ids := make([]string, 0, len(res.Valid))
	for _, g := range res.Valid {
		ids = append(ids, g.GroupID)
	}
	return c.GroupsOf(ctx, ids)
}

// GroupsOf lists the consumer groups ids (a pipeline's, say), by name; one
// that does not exist is left out.
func (c *Client) GroupsOf(ctx context.Context, ids []string) ([]GroupSummary, error) {
	if len(ids) == 0 {
		return []GroupSummary{}, nil
	}
	descs, err := c.describe(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]GroupSummary, 0, len(descs))
	for _, d := range descs {
		if d.Error.Code() == kafka.ErrGroupIDNotFound {
			continue
		}
		offsets, err := c.groupOffsets(ctx, d.GroupID)
		if err != nil {
			return nil, err
		}
		if d.State == kafka.ConsumerGroupStateDead && len(d.Members) == 0 && len(offsets) == 0 {
			continue
		}
		s := GroupSummary{Group: d.GroupID, State: d.State.String(), Members: len(d.Members)}
		for _, o := range offsets {
			s.Lag += o.Lag
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b GroupSummary) int { return cmp.Compare(a.Group, b.Group) })
	return out, nil
}

// Group describes group id: its members with their assignments and its
// committed offsets with their lag. An unknown group is ErrNoGroup.
func (c *Client) Group(ctx context.Context, id string) (Group, error) {
	descs, err := c.describe(ctx, []string{id})
	if err != nil {
		return Group{}, err
	}
	if len(descs) != 1 || descs[0].Error.Code() == kafka.ErrGroupIDNotFound {
		return Group{}, fmt.Errorf("group %s: %w", id, ErrNoGroup)
	}
	d := descs[0]
	offsets, err := c.groupOffsets(ctx, id)
	if err != nil {
		return Group{}, err
	}
	if d.State == kafka.ConsumerGroupStateDead && len(d.Members) == 0 && len(offsets) == 0 {
		return Group{}, fmt.Errorf("group %s: %w", id, ErrNoGroup)
	}
	g := Group{Group: id, State: d.State.String(), Members: make([]Member, 0, len(d.Members)), Offsets: offsets}
	for _, m := range d.Members {
		mb := Member{MemberID: m.ConsumerID, ClientID: m.ClientID, Host: m.Host, InstanceID: m.GroupInstanceID, Assignment: []TopicPartition{}}
		for _, tp := range m.Assignment.TopicPartitions {
			mb.Assignment = append(mb.Assignment, TopicPartition{Topic: topicOf(tp), Partition: tp.Partition})
		}
		slices.SortFunc(mb.Assignment, compareTopicPartition)
		g.Members = append(g.Members, mb)
	}
	slices.SortFunc(g.Members, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.MemberID, b.MemberID))
	})
	return g, nil
}

// describe describes groups; an error of one group is the call's, but a
// group that does not exist is left to the caller.
func (c *Client) describe(ctx context.Context, ids []string) ([]kafka.ConsumerGroupDescription, error) {
	actx, cancel := c.adminContext(ctx)
	defer cancel()
	res, err := c.admin.DescribeConsumerGroups(actx, ids)
	if err != nil {
		return nil, fmt.Errorf("describe consumer groups: %s", c.scrub(err))
	}
	for _, d := range res.ConsumerGroupDescriptions {
		if code := d.Error.Code(); code != kafka.ErrNoError && code != kafka.ErrGroupIDNotFound {
			return nil, fmt.Errorf("group %s: %s", d.GroupID, c.scrub(d.Error))
		}
	}
	return res.ConsumerGroupDescriptions, nil
}

// groupOffsets returns group's committed offsets with the partitions'
// ends and the lag, by topic and partition.
func (c *Client) groupOffsets(ctx context.Context, group string) ([]GroupOffset, error) {
	actx, cancel := c.adminContext(ctx)
	res, err := c.admin.ListConsumerGroupOffsets(actx, []kafka.ConsumerGroupTopicPartitions{{Group: group}})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("group %s: committed offsets: %s", group, c.scrub(err))
	}
	out := []GroupOffset{}
	var keys []partitionKey
	for _, g := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range g.Partitions {
			if tp.Error != nil {
				return nil, fmt.Errorf("group %s: committed offset of %s[%d]: %s", group, topicOf(tp), tp.Partition, c.scrub(tp.Error))
			}
			if tp.Offset < 0 {
				continue // nothing committed
			}
			out = append(out, GroupOffset{Topic: topicOf(tp), Partition: tp.Partition, Committed: int64(tp.Offset)})
			keys = append(keys, partitionKey{topicOf(tp), tp.Partition})
		}
	}
	ends, err := c.offsets(ctx, keys, kafka.LatestOffsetSpec)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", group, err)
	}
	for i := range out {
		o := &out[i]
		o.End = -1
		if e, ok := ends[partitionKey{o.Topic, o.Partition}]; ok && e.err == "" {
			o.End, o.Lag = e.offset, max(0, e.offset-o.Committed)
		}
	}
	slices.SortFunc(out, func(a, b GroupOffset) int {
		return compareTopicPartition(TopicPartition{a.Topic, a.Partition}, TopicPartition{b.Topic, b.Partition})
	})
	return out, nil
}

func compareTopicPartition(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

func topicOf(tp kafka.TopicPartition) string {
	if tp.Topic == nil {
		return ""
	}
	return *tp.Topic
}
