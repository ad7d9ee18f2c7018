package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
)

// TestDLQCommand runs `runner dlq inspect` and `runner dlq replay` against
// the embedded broker: flags, KAFKA_BROKERS, output and exit statuses.
func TestDLQCommand(t *testing.T) {
	brokers := kafkatest.Embedded(t)
	const dlq, to = "orders-dlq", "orders"
	kafkatest.CreateTopic(t, brokers, dlq, 1)
	kafkatest.CreateTopic(t, brokers, to, 1)
	var msgs []*kafka.Message
	for i := range 4 {
		step := "steps[0].assert"
		if i%2 == 1 {
			step = "decode"
		}
		m := kafkatest.Message(dlq, fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, `{"n":%d}`, i),
			kafka.Header{Key: engine.HeaderPipeline, Value: []byte("orders")},
			kafka.Header{Key: engine.HeaderStage, Value: []byte("price")},
			kafka.Header{Key: engine.HeaderStep, Value: []byte(step)},
			kafka.Header{Key: engine.HeaderMessage, Value: []byte("bad")})
		m.Timestamp = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		msgs = append(msgs, m)
	}
	kafkatest.Produce(t, brokers, msgs)
	t.Setenv("KAFKA_BROKERS", brokers)

	runner := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != want {
			t.Fatalf("runner %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}

	out := runner(exitOK, "dlq", "inspect", dlq, "--log-level", "warn")
	for _, want := range []string{"0@0  2026-01-02T03:04:05.000Z  k0   orders/price", "steps[0].assert", `{"n":3}`, "4 dead letter(s) in orders-dlq"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if out := runner(exitOK, "dlq", "inspect", dlq, "--format", "json", "--limit", "1"); strings.Count(out, "\n") != 1 || !strings.Contains(out, `"conveyor.error.step":"steps[0].assert"`) {
		t.Errorf("inspect --format json --limit 1:\n%s", out)
	}
	if out := runner(exitFailed, "dlq", "inspect", "nope"); !strings.Contains(out, "topic nope does not exist") {
		t.Errorf("missing topic: %s", out)
	}

	where := `_headers["conveyor.error.step"] == "decode"`
	if out := runner(exitOK, "dlq", "replay", "--from", dlq, "--to", to, "--where", where, "--dry-run"); !strings.Contains(out, "dry run: read 4, would replay 2, would skip 2") {
		t.Errorf("dry run: %s", out)
	}
	if out := runner(exitOK, "dlq", "replay", "--from", dlq, "--to", to, "--where", where); !strings.Contains(out, "read 4, replayed 2, skipped 2") {
		t.Errorf("replay: %s", out)
	}
	if out := runner(exitOK, "dlq", "replay", "--from", dlq, "--to", to); !strings.Contains(out, "read 0, replayed 0, skipped 0") {
		t.Errorf("second replay: %s", out)
	}
	if got := kafkatest.ReadAll(t, brokers, to, 30*time.Second); len(got) != 2 {
		t.Errorf("%s has %d records, want 2", to, len(got))
	}

	runner(exitUsage, "dlq", "replay", "--from", dlq, "--to", to, "--where", "n >")
	runner(exitUsage, "dlq", "replay", "--from", dlq)
	runner(exitUsage, "dlq", "inspect", dlq, "--config", "no-equals-sign")
	t.Setenv("KAFKA_BROKERS", "")
	runner(exitUsage, "dlq", "inspect", dlq)
}
