package rdkafka

import (
	"strings"
	"testing"
)

func TestBuildLayersAndForces(t *testing.T) {
	global := map[string]string{"linger.ms": "50", "acks": "1", "sasl.password": "hunter2", "compression.type": "zstd"}
	stage := map[string]string{"linger.ms": "5"}
	p := Build(Producer, "b:9092", global, stage, nil)
	for k, want := range map[string]any{
		"bootstrap.servers": "b:9092", "linger.ms": "5", "acks": "all", "enable.idempotence": "true",
		"compression.type": "zstd", "go.delivery.reports": true, "enable.metrics.push": "false",
	} {
		if p[k] != want {
			t.Errorf("producer %s = %#v, want %#v", k, p[k], want)
		}
	}
	c := Build(Consumer, "b:9092", global, map[string]string{"enable.auto.offset.store": "true"}, map[string]string{"group.id": "g"})
	for k, want := range map[string]any{"group.id": "g", "enable.auto.offset.store": "false", "enable.auto.commit": "true"} {
		if c[k] != want {
			t.Errorf("consumer %s = %#v, want %#v", k, c[k], want)
		}
	}
	for _, k := range []string{"linger.ms", "go.delivery.reports", "compression.type"} {
		if _, ok := c[k]; ok {
			t.Errorf("consumer has producer property %s", k)
		}
	}
	a := Build(Admin, "b:9092", nil, nil, nil)
	if _, ok := a["go.logs.channel.enable"]; ok {
		t.Error("admin config must not ask for a logs channel")
	}
}

func TestRedaction(t *testing.T) {
	cm := Build(Producer, "b:9092", map[string]string{
		"sasl.password": "hunter2", "sasl.username": "alice", "ssl.keystore.password": "ks-secret",
		"sasl.jaas.config": "user=bob password=pw", "sasl.oauthbearer.client.secret": "oauth-xyz",
	}, nil, nil)
	out := Redacted(cm)
	for _, secret := range []string{"hunter2", "ks-secret", "password=pw", "oauth-xyz"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted leaks %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "sasl.username=alice") || !strings.Contains(out, "sasl.password=[redacted]") {
		t.Errorf("Redacted: %s", out)
	}
	msg := Scrub(cm, `auth failed for alice with password hunter2 (ks-secret)`)
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "ks-secret") || !strings.Contains(msg, "alice") {
		t.Errorf("Scrub: %s", msg)
	}
}

// TestJavaCompatiblePartitioner: every producer hashes keys as Kafka's Java
// producer does unless the files say otherwise; other clients get no
// producer property.
func TestJavaCompatiblePartitioner(t *testing.T) {
	if got := Build(Producer, "b:9092", nil, nil, nil)["partitioner"]; got != "murmur2_random" {
		t.Errorf("default partitioner %#v, want murmur2_random", got)
	}
	// Exactly-once producers are built with extra settings on top.
	if got := Build(Producer, "b:9092", nil, nil, map[string]string{"transactional.id": "x"})["partitioner"]; got != "murmur2_random" {
		t.Errorf("transactional producer partitioner %#v, want murmur2_random", got)
	}
	if got := Build(Producer, "b:9092", map[string]string{"partitioner": "consistent_random"}, nil, nil)["partitioner"]; got != "consistent_random" {
		t.Errorf("pipeline's partitioner: got %#v", got)
	}
	if got := Build(Producer, "b:9092", map[string]string{"partitioner": "random"}, map[string]string{"partitioner": "fnv1a"}, nil)["partitioner"]; got != "fnv1a" {
		t.Errorf("stage's partitioner: got %#v", got)
	}
	for _, role := range []Role{Consumer, Admin} {
		if v, ok := Build(role, "b:9092", nil, nil, nil)["partitioner"]; ok {
			t.Errorf("role %d has partitioner %v", role, v)
		}
	}
}
