package topic_test

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/kafka/topic"
)

func TestEnsure(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, brokers, "existing", 2)
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": brokers, "enable.metrics.push": false})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	specs := []topic.Spec{
		{Name: "existing", Partitions: 3, ReplicationFactor: -1},
		{Name: "fresh", Partitions: 4, ReplicationFactor: -1, Config: map[string]string{"cleanup.policy": "compact"}},
	}
	mismatches, err := topic.Ensure(ctx, admin, specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(mismatches) != 1 || mismatches[0] != (topic.Mismatch{Name: "existing", Want: 3, Have: 2}) {
		t.Fatalf("mismatches = %+v", mismatches)
	}
	md, err := admin.GetMetadata(nil, true, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(md.Topics["existing"].Partitions); n != 2 {
		t.Errorf("existing topic changed to %d partitions", n)
	}
	if n := len(md.Topics["fresh"].Partitions); n != 4 {
		t.Errorf("fresh topic has %d partitions, want 4", n)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := admin.DescribeConfigs(dctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: "fresh"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res[0].Config["cleanup.policy"].Value; got != "compact" {
		t.Errorf("cleanup.policy = %q, want compact", got)
	}
	// A second run changes nothing and reports the same mismatch.
	again, err := topic.Ensure(ctx, admin, specs)
	if err != nil || len(again) != 1 {
		t.Fatalf("second Ensure: %+v, %v", again, err)
	}
}
