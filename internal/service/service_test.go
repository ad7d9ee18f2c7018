package service_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/jackc/pgx/v5"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

func TestMain(m *testing.M) { os.Exit(service.Main(m)) }

// The three tests run in parallel: their services start at the same time.

func TestKafka(t *testing.T) {
	t.Parallel()
	brokers := service.Kafka(t)
	if n := clusterSize(t, brokers); n != 1 {
		t.Fatalf("metadata lists %d brokers at %s, want 1", n, brokers)
	}
	topic := fmt.Sprintf("service-test-%d", time.Now().UnixNano())
	createTopic(t, brokers, topic, 1) // RF 1: the single-node default
	produce(t, brokers, topic, "hello")
	if got := consume(t, brokers, topic, 1); got[0] != "hello" {
		t.Fatalf("consumed %q, want hello", got)
	}
}

// SecondKafka is another cluster than Kafka: its own cluster id and
// topics.
func TestSecondKafka(t *testing.T) {
	t.Parallel()
	one, two := service.Kafka(t), service.SecondKafka(t)
	if one == two {
		t.Fatalf("SecondKafka gave Kafka's address %s", one)
	}
	if a, b := clusterID(t, one), clusterID(t, two); a == b {
		t.Fatalf("both brokers are of cluster %s", a)
	}
	topic := fmt.Sprintf("service-second-%d", time.Now().UnixNano())
	createTopic(t, two, topic, 1)
	produce(t, two, topic, "over there")
	if got := consume(t, two, topic, 1); got[0] != "over there" {
		t.Fatalf("consumed %q, want over there", got)
	}
}

func clusterID(t *testing.T, brokers string) string {
	t.Helper()
	a, err := kafka.NewAdminClient(config(brokers, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := a.ClusterID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A partition with RF 3 and min.insync.replicas 2 stays writable with
// acks=all while its leader is dead, and the leader rejoins.
func TestKafkaClusterLeaderFailover(t *testing.T) {
	t.Parallel()
	c := service.KafkaCluster(t)
	if n := clusterSize(t, c.Brokers()); n != 3 {
		t.Fatalf("metadata lists %d brokers at %s, want 3", n, c.Brokers())
	}
	topic := fmt.Sprintf("failover-%d", time.Now().UnixNano())
	createTopic(t, c.Brokers(), topic, 3)
	produce(t, c.Brokers(), topic, "before")
	leader, err := c.Leader(topic, 0)
	if err != nil || leader < 1 {
		t.Fatalf("leader of %s/0: %d, %v", topic, leader, err)
	}
	if err := c.KillNode(leader); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = c.StartNode(leader)
		}
	})
	produce(t, c.Brokers(), topic, "during")
	if now, err := c.Leader(topic, 0); err != nil || now == leader {
		t.Fatalf("leader after killing node %d: %d, %v", leader, now, err)
	}
	if err := c.StartNode(leader); err != nil {
		t.Fatal(err)
	}
	restarted = true
	produce(t, c.Brokers(), topic, "after")
	got := consume(t, c.Brokers(), topic, 3)
	if fmt.Sprint(got) != "[before during after]" {
		t.Fatalf("consumed %q, want [before during after]", got)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	dsn := service.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d, %v", one, err)
	}
	// A committed row survives a crash restart (the server runs with fsync on).
	if _, err := conn.Exec(ctx, "CREATE TABLE service_test (v text); INSERT INTO service_test VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	service.RestartPostgres(t)
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("the old connection still works after a restart")
	}
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM service_test").Scan(&v); err != nil || v != "kept" {
		t.Fatalf("row after restart: %q, %v", v, err)
	}
}

// librdkafka logs every refused connection to a killed node; those are expected.
func config(brokers string, extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{"bootstrap.servers": brokers, "enable.metrics.push": false, "log_level": 2}
	for k, v := range extra {
		cm[k] = v
	}
	return &cm
}

func clusterSize(t *testing.T, brokers string) int {
	t.Helper()
	admin, ctx, done := kafkatest.Admin(t, brokers, 30*time.Second)
	defer done()
	res, err := admin.DescribeCluster(ctx)
	if err != nil {
		t.Fatalf("describe cluster at %s: %v", brokers, err)
	}
	return len(res.Nodes)
}

func createTopic(t *testing.T, brokers, topic string, rf int) {
	t.Helper()
	admin, ctx, done := kafkatest.Admin(t, brokers, 30*time.Second)
	defer done()
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: rf}})
	if err == nil && res[0].Error.Code() != kafka.ErrNoError {
		err = res[0].Error
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produce writes one message with acks=all and waits for its delivery.
func produce(t *testing.T, brokers, topic, value string) {
	t.Helper()
	p, err := kafka.NewProducer(config(brokers, kafka.ConfigMap{
		"acks": "all", "enable.idempotence": true, "message.timeout.ms": 60000,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan kafka.Event, 1)
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(value)}
	if err := p.Produce(msg, done); err != nil {
		t.Fatalf("produce %q: %v", value, err)
	}
	select {
	case ev := <-done:
		if m := ev.(*kafka.Message); m.TopicPartition.Error != nil {
			t.Fatalf("deliver %q to %s: %v", value, topic, m.TopicPartition.Error)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("deliver %q to %s: no report after 90s", value, topic)
	}
}

func consume(t *testing.T, brokers, topic string, n int) []string {
	t.Helper()
	c, err := kafka.NewConsumer(config(brokers, kafka.ConfigMap{
		"group.id": topic, "auto.offset.reset": "earliest", "enable.auto.commit": false,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		m, err := c.ReadMessage(time.Second)
		if err != nil {
			if ke, ok := err.(kafka.Error); ok && ke.IsTimeout() {
				continue
			}
			t.Fatalf("consume %s: %v", topic, err)
		}
		got = append(got, string(m.Value))
	}
	if len(got) < n {
		t.Fatalf("consumed %d of %d messages from %s in 60s: %q", len(got), n, topic, got)
	}
	return got
}
