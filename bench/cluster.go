package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// partitions is the partition count of every topic the harness creates.
const partitions = 6

// cluster is the harness's admin view of the broker: topics, end offsets
// and consumer group offsets.
type cluster struct {
	brokers string
	admin   *kafka.AdminClient
}

func newCluster(brokers string) (*cluster, error) {
	a, err := kafka.NewAdminClient(adminConfig(brokers))
	if err != nil {
		return nil, fmt.Errorf("create admin client for %s: %w", brokers, err)
	}
	return &cluster{brokers: brokers, admin: a}, nil
}

func (c *cluster) close() { c.admin.Close() }

// createTopic creates a topic with the harness's partition count and waits
// until every partition has a leader, so timing never includes creation.
func (c *cluster) createTopic(ctx context.Context, name string) error {
	return c.createTopicWith(ctx, name, nil)
}

// createTopicWith is createTopic with topic configs (cleanup.policy...).
func (c *cluster) createTopicWith(ctx context.Context, name string, config map[string]string) error {
	res, err := c.admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: partitions, ReplicationFactor: -1, Config: config}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("create topic %s: %w", name, r.Error)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.endOffsets(ctx, name)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("topic %s has no leaders yet: %w", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteTopics removes topics; the broker frees their disk in the background.
func (c *cluster) deleteTopics(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil // the client panics on an empty request
	}
	res, err := c.admin.DeleteTopics(ctx, names)
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", names, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrUnknownTopicOrPart {
			return fmt.Errorf("delete topic %s: %w", r.Topic, r.Error)
		}
	}
	return nil
}

// deleteGroup removes a finished run's consumer group, so an external
// broker does not collect them.
func (c *cluster) deleteGroup(ctx context.Context, group string) error {
	res, err := c.admin.DeleteConsumerGroups(ctx, []string{group})
	if err != nil {
		return fmt.Errorf("delete consumer group %s: %w", group, err)
	}
	for _, r := range res.ConsumerGroupResults {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrGroupIDNotFound {
			return fmt.Errorf("delete consumer group %s: %w", group, r.Error)
		}
	}
	return nil
}

// endOffsets returns the end offset (high watermark) of each partition of
// topic; with acks=all these records are durable.
func (c *cluster) endOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	end, err := c.listEnd(ctx, topic)
	if err == nil {
		return end, nil
	}
	// The admin client finds leaders in its metadata cache, which can miss
	// a topic created after other topics were deleted ("No leaders found"):
	// refresh it for this topic and ask once more.
	if _, merr := c.admin.GetMetadata(&topic, false, 10000); merr != nil {
		return nil, errors.Join(err, fmt.Errorf("refresh metadata of %s: %w", topic, merr))
	}
	return c.listEnd(ctx, topic)
}

func (c *cluster) listEnd(ctx context.Context, topic string) (map[int32]int64, error) {
	req := make(map[kafka.TopicPartition]kafka.OffsetSpec, partitions)
	for p := range int32(partitions) {
		req[kafka.TopicPartition{Topic: &topic, Partition: p}] = kafka.LatestOffsetSpec
	}
	res, err := c.admin.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	out := make(map[int32]int64, partitions)
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("end offset of %s[%d]: %w", topic, tp.Partition, info.Error)
		}
		out[tp.Partition] = int64(info.Offset)
	}
	return out, nil
}

// committed returns group's committed offsets on topic (partitions without
// a commit are missing).
func (c *cluster) committed(ctx context.Context, group, topic string) (map[int32]int64, error) {
	req := []kafka.ConsumerGroupTopicPartitions{{Group: group}}
	for p := range int32(partitions) {
		req[0].Partitions = append(req[0].Partitions, kafka.TopicPartition{Topic: &topic, Partition: p})
	}
	res, err := c.admin.ListConsumerGroupOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets of group %s: %w", group, err)
	}
	out := map[int32]int64{}
	for _, g := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range g.Partitions {
			if tp.Error != nil {
				return nil, fmt.Errorf("offset of group %s on %s[%d]: %w", group, topic, tp.Partition, tp.Error)
			}
			if tp.Offset >= 0 {
				out[tp.Partition] = int64(tp.Offset)
			}
		}
	}
	return out, nil
}

// groupAssigned reports whether group is stable and its members hold the
// partitions of a topic the harness created.
func (c *cluster) groupAssigned(ctx context.Context, group string) (bool, error) {
	res, err := c.admin.DescribeConsumerGroups(ctx, []string{group})
	if err != nil {
		return false, fmt.Errorf("describe consumer group %s: %w", group, err)
	}
	if len(res.ConsumerGroupDescriptions) != 1 {
		return false, fmt.Errorf("describe consumer group %s: %d descriptions", group, len(res.ConsumerGroupDescriptions))
	}
	d := res.ConsumerGroupDescriptions[0]
	if d.Error.Code() != kafka.ErrNoError {
		return false, fmt.Errorf("describe consumer group %s: %w", group, d.Error)
	}
	if d.State != kafka.ConsumerGroupStateStable {
		return false, nil
	}
	n := 0
	for _, m := range d.Members {
		n += len(m.Assignment.TopicPartitions)
	}
	return n >= partitions, nil
}

func sum(offsets map[int32]int64) int64 {
	var s int64
	for _, o := range offsets {
		s += o
	}
	return s
}

// caughtUp reports whether committed holds end for every non-empty partition.
func caughtUp(committed, end map[int32]int64) bool {
	for p, e := range end {
		if e > 0 && committed[p] != e {
			return false
		}
	}
	return true
}
