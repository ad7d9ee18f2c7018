package rdkafka_test

import (
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// canaryRE finds a canary secret: every secret below holds one.
var canaryRE = regexp.MustCompile(`SECRETK\d+`)

// TestCanaryKafkaSecrets runs real librdkafka producers whose SASL
// secrets are canaries against a broker that refuses them (SASL PLAIN with
// another password), one that does not speak SASL, and nothing at all,
// and with an OAUTHBEARER config librdkafka cannot parse and quotes back.
// No log line, delivery error, client error or config dump may show a
// canary, or a part of one.
func TestCanaryKafkaSecrets(t *testing.T) {
	sasl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right"))
	if err != nil {
		t.Fatal(err)
	}
	defer sasl.Close()
	plain, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	plainSASL := map[string]string{
		"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN", "sasl.username": "admin",
		"sasl.password": "PW@SECRETK1 x", "ssl.key.password": "SECRETK2", "sasl.pasword": "SECRETK3",
	}
	oauth := map[string]string{
		"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "OAUTHBEARER",
		"sasl.oauthbearer.config": "principal=admin scope=all clientSecret=SECRETK4 bogus", "enable.sasl.oauthbearer.unsecure.jwt": "true",
	}
	for _, tc := range []struct {
		name, brokers string
		config        map[string]string
	}{
		{"wrong password", sasl.ListenAddrs()[0], plainSASL},
		{"broker without SASL", plain.ListenAddrs()[0], plainSASL},
		{"nothing listening", closed, plainSASL},
		{"unparsable oauthbearer config", plain.ListenAddrs()[0], oauth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{"message.timeout.ms": "1500", "reconnect.backoff.max.ms": "200", "debug": "security,broker"}
			for k, v := range tc.config {
				cfg[k] = v
			}
			cm := rdkafka.Build(rdkafka.Producer, tc.brokers, cfg, nil, nil)
			// A debug dump of the config shows even a misspelt property,
			// which librdkafka would refuse.
			printed := []string{rdkafka.Redacted(cm)}
			delete(cm, "sasl.pasword")
			var out runnertest.SyncBuffer
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p, err := kafka.NewProducer(&cm)
			if err != nil {
				printed = append(printed, rdkafka.Scrub(cm, err.Error()))
			} else {
				logsDone := make(chan struct{})
				go func() { rdkafka.Logs(p.Logs(), cm, log); close(logsDone) }()
				topic := "t"
				if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: []byte("v")}, nil); err != nil {
					printed = append(printed, rdkafka.Scrub(cm, err.Error()))
				}
				// The message fails after message.timeout.ms; errors
				// come as events meanwhile.
				deadline := time.After(30 * time.Second)
			events:
				for {
					select {
					case ev := <-p.Events():
						switch e := ev.(type) {
						case *kafka.Message:
							printed = append(printed, rdkafka.Scrub(cm, e.TopicPartition.String()))
							break events
						case kafka.Error:
							printed = append(printed, rdkafka.Scrub(cm, e.Error()))
						}
					case <-deadline:
						t.Fatal("no delivery report within 30s")
					}
				}
				p.Close()
				<-logsDone
				printed = append(printed, out.String())
			}
			all := strings.Join(printed, "\n")
			if leak := canaryRE.FindString(all); leak != "" {
				t.Errorf("%s shows in what the runner would print:\n%s", leak, all)
			}
			t.Logf("%d bytes of logs and errors checked", len(all))
		})
	}
}
