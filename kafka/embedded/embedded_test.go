package embedded

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TestIdentities: each broker is a cluster of its own, and its topics have
// ids, so that offsets stored outside it (a SQL sink's) by an earlier run
// are told apart from its topics.
func TestIdentities(t *testing.T) {
	ids := map[string]bool{}
	for range 2 {
		b, err := Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": b.Addr(), "enable.metrics.push": false, "log_level": 2})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cluster, err := a.ClusterID(ctx)
		if err != nil || !strings.HasPrefix(cluster, "embedded-") || ids[cluster] {
			t.Fatalf("cluster id %q (%v): want a new one starting embedded-", cluster, err)
		}
		ids[cluster] = true
		if _, err := a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: "t", NumPartitions: 1, ReplicationFactor: 1}}); err != nil {
			t.Fatal(err)
		}
		res, err := a.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{"t"}))
		if err != nil || len(res.TopicDescriptions) != 1 {
			t.Fatalf("describe: %v %v", res, err)
		}
		id := res.TopicDescriptions[0].TopicID
		if id.GetMostSignificantBits() == 0 && id.GetLeastSignificantBits() == 0 || ids[id.String()] {
			t.Fatalf("topic id %s: want a new, non-zero one", id)
		}
		ids[id.String()] = true
	}
}
