package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// tapFixture writes five records to a new two-partition topic: partition 0
// holds k0 {"n":0,"kind":"a"}, k1 {"n":1,"kind":"b"} (header h=x) and k2
// "not json"; partition 1 holds k3 {"n":10,"kind":"b"} and a tombstone k4.
// Record i is stamped 2026-01-02T03:04:05Z + i seconds.
func tapFixture(t *testing.T, brokers string) string {
	t.Helper()
	topic := fmt.Sprintf("tap-%d", time.Now().UnixNano())
	kafkatest.CreateTopic(t, brokers, topic, 2)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	values := []string{`{"n":0,"kind":"a"}`, `{"n":1,"kind":"b"}`, "not json", `{"n":10,"kind":"b"}`, ""}
	var msgs []*kafka.Message
	for i, v := range values {
		m := kafkatest.Message(topic, fmt.Appendf(nil, "k%d", i), []byte(v))
		if v == "" {
			m.Value = nil
		}
		m.TopicPartition.Partition = int32(i / 3)
		if i == 1 {
			m.Headers = []kafka.Header{{Key: "h", Value: []byte("x")}}
		}
		m.Timestamp = base.Add(time.Duration(i) * time.Second)
		msgs = append(msgs, m)
	}
	kafkatest.Produce(t, brokers, msgs)
	return topic
}

// TestTap runs `runner tap` against the real broker: from the beginning
// with a limit (golden file), --where, --format json, pipeline files for
// the brokers and formats, and the mistakes it refuses.
func TestTap(t *testing.T) {
	brokers := service.Kafka(t)
	topic := tapFixture(t, brokers)
	t.Setenv("KAFKA_BROKERS", brokers)
	tap := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"tap", "--log-level", "warn"}, args...), &stdout, &stderr); code != want {
			t.Fatalf("runner tap %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
		}
		if want != exitOK {
			return stderr.String()
		}
		return strings.ReplaceAll(stdout.String(), topic, "TOPIC")
	}

	// Follows, but stops at the limit: the five records there are.
	out := tap(exitOK, topic, "--from", "beginning", "--limit", "5")
	checkGolden(t, "testdata/tap/beginning.txt", []byte(out), "TestTap")

	out = tap(exitOK, topic, "--from", "beginning", "--no-follow", "--where", `kind == "b" || _key == "k4"`)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "TOPIC[0]@1 ") || !strings.HasPrefix(lines[1], "TOPIC[1]@0 ") || !strings.HasPrefix(lines[2], "TOPIC[1]@1 ") {
		t.Errorf("--where: %s", out)
	}

	out = tap(exitOK, topic, "--from", "offset:1", "--partition", "0", "--limit", "1", "--format", "json", "--raw")
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("--format json: %v\n%s", err, out)
	}
	keys := slices.Sorted(maps.Keys(rec))
	wantKeys := []string{"headers", "key", "offset", "partition", "raw_key_base64", "raw_value_base64", "timestamp", "topic", "value"}
	if !slices.Equal(keys, wantKeys) || rec["topic"] != "TOPIC" || rec["offset"] != 1.0 || rec["key"] != "k1" ||
		rec["timestamp"] != "2026-01-02T03:04:06Z" || fmt.Sprint(rec["value"]) != "map[kind:b n:1]" || fmt.Sprint(rec["headers"]) != "[map[key:h value:x]]" {
		t.Errorf("--format json: %v", rec)
	}

	// Pipeline files give the brokers and the topic's format: json, so
	// the text value is shown with why it does not decode.
	dir := t.TempDir()
	file := filepath.Join(dir, "tapped.yaml")
	yaml := fmt.Sprintf("pipeline: tapped\nkafka: {brokers: %q}\ntopics:\n  %s: {format: json}\nsources:\n  once:\n    generate: {count: 1, value: '{\"n\": 1}'}\n    to: %s\n", brokers, topic, topic)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_BROKERS", "")
	out = tap(exitOK, topic, "-c", dir, "--from", "offset:2", "--partition", "0", "--no-follow")
	if !strings.HasPrefix(out, `TOPIC[0]@2 2026-01-02T03:04:07.000Z key=k2 value="not json" decode_error="decode json: `) || !strings.Contains(out, "raw_value=bm90IGpzb24=") {
		t.Errorf("json topic from the files: %s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{topic, "-c", "testdata/run/finite.yaml"}, "runs on the embedded broker"},
		{[]string{topic}, "give pipeline files (-c FILE|FOLDER) or --brokers"},
		{[]string{topic, "--brokers", brokers, "--from", "yesterday"}, `runner tap: --from "yesterday": want beginning, end`},
		{[]string{topic, "--brokers", brokers, "--where", "n >"}, `runner tap: where "n >": column`},
		{[]string{topic, "--brokers", brokers, "--partition", "9", "--no-follow"}, "has no partition 9"},
		{[]string{topic, "--brokers", brokers, "--limit=-1"}, "--limit -1"},
	} {
		if got := tap(exitUsage, tc.args...); !strings.Contains(got, tc.want) {
			t.Errorf("runner tap %s: %s, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	if got := tap(exitFailed, "tap-missing-topic", "--brokers", brokers); !strings.Contains(got, "no such topic") {
		t.Errorf("missing topic: %s", got)
	}
}
