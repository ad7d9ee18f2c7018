package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// flakyEndpoint is an HTTP endpoint that answers 500 to some requests and
// stalls past the sink's timeout on others, and counts the records of the
// requests it took (a 2xx) by id.
type flakyEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	rng      *rand.Rand
	accepted map[int]int
	failed   int
	stalled  int
}

func newFlakyEndpoint(t *testing.T, stall time.Duration) *flakyEndpoint {
	e := &flakyEndpoint{rng: rand.New(rand.NewPCG(16, 3)), accepted: map[int]int{}}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		e.mu.Lock()
		dice := e.rng.IntN(100)
		e.mu.Unlock()
		switch {
		case dice < 10:
			e.mu.Lock()
			e.failed++
			e.mu.Unlock()
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		case dice < 13:
			// The sink gives up first and retries; the endpoint still
			// takes the records, as a slow real one would.
			e.mu.Lock()
			e.stalled++
			e.mu.Unlock()
			time.Sleep(stall)
		}
		var ids []int
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var v struct{ ID int }
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				http.Error(w, "bad record", http.StatusBadRequest)
				return
			}
			if poison(v.ID) {
				http.Error(w, fmt.Sprintf("record %d is poison", v.ID), http.StatusBadRequest)
				return
			}
			ids = append(ids, v.ID)
		}
		e.mu.Lock()
		for _, id := range ids {
			e.accepted[id]++
		}
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(e.Close)
	return e
}

// poison records are refused for good with a 400.
func poison(id int) bool { return id%1000 == 999 }

// unique is how many distinct records the endpoint took.
func (e *flakyEndpoint) unique() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.accepted)
}

// waitUnique waits until the endpoint took want distinct records.
func (e *flakyEndpoint) waitUnique(want int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for e.unique() < want {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// TestHTTPSinkCrash sends a topic fed at thousands of records a second to
// an endpoint that fails 10% of requests with a 500 and stalls 3% past the
// sink's timeout, SIGKILLs the runner mid-stream and starts it again:
// every record reaches the endpoint (a 2xx) at least once. max_retries: 1
// makes some requests run out of retries, so the stage's own retry of the
// batch is exercised too (a sink that took such a batch as written loses
// records here). Poison records get a 400: they and the records sharing
// their request go to the dead-letter topic, and no other record does. Duplicates (the
// batches replayed after the kill, the stalled requests retried) are
// counted and reported.
func TestHTTPSinkCrash(t *testing.T) {
	// One request per record keeps up with less: every batch waits for
	// its slowest request, and a stall holds it for the timeout.
	for _, tc := range []struct {
		body string
		rate int
	}{{"single", 1500}, {"ndjson", 4000}} {
		t.Run(tc.body, func(t *testing.T) { testHTTPSinkCrash(t, tc.body, tc.rate) })
	}
}

func testHTTPSinkCrash(t *testing.T, body string, rate int) {
	brokers := service.Kafka(t)
	name := unique("httpsink")
	kafkatest.CreateTopic(t, brokers, name, 6)
	const keys = 100
	const timeout = 200 * time.Millisecond
	ep := newFlakyEndpoint(t, 2*timeout)
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	text := fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}', config: {session.timeout.ms: "3000", heartbeat.interval.ms: "500"}}
topics:
  %[1]s-dlq: {partitions: 1}
sinks:
  webhook:
    from: %[1]s
    delivery: at_least_once
    on_error: {dead_letter: %[1]s-dlq}
    http:
      url: %[2]s/events
      body: %[3]s
      batch_size: 50
      timeout: %[4]s
      max_in_flight: 16
      retry_initial: 20ms
      retry_max: 500ms
      max_retries: 1
`, name, ep.URL, body, timeout)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := "KAFKA_BROKERS=" + brokers

	feed := runnertest.Feed(t, brokers, name, rate, keys)
	p := runnertest.Start(t, cfg, env)
	if !ep.waitUnique(rate*2, 90*time.Second) {
		t.Fatalf("the endpoint took only %d records; stderr:\n%s", ep.unique(), p.Stderr.String())
	}
	p.Kill(t)
	killedAt := ep.unique()
	p = runnertest.Start(t, cfg, env)
	if !ep.waitUnique(killedAt+rate, 90*time.Second) {
		t.Fatalf("no progress after the restart: %d records; stderr:\n%s", ep.unique(), p.Stderr.String())
	}
	n := feed.Stop(t)
	// Each request holding a poison record goes to the dead letters
	// whole: at least the poison records themselves, at most a batch each.
	npoison := 0
	for id := range n {
		if poison(id) {
			npoison++
		}
	}
	perRequest := 1
	if body != "single" {
		perRequest = 50
	}
	if !ep.waitUnique(n-npoison*perRequest, 120*time.Second) {
		t.Errorf("the endpoint took %d of %d records", ep.unique(), n)
	}
	// Wait for every record to be settled: taken by the endpoint or
	// dead-lettered.
	var dead map[int]int
	var letters []*kafka.Message
	settled := func() int {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		k := 0
		for id := range n {
			if ep.accepted[id] > 0 || dead[id] > 0 {
				k++
			}
		}
		return k
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		letters = kafkatest.ReadAll(t, brokers, name+"-dlq", 30*time.Second)
		dead = map[int]int{}
		for _, m := range letters {
			var v struct{ ID int }
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatalf("dead letter %q: %v", m.Value, err)
			}
			dead[v.ID]++
		}
		if settled() == n || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range letters {
		msg := dlqHeader(m, "conveyor.error.message")
		if !strings.Contains(msg, "400 Bad Request") || !strings.Contains(msg, "is poison") || dlqHeader(m, "conveyor.error.step") != "write" {
			t.Errorf("dead letter %.60q: step %q message %q", m.Value, dlqHeader(m, "conveyor.error.step"), msg)
		}
	}
	p.StopCleanly(t)

	ep.mu.Lock()
	defer ep.mu.Unlock()
	tl := runnertest.Tally{Records: n}
	for id := range n {
		if poison(id) && ep.accepted[id] > 0 {
			t.Errorf("poison record %d was taken", id)
		}
		if poison(id) && dead[id] == 0 {
			t.Errorf("poison record %d is not among the dead letters", id)
		}
		if dead[id] > 0 && ep.accepted[id] > 0 && body == "single" {
			t.Errorf("record %d was taken and dead-lettered", id)
		}
		c := ep.accepted[id] + dead[id]
		tl.Received += c
		if c == 0 {
			tl.Lost++
			if len(tl.LostIDs) < 20 {
				tl.LostIDs = append(tl.LostIDs, id)
			}
		} else {
			tl.Duplicated += c - 1
		}
	}
	for id := range ep.accepted {
		if id < 0 || id >= n {
			t.Errorf("the endpoint took id %d, never written", id)
		}
	}
	if ep.failed == 0 || ep.stalled == 0 {
		t.Errorf("no faults injected: %d 500s, %d stalls", ep.failed, ep.stalled)
	}
	// The run after the kill may send a poison record again in a request
	// of other records: two requests per poison record at most.
	if len(dead) > 2*npoison*perRequest {
		t.Errorf("%d records dead-lettered, want at most %d (two requests for each of %d poison records)", len(dead), 2*npoison*perRequest, npoison)
	}
	faults.add("http sink ("+body+"): 500s, timeouts, 400s, SIGKILL", "at_least_once", tl)
	if tl.Lost != 0 {
		t.Errorf("%s; want lost=0", tl)
	}
	t.Logf("%s; injected %d 500s and %d stalls past the timeout; %d records dead-lettered (%d poison)", tl, ep.failed, ep.stalled, len(dead), npoison)
}
