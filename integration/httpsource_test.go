package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"
	"golang.org/x/sync/errgroup"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/connectors/httpsource"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// httpPipeline is a pipeline whose only stage is an http source at addr
// writing topic; extra goes under kafka.config.
func httpPipeline(brokers, topic, addr, extra string) string {
	return fmt.Sprintf(`pipeline: %[1]s
kafka:
  brokers: '%[2]s'
  config: {%[4]s}
shutdown_timeout: 10s
topics:
  %[1]s: {partitions: 3}
sources:
  in:
    http: {listen: '%[3]s', path: /records, max_in_flight: 20000}
    key: string(id)
    to: %[1]s
`, topic, brokers, addr, extra)
}

// runHTTPPipeline runs the pipeline in this process until the returned
// stop is called; stop returns the run's error.
func runHTTPPipeline(t testing.TB, yaml string) (stop func() error) {
	t.Helper()
	reg := connectors.Registry{Sources: []connectors.SourceSpec{httpsource.Spec()}}
	p, err := pipeline.Parse("http.yaml", []byte(yaml), pipeline.Options{Kinds: reg.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Build([]*pipeline.Config{p}, reg, connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- plan.Run(ctx, engine.RunOptions{Log: slog.New(slog.DiscardHandler)}) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-ended
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// ndjson is the body of records with ids from..to-1.
func ndjson(from, to int) string {
	var b strings.Builder
	for id := from; id < to; id++ {
		fmt.Fprintf(&b, `{"id":%d,"note":"record %d"}`+"\n", id, id)
	}
	return b.String()
}

// postRetrying posts body until it is answered 200, as a client of the
// http source should: a 503 or a lost connection is tried again (which may
// repeat records, never lose them); anything else is an error.
func postRetrying(ctx context.Context, client *http.Client, url, body string) (tries int, err error) {
	for {
		tries++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return tries, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return tries, nil
			case http.StatusServiceUnavailable:
			default:
				return tries, fmt.Errorf("answer %d: %s", resp.StatusCode, msg)
			}
		}
		if ctx.Err() != nil {
			return tries, fmt.Errorf("gave up after %d tries: %w (last: %v)", tries, ctx.Err(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ids reads the ids of the records in msgs values.
func idsOf(t testing.TB, values [][]byte) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for _, v := range values {
		var r struct{ ID int }
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatalf("record %q: %v", v, err)
		}
		seen[r.ID]++
	}
	return seen
}

func topicValues(t testing.TB, brokers, topic string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range kafkatest.ReadAll(t, brokers, topic, 30*time.Second) {
		out = append(out, m.Value)
	}
	return out
}

// TestHTTPSourceAnswersWhenDurable: each 200 of the http source means the
// request's records are in the topic: read right after the answer, every
// record of it and of the requests before is there.
func TestHTTPSourceAnswersWhenDurable(t *testing.T) {
	brokers := service.Kafka(t)
	topic := unique("http-durable")
	addr := runnertest.FreeAddr(t)
	// A long linger: an answer sent when records are handed to the
	// producer, not when Kafka acknowledged them, would come ~500ms early.
	runHTTPPipeline(t, httpPipeline(brokers, topic, addr, `linger.ms: "500"`))
	url := "http://" + addr + "/records"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A client already connected, to ask for the topic's end offsets
	// within a round trip of the answer.
	watermarks, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": topic + "-watermarks", "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer watermarks.Close()
	const requests, per = 6, 100
	for i := range requests {
		if _, err := postRetrying(ctx, http.DefaultClient, url, ndjson(i*per, (i+1)*per)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var end int64
		for p := range int32(3) {
			_, high, err := watermarks.QueryWatermarkOffsets(topic, p, 10000)
			if err != nil {
				t.Fatal(err)
			}
			end += high
		}
		if want := int64((i + 1) * per); end < want {
			t.Fatalf("right after the 200 of request %d the topic's end offsets add up to %d, want %d", i, end, want)
		}
		seen := idsOf(t, topicValues(t, brokers, topic))
		for id := range (i + 1) * per {
			if seen[id] == 0 {
				t.Fatalf("after the 200 of request %d record %d is not in the topic (%d records are)", i, id, len(seen))
			}
		}
	}
}

// TestHTTPSourceSIGKILL: clients post records to a runner's http source and
// retry whatever is not answered 200; the runner is killed (SIGKILL), then
// stopped (SIGTERM: it answers what it holds and exits 0), then killed
// again, mid-stream, and started again on the same address each time. Every
// record reaches the topic: lost 0 (a retried request may repeat records).
func TestHTTPSourceSIGKILL(t *testing.T) {
	brokers := service.Kafka(t)
	topic := unique("http-kill")
	addr := runnertest.FreeAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "http.yaml")
	// A long linger keeps requests waiting for their acknowledgement, so
	// the kills find some in flight (and an answer sent before the
	// acknowledgement would lose records).
	if err := os.WriteFile(cfg, []byte(httpPipeline("${KAFKA_BROKERS}", topic, addr, `linger.ms: "200"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := "KAFKA_BROKERS=" + brokers
	p := runnertest.Start(t, cfg, env)

	const n, per, clients = 20000, 50, 6
	url := "http://" + addr + "/records"
	var acked, retried atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	for c := range clients {
		g.Go(func() error {
			client := &http.Client{Timeout: 30 * time.Second}
			for from := c * per; from < n; from += clients * per {
				to := min(from+per, n)
				tries, err := postRetrying(gctx, client, url, ndjson(from, to))
				if err != nil {
					return fmt.Errorf("records %d-%d: %w", from, to-1, err)
				}
				retried.Add(int64(tries - 1))
				acked.Add(int64(to - from))
			}
			return nil
		})
	}
	clientsDone := make(chan error, 1)
	go func() { clientsDone <- g.Wait() }()
	for k, stop := range []struct {
		at     int64
		signal string
	}{{n / 4, "SIGKILL"}, {n / 2, "SIGTERM"}, {3 * n / 4, "SIGKILL"}} {
		for acked.Load() < stop.at {
			select {
			case err := <-clientsDone:
				t.Fatalf("the clients ended (%v) before stop %d", err, k+1)
			case <-time.After(5 * time.Millisecond):
			}
		}
		if acked.Load() >= n {
			t.Fatalf("every record was acknowledged before stop %d", k+1)
		}
		if stop.signal == "SIGKILL" {
			p.Kill(t)
		} else if err := p.Term(t); err != nil {
			t.Fatalf("runner exit after SIGTERM: %v\n%s", err, p.Stderr.String())
		}
		p = runnertest.Start(t, cfg, env)
	}
	if err := <-clientsDone; err != nil {
		t.Fatalf("%v; stderr:\n%s", err, p.Stderr.String())
	}
	p.StopCleanly(t)

	seen := idsOf(t, topicValues(t, brokers, topic))
	tl := runnertest.Tally{Records: n}
	for id := range n {
		switch c := seen[id]; {
		case c == 0:
			tl.Lost++
			if len(tl.LostIDs) < 10 {
				tl.LostIDs = append(tl.LostIDs, id)
			}
		case c > 1:
			tl.Duplicated += c - 1
		}
		tl.Received += seen[id]
	}
	faults.add("http source: KILL, TERM, KILL; clients retry", "at_least_once", tl)
	t.Logf("%s; %d requests retried", tl, retried.Load())
	if tl.Lost > 0 {
		t.Fatalf("lost records: %s", tl)
	}
	if retried.Load() == 0 {
		t.Fatal("no request was retried: the kills missed the stream")
	}
}

// BenchmarkHTTPSource: records per second through the http source into a
// real Kafka topic on loopback, with the p99 time to a 200 (which waits for
// Kafka's acknowledgement). Each op is one request of httpBenchPer records
// from one of httpBenchClients clients; bound it with -benchtime=Nx (make
// bench-http runs 2000x). A run over two minutes stops with an error.
func BenchmarkHTTPSource(b *testing.B) {
	const clients, per = 16, 100
	brokers := service.Kafka(b)
	topic := unique("http-bench")
	addr := runnertest.FreeAddr(b)
	stop := runHTTPPipeline(b, httpPipeline(brokers, topic, addr, `linger.ms: "5"`))
	url := "http://" + addr + "/records"
	body := ndjson(0, per)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := postRetrying(ctx, client, url, body); err != nil { // warm up: the stage is up
		b.Fatal(err)
	}
	var next atomic.Int64
	latencies := make([][]time.Duration, clients)
	g, gctx := errgroup.WithContext(ctx)
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		g.Go(func() error {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				tries, err := postRetrying(gctx, client, url, body)
				if err != nil {
					return err
				}
				if tries > 1 {
					return errors.New("a request was answered 503: raise max_in_flight for the benchmark")
				}
				latencies[c] = append(latencies[c], time.Since(t0))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	p99 := all[min(len(all)-1, len(all)*99/100)]
	b.ReportMetric(float64(b.N*per)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
	if err := stop(); err != nil {
		b.Fatal(err)
	}
}
