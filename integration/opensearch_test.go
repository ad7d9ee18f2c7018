package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"
	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/opensearch"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// TestOpenSearchSinkCrash indexes a keyed topic whose keys are updated many
// times into a real OpenSearch node with external versions from the Kafka
// offset, SIGKILLs the runner twice mid-stream and restarts it. The index
// must end with exactly the topic's latest value of every key (lost 0,
// stale 0; a key whose last record is a tombstone has no document), and records whose field has a type the index mapping refuses go
// to the dead-letter topic with OpenSearch's reason.
func TestOpenSearchSinkCrash(t *testing.T) {
	url := strings.TrimRight(service.OpenSearch(t), "/")
	brokers := service.Kafka(t)
	name := fmt.Sprintf("ossink-%d", time.Now().UnixNano())
	index, dlq := name, name+"-dlq"
	const n, keys, kills = 30000, 400, 2
	// The mapping makes points a long: a record whose points is text is a
	// mapper_parsing_exception, an item error of its own.
	searchCall(t, http.MethodPut, url+"/"+index, `{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":{"properties":{"k":{"type":"keyword"},"seq":{"type":"long"},"points":{"type":"long"}}}}`, nil)
	t.Cleanup(func() { searchCall(t, http.MethodDelete, url+"/"+index, "", nil) })

	kafkatest.CreateTopic(t, brokers, name, 3)
	kafkatest.CreateTopic(t, brokers, dlq, 1)
	var msgs []*kafka.Message
	latest := map[string]int{} // key: seq of its latest good record
	var bad []string
	deleted := 0
	for i := range n {
		k := fmt.Sprintf("k%d", i%keys)
		seq := i / keys
		if i%997 == 0 { // a bad record, under a key of its own
			b := fmt.Sprintf("bad%d", i)
			bad = append(bad, b)
			msgs = append(msgs, kafkatest.Message(name, []byte(b), fmt.Appendf(nil, `{"k":%q,"seq":%d,"points":"lots"}`, b, seq)))
			continue
		}
		if i >= n-keys && i%40 == 0 { // the last record of one key in ten deletes it
			delete(latest, k)
			deleted++
			msgs = append(msgs, kafkatest.Message(name, []byte(k), nil))
			continue
		}
		latest[k] = seq
		msgs = append(msgs, kafkatest.Message(name, []byte(k), fmt.Appendf(nil, `{"k":%q,"seq":%d,"points":%d}`, k, seq, i)))
	}
	kafkatest.Produce(t, brokers, msgs)

	cfg := filepath.Join(t.TempDir(), "opensearch.yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
sinks:
  search:
    from: %s
    rate: ${RATE:-}
    opensearch:
      url: ${OPENSEARCH_URL}
      index: %s
      version: offset
      batch_size: 500
    on_error: {dead_letter: %s}
`, name, name, index, dlq)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KAFKA_BROKERS=" + brokers, "OPENSEARCH_URL=" + url}
	for k := range kills {
		p := runnertest.Start(t, cfg, append(env, "RATE=4000/s")...)
		want := int64((k + 1) * n / (kills + 1))
		if !waitCommittedAtLeast(t, brokers, name+".search", name, want, 90*time.Second) {
			t.Fatalf("kill %d: the sink did not commit %d records; stderr:\n%s", k+1, want, p.Stderr.String())
		}
		p.Kill(t)
	}
	p := runnertest.Start(t, cfg, env...)
	if !kafkatest.WaitCommitted(t, brokers, name+".search", name, n, 120*time.Second) {
		t.Fatalf("the sink did not commit the whole topic; stderr:\n%s", p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}

	docs, lost, stale, extra := compareIndex(t, url, index, latest)
	if lost+stale+extra > 0 {
		t.Errorf("index after %d SIGKILLs: %d documents for %d keys: lost %d, stale %d, unexpected %d", kills, docs, len(latest), lost, stale, extra)
	}

	// A kill may write a dead letter twice (at-least-once): wait for
	// every bad key.
	letters := kafkatest.ReadUntil(t, brokers, dlq, 30*time.Second, runnertest.UniqueBy(len(bad), func(m *kafka.Message) (string, bool) {
		return string(m.Key), true
	}))
	dead := map[string]bool{}
	for _, m := range letters {
		var msg string
		for _, h := range m.Headers {
			if h.Key == "conveyor.error.message" {
				msg = string(h.Value)
			}
		}
		if !strings.Contains(msg, "mapper_parsing_exception") {
			t.Errorf("dead letter %s: error %q does not give OpenSearch's reason", m.Key, msg)
		}
		dead[string(m.Key)] = true
	}
	for _, b := range bad {
		if !dead[b] {
			t.Errorf("bad record %s is not in the dead-letter topic", b)
		}
	}
	if deleted == 0 || len(latest) != keys-deleted {
		t.Fatalf("the test deletes %d keys and keeps %d of %d", deleted, len(latest), keys)
	}
	t.Logf("opensearch sink: %d records over %d keys (%d deleted at the end), SIGKILL x%d: %d documents, lost %d, stale %d; %d bad records, %d dead letters",
		n, keys, deleted, kills, docs, lost, stale, len(bad), len(letters))
}

// waitCommittedAtLeast waits until group has committed at least n records of
// topic in all.
func waitCommittedAtLeast(t *testing.T, brokers, group, topic string, n int64, timeout time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		committed, _ := kafkatest.Committed(t, brokers, group, topic)
		var sum int64
		for _, o := range committed {
			if o > 0 {
				sum += o
			}
		}
		if sum >= n {
			return true
		}
	}
	return false
}

// searchCall sends a request to OpenSearch and decodes the answer into out
// (when not nil); an answer other than 2xx fails the test.
func searchCall(t *testing.T, method, url, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
}

// TestOpenSearchSinkReplayKeepsNewer writes to a real node what a replay
// after a crash writes: records older than the documents, a tombstone older
// than a document and a tombstone of a missing one. With external versions
// OpenSearch answers 409 and 404, which the sink counts as done, and the
// newer documents stay.
func TestOpenSearchSinkReplayKeepsNewer(t *testing.T) {
	url := strings.TrimRight(service.OpenSearch(t), "/")
	index := fmt.Sprintf("osreplay-%d", time.Now().UnixNano())
	searchCall(t, http.MethodPut, url+"/"+index, `{"settings":{"number_of_shards":1,"number_of_replicas":0}}`, nil)
	t.Cleanup(func() { searchCall(t, http.MethodDelete, url+"/"+index, "", nil) })
	var n yaml.Node
	if err := yaml.Unmarshal(fmt.Appendf(nil, "{url: %s, index: %s, version: offset}", url, index), &n); err != nil {
		t.Fatal(err)
	}
	sink, err := opensearch.New(pipeline.Connector{Node: n.Content[0], Path: "sinks.s.opensearch"}, connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(offset int64, key string, value any) *record.Record {
		return &record.Record{Topic: "t", Offset: offset, Key: []byte(key), Value: value}
	}
	ctx := context.Background()
	if err := sink.Write(ctx, []*record.Record{rec(10, "a", map[string]any{"v": int64(10)}), rec(11, "b", map[string]any{"v": int64(11)})}); err != nil {
		t.Fatal(err)
	}
	replay := []*record.Record{rec(5, "a", map[string]any{"v": int64(5)}), rec(6, "b", nil), rec(7, "c", nil), rec(10, "a", map[string]any{"v": int64(10)})}
	if err := sink.Write(ctx, replay); err != nil {
		t.Fatalf("replay: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		var got struct {
			Version int64             `json:"_version"`
			Source  struct{ V int64 } `json:"_source"`
		}
		searchCall(t, http.MethodGet, url+"/"+index+"/_doc/"+id, "", &got)
		if want := map[string]int64{"a": 10, "b": 11}[id]; got.Version != want || got.Source.V != want {
			t.Errorf("document %s: version %d value %d, want %d", id, got.Version, got.Source.V, want)
		}
	}
	if err := sink.Write(ctx, []*record.Record{rec(12, "a", nil)}); err != nil {
		t.Fatal(err)
	}
	var found struct{ Found bool }
	req, _ := http.NewRequest(http.MethodGet, url+"/"+index+"/_doc/a", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&found); err != nil || found.Found {
		t.Errorf("document a after a newer tombstone: found %v (%v)", found.Found, err)
	}
}

// compareIndex reads every document of index and compares it with latest,
// the seq of each key's latest record: keys without a document (lost), with
// an older one (stale) and documents of no key in latest (extra).
func compareIndex(t *testing.T, url, index string, latest map[string]int) (docs, lost, stale, extra int) {
	t.Helper()
	searchCall(t, http.MethodPost, url+"/"+index+"/_refresh", "", nil)
	var found struct {
		Hits struct {
			Hits []struct {
				ID     string `json:"_id"`
				Source struct {
					K   string
					Seq int
				} `json:"_source"`
			}
		}
	}
	searchCall(t, http.MethodPost, url+"/"+index+"/_search", `{"size":10000,"query":{"match_all":{}}}`, &found)
	seen := map[string]bool{}
	for _, h := range found.Hits.Hits {
		seen[h.ID] = true
		want, ok := latest[h.ID]
		switch {
		case !ok:
			extra++
		case h.Source.Seq != want || h.Source.K != h.ID:
			stale++
		}
	}
	for k := range latest {
		if !seen[k] {
			lost++
		}
	}
	return len(found.Hits.Hits), lost, stale, extra
}

// TestOpenSearchSinkNodeRestart restarts the OpenSearch node while the sink
// indexes a keyed topic: requests in flight fail and are retried, and the
// index ends with every key's latest value (lost 0, stale 0).
func TestOpenSearchSinkNodeRestart(t *testing.T) {
	url := strings.TrimRight(service.OpenSearch(t), "/")
	brokers := service.Kafka(t)
	name := fmt.Sprintf("osrestart-%d", time.Now().UnixNano())
	const n, keys = 40000, 500
	searchCall(t, http.MethodPut, url+"/"+name, `{"settings":{"number_of_shards":1,"number_of_replicas":0}}`, nil)
	t.Cleanup(func() { searchCall(t, http.MethodDelete, url+"/"+name, "", nil) })
	kafkatest.CreateTopic(t, brokers, name, 3)
	latest := map[string]int{}
	var msgs []*kafka.Message
	for i := range n {
		k := fmt.Sprintf("k%d", i%keys)
		latest[k] = i / keys
		msgs = append(msgs, kafkatest.Message(name, []byte(k), fmt.Appendf(nil, `{"k":%q,"seq":%d}`, k, i/keys)))
	}
	kafkatest.Produce(t, brokers, msgs)
	cfg := filepath.Join(t.TempDir(), "opensearch.yaml")
	text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: '${KAFKA_BROKERS}'}
sinks:
  search:
    from: %s
    rate: 5000/s
    opensearch: {url: '${OPENSEARCH_URL}', index: %s, version: offset, batch_size: 500, timeout: 5s}
`, name, name, name)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "OPENSEARCH_URL="+url)
	if !waitCommittedAtLeast(t, brokers, name+".search", name, n/4, 90*time.Second) {
		t.Fatalf("the sink did not commit %d records; stderr:\n%s", n/4, p.Stderr.String())
	}
	if again := strings.TrimRight(service.RestartOpenSearch(t), "/"); again != url {
		t.Fatalf("the node came back on %s, not %s", again, url)
	}
	if !kafkatest.WaitCommitted(t, brokers, name+".search", name, n, 180*time.Second) {
		t.Fatalf("the sink did not commit the whole topic after the restart; stderr:\n%s", p.Stderr.String())
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
	docs, lost, stale, extra := compareIndex(t, url, name, latest)
	if lost+stale+extra > 0 {
		t.Errorf("index after a node restart: %d documents for %d keys: lost %d, stale %d, unexpected %d", docs, keys, lost, stale, extra)
	}
	t.Logf("opensearch sink: %d records over %d keys, node restarted mid-stream: %d documents, lost %d, stale %d (the stage retried whole batches: %v)",
		n, keys, docs, lost, stale, strings.Contains(p.Stderr.String(), "sink write failed"))
}
