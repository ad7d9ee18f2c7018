package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestFileSourceRestarts stops a runner reading a file of JSON lines twice
// mid-file and restarts it; the file's cursor (its byte offset, in the
// cursor topic) makes each run resume after the last durable line. Lines
// over max_line go to the dead-letter topic. Stopped with SIGTERM only,
// every line arrives once in either mode; with a SIGKILL, at_least_once
// may repeat the lines after the last saved cursor and loses none.
func TestFileSourceRestarts(t *testing.T) {
	for _, tc := range []struct{ delivery, stops string }{
		{"at_least_once", "SIGTERM,SIGTERM"},
		{"at_least_once", "SIGTERM,SIGKILL"},
		{"exactly_once", "SIGTERM,SIGKILL"},
	} {
		// No comma in test names: the temporary folder named after it
		// holds the pipeline file, and -c splits on commas.
		t.Run(tc.delivery+"/"+strings.ReplaceAll(tc.stops, ",", "-"), func(t *testing.T) {
			testFileSourceRestarts(t, tc.delivery, strings.Split(tc.stops, ","))
		})
	}
}

func testFileSourceRestarts(t *testing.T, delivery string, stops []string) {
	brokers := service.Kafka(t)
	name := unique("filesrc")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	const n, keys = 40000, 7
	long := map[int]bool{}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		pad := ""
		if i%997 == 0 {
			long[i] = true
			pad = strings.Repeat("x", 2000)
		}
		fmt.Fprintf(&b, `{"id":%d,"key":"k%d","pad":%q}`+"\n", i, i%keys, pad)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// A small producer queue and a long linger slow the source down to a
	// few thousand lines a second, so the stops land mid-file.
	// An exactly-once source commits a transaction per batch; small
	// batches keep it mid-file when the stops come.
	batch := 200
	if delivery == "exactly_once" {
		batch = 25
	}
	cfg := filepath.Join(dir, "file.yaml")
	pipeline := fmt.Sprintf(`pipeline: %[1]s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {queue.buffering.max.messages: "1000", linger.ms: "100"}
cursor_topic: %[1]s-cursors
topics:
  %[1]s: {partitions: 3}
  %[1]s-dlq: {partitions: 1}
sources:
  read:
    file: {path: '%[2]s', batch: %[4]d, max_line: 1KiB}
    key: key
    to: %[1]s
    delivery: %[3]s
    on_error: {dead_letter: %[1]s-dlq}
`, name, in, delivery, batch)
	if err := os.WriteFile(cfg, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	env := "KAFKA_BROKERS=" + brokers
	good := n - len(long)
	for k, stop := range stops {
		p := runnertest.Start(t, cfg, env)
		// Early in the file: an exactly-once run reads it whole in seconds.
		want := (k + 1) * good / 20
		if got := kafkatest.ReadUntil(t, brokers, name, 60*time.Second, kafkatest.Count(want)); len(got) < want {
			t.Fatalf("stop %d: only %d lines in Kafka; stderr:\n%s", k+1, len(got), p.Stderr.String())
		}
		if exited, _ := p.Wait(0); exited {
			t.Fatalf("the runner read the whole file before stop %d; stderr:\n%s", k+1, p.Stderr.String())
		}
		if stop == "SIGKILL" {
			p.Kill(t)
			continue
		}
		if err := p.Term(t); err != nil {
			t.Fatalf("runner exit after SIGTERM: %v\n%s", err, p.Stderr.String())
		}
	}
	p := runnertest.Start(t, cfg, env)
	if exited, err := p.Wait(120 * time.Second); !exited || err != nil {
		t.Fatalf("the last run did not finish the file (exited %v, %v); stderr:\n%s", exited, err, p.Stderr.String())
	}

	tl := runnertest.Tally{Records: good}
	seen := map[int]int{}
	last := map[string]int{}
	msgs := kafkatest.ReadAll(t, brokers, name, 60*time.Second)
	tl.Received = len(msgs)
	for _, m := range msgs {
		var v struct {
			ID  int
			Key string
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || string(m.Key) != v.Key {
			t.Fatalf("bad record key %q value %.80q: %v", m.Key, m.Value, err)
		}
		if seen[v.ID]++; seen[v.ID] > 1 {
			tl.Duplicated++
			continue
		}
		if v.ID < last[v.Key] {
			tl.Reordered++
		}
		last[v.Key] = v.ID
	}
	for i := 1; i <= n; i++ {
		if long[i] && seen[i] > 0 {
			t.Errorf("line %d is over max_line but reached the topic", i)
		}
		if !long[i] && seen[i] == 0 {
			tl.Lost++
		}
	}
	faults.add("file source: "+strings.Join(stops, ", then ")+", restart", delivery, tl)
	dupBound := 0
	if strings.Contains(strings.Join(stops, ","), "SIGKILL") {
		dupBound = good
	}
	expect(t, delivery, tl, dupBound)
	t.Logf("%s; %s", delivery, tl)

	idRE := regexp.MustCompile(`^\{"id":(\d+),`)
	dead := map[int]int{}
	for _, m := range kafkatest.ReadAll(t, brokers, name+"-dlq", 60*time.Second) {
		match := idRE.FindSubmatch(m.Value)
		if match == nil || len(m.Value) != 1024 {
			t.Fatalf("dead letter %.60q (%d bytes): want the line's first 1024 bytes", m.Value, len(m.Value))
		}
		id, _ := strconv.Atoi(string(match[1]))
		dead[id]++
		if dlqHeader(m, "conveyor.error.file") != in || dlqHeader(m, "conveyor.error.file.offset") == "" {
			t.Errorf("dead letter of line %d does not name the file and offset: %v", id, m.Headers)
		}
	}
	for i := range long {
		if dead[i] == 0 || (dead[i] > 1 && dupBound == 0) {
			t.Errorf("line %d over max_line has %d dead letters", i, dead[i])
		}
	}
}
