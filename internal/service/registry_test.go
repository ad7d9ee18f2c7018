package service_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/internal/service"
)

// The registry speaks Confluent's REST API: a schema registered under a
// subject reads back by its id and as the subject's latest version.
func TestRegistry(t *testing.T) {
	t.Parallel()
	url := service.Registry(t)
	subject := fmt.Sprintf("service-test-%d-value", time.Now().UnixNano())
	schema := `{"type":"record","name":"Ping","fields":[{"name":"n","type":"long"}]}`

	var reg struct{ ID int }
	call(t, "POST", url+"/subjects/"+subject+"/versions", map[string]string{"schema": schema}, &reg)
	if reg.ID <= 0 {
		t.Fatalf("register: id %d", reg.ID)
	}
	var byID struct{ Schema string }
	call(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", url, reg.ID), nil, &byID)
	if byID.Schema != schema {
		t.Fatalf("schema %d reads back as %q, want %q", reg.ID, byID.Schema, schema)
	}
	var latest struct {
		ID      int
		Version int
		Subject string
	}
	call(t, "GET", url+"/subjects/"+subject+"/versions/latest", nil, &latest)
	if latest.ID != reg.ID || latest.Version != 1 || latest.Subject != subject {
		t.Fatalf("latest version of %s: %+v, want id %d version 1", subject, latest, reg.ID)
	}
}

// Confluent's Python client, as the interop tests use it: 100 Avro records
// through Kafka and the registry read back as they were written, each in
// the Confluent wire format.
func TestPyClientAvroRoundTrip(t *testing.T) {
	t.Parallel()
	py := service.PyClient(t)
	brokers := service.Kafka(t)
	registry := service.Registry(t)
	dir := filepath.Join("..", "..", "integration", "testdata", "interop")
	client := filepath.Join(dir, "avro_client.py")
	topic := fmt.Sprintf("pyclient-%d", time.Now().UnixNano())
	produced := filepath.Join(t.TempDir(), "produced.jsonl")

	out := runPy(t, py, client, "produce", "--brokers", brokers, "--registry", registry, "--topic", topic,
		"--schema", filepath.Join(dir, "interop.avsc"), "--count", "100", "--key-field", "name", "--out", produced)
	if strings.TrimSpace(out) != "100" {
		t.Fatalf("produce printed %q, want 100", out)
	}
	out = runPy(t, py, client, "consume", "--brokers", brokers, "--registry", registry, "--topic", topic,
		"--count", "100", "--timeout", "120")

	b, err := os.ReadFile(produced)
	if err != nil {
		t.Fatal(err)
	}
	want := jsonLines(t, string(b))
	got := jsonLines(t, out)
	if len(got) != 100 || len(want) != 100 {
		t.Fatalf("consumed %d records, produced %d; want 100 each", len(got), len(want))
	}
	var nulls int
	for i := range want {
		if got[i]["key"] != want[i]["key"] || !reflect.DeepEqual(got[i]["value"], want[i]["value"]) {
			t.Fatalf("record %d: consumed key %v value %v,\nproduced key %v value %v",
				i, got[i]["key"], got[i]["value"], want[i]["key"], want[i]["value"])
		}
		if id, _ := got[i]["schema_id"].(float64); id <= 0 {
			t.Fatalf("record %d: schema id %v", i, got[i]["schema_id"])
		}
		if got[i]["value"].(map[string]any)["note"] == nil {
			nulls++
		}
	}
	if nulls != 33 {
		t.Fatalf("%d of 100 records have a null note, want every third (33)", nulls)
	}

	// An Avro value whose schema id is only in a header, which Confluent's
	// deserializer would accept, fails the consumer: conveyor must write the
	// prefix.
	var reg struct{ ID int }
	call(t, "POST", registry+"/subjects/"+topic+"-hdr-value/versions",
		map[string]string{"schema": `{"type":"record","name":"Ping","fields":[{"name":"n","type":"long"}]}`}, &reg)
	hdrTopic := topic + "-hdr"
	createTopic(t, brokers, hdrTopic, 1)
	p, err := kafka.NewProducer(config(brokers, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id := []byte{0, byte(reg.ID >> 24), byte(reg.ID >> 16), byte(reg.ID >> 8), byte(reg.ID)}
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &hdrTopic, Partition: 0},
		Value:          []byte{0x02}, // {"n": 1}
		Headers:        []kafka.Header{{Key: "__value_schema_id", Value: id}},
	}
	done := make(chan kafka.Event, 1)
	if err := p.Produce(msg, done); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-done:
		if err := ev.(*kafka.Message).TopicPartition.Error; err != nil {
			t.Fatalf("deliver to %s: %v", hdrTopic, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("deliver to %s: no report after 60s", hdrTopic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, client, "consume", "--brokers", brokers, "--registry", registry,
		"--topic", hdrTopic, "--count", "1", "--timeout", "120")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "does not start with the magic byte") {
		t.Fatalf("consuming a value with its schema id in a header only: %v, stderr %q; want the prefix check to fail it", err, stderr.String())
	}
}

func runPy(t *testing.T, py string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(args[0]), args[1], err, stderr.String())
	}
	return stdout.String()
}

// jsonLines parses one JSON object a line.
func jsonLines(t *testing.T, src string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v: %s", len(out)+1, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// call sends a JSON request to the registry and decodes its 200 answer.
func call(t *testing.T, method, url string, body, into any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}
