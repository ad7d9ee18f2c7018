package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/kafka/embedded"
)

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndReadiness starts a runner before its broker exists:
// /healthz answers at once, /readyz says not ready until the consumer has
// its assignment, and after a known run /metrics counts exactly what went
// through.
func TestMetricsAndReadiness(t *testing.T) {
	brokerAddr, metricsAddr := runnertest.FreeAddr(t), runnertest.FreeAddr(t)
	cfg := filepath.Join(t.TempDir(), "m.yaml")
	pipeline := `pipeline: watched
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {session.timeout.ms: "6000", statistics.interval.ms: "1000"}
transforms:
  evens:
    from: numbers
    steps:
      - filter: n % 2 == 0
    to: evens
`
	if err := os.WriteFile(cfg, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokerAddr, "CONVEYOR_METRICS_ADDR="+metricsAddr)
	base := "http://" + metricsAddr
	deadline := time.Now().Add(30 * time.Second)
	for code, _ := get(base + "/healthz"); code != http.StatusOK; code, _ = get(base + "/healthz") {
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered; stderr:\n%s", p.Stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(base + "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "watched/evens") {
		t.Fatalf("/readyz without a broker: %d %q, want 503 naming watched/evens", code, body)
	}

	b, err := embedded.Start(brokerAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kafkatest.CreateTopic(t, brokerAddr, "numbers", 2)
	for code, body := get(base + "/readyz"); code != http.StatusOK; code, body = get(base + "/readyz") {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("/readyz stayed %d %q once the broker was up; stderr:\n%s", code, body, p.Stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	var msgs []*kafka.Message
	for i := range 100 {
		msgs = append(msgs, kafkatest.Message("numbers", []byte(strconv.Itoa(i%7)), fmt.Appendf(nil, `{"n":%d}`, i)))
	}
	kafkatest.Produce(t, brokerAddr, msgs)
	if !kafkatest.WaitCommitted(t, brokerAddr, "watched.evens", "numbers", 100, 60*time.Second) {
		t.Fatalf("the stage did not commit its input; stderr:\n%s", p.Stderr.String())
	}
	want := map[string]string{
		`conveyor_records_in_total{pipeline="watched",stage="evens"}`:                           "100",
		`conveyor_records_out_total{pipeline="watched",stage="evens"}`:                          "50",
		`conveyor_records_filtered_total{pipeline="watched",stage="evens"}`:                     "50",
		`conveyor_records_dead_lettered_total{pipeline="watched",stage="evens"}`:                "0",
		`conveyor_stage_ready{pipeline="watched",stage="evens"}`:                                "1",
		`conveyor_consumer_lag{partition="0",pipeline="watched",stage="evens",topic="numbers"}`: "0",
		`conveyor_consumer_lag{partition="1",pipeline="watched",stage="evens",topic="numbers"}`: "0",
	}
	var body string
	for {
		_, body = get(base + "/metrics")
		missing := ""
		for series, v := range want {
			if !regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + " " + regexp.QuoteMeta(v) + "$").MatchString(body) {
				missing = series + " " + v
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("/metrics lacks %q; got:\n%s", missing, grepConveyor(body))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range []string{"conveyor_batch_duration_seconds_count", "conveyor_producer_queue_messages", "conveyor_stage_info"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}
}

func grepConveyor(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "conveyor_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
