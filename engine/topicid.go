package engine

import (
	"context"
	"fmt"
	"github.com/conveyor-dev/conveyor/connectors"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// topicIDs asks the cluster for its id and for the ids of topics. A broker
// that keeps no topic ids (before Kafka 2.8) leaves them empty.
func topicIDs(ctx context.Context, a *kafka.AdminClient, topics []string) (map[string]connectors.TopicID, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cluster, err := a.ClusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the cluster id: %w", err)
	}
	res, err := a.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames(topics))
	if err != nil {
		return nil, fmt.Errorf("describe topics %s: %w", strings.Join(topics, ","), err)
	}
	out := make(map[string]connectors.TopicID, len(topics))
	for _, d := range res.TopicDescriptions {
		if d.Error.Code() != kafka.ErrNoError {
			return nil, fmt.Errorf("describe topic %s: %w", d.Name, d.Error)
		}
		id := connectors.TopicID{Cluster: cluster}
		if u := d.TopicID; u.GetMostSignificantBits() != 0 || u.GetLeastSignificantBits() != 0 {
			id.Topic = u.String()
		}
		out[d.Name] = id
	}
	return out, nil
}
