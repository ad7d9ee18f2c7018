package kafkaconf

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
