package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// The lag a runner reports must be the lag Kafka's own tool
// (kafka-consumer-groups.sh --describe) reports for the same group: 0 when
// caught up, whoever commits (a consumer, a transaction, a SQL sink with
// its own offset store) and whichever process owns the partitions.

var lagLine = regexp.MustCompile(`(?m)^conveyor_consumer_lag\{partition="(\d+)",pipeline="[^"]*",stage="([^"]*)",topic="([^"]*)"\} (\S+)$`)

// scrapeLag reads the lag series of stage from a runner's /metrics, keyed
// "topic[partition]".
func scrapeLag(t *testing.T, addr, stage string) map[string]int64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	lag := map[string]int64{}
	for _, m := range lagLine.FindAllStringSubmatch(string(body), -1) {
		if m[2] != stage {
			continue
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Fatalf("lag %q: %v", m[0], err)
		}
		lag[fmt.Sprintf("%s[%s]", m[3], m[1])] = int64(v)
	}
	return lag
}

// sameLag waits until the runner's lag of stage equals Kafka's tool's for
// group, partition by partition (both with every partition of topics
// present, when want is set: that many partitions), and returns them.
func sameLag(t *testing.T, brokers, addr, stage, group string, partitions int, timeout time.Duration) (ours, kafkas map[string]int64) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Second) {
		ours, kafkas = scrapeLag(t, addr, stage), service.GroupLag(t, brokers, group)
		if len(ours) == partitions && fmt.Sprint(ours) == fmt.Sprint(kafkas) {
			return ours, kafkas
		}
		if time.Now().After(deadline) {
			t.Fatalf("stage %s: runner's lag %v, Kafka's tool says %v for group %s", stage, ours, kafkas, group)
		}
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestLagAsKafkaSays runs a chain that reads transactional topics (an
// exactly-once stage writes the middle one) into an exactly-once SQL sink,
// kills it once mid-stream, and compares every stage's lag with Kafka's
// tool once all is through: 0 everywhere.
func TestLagAsKafkaSays(t *testing.T) { eachDelivery(t, testLagAsKafkaSays) }

func testLagAsKafkaSays(t *testing.T, delivery string) {
	brokers := service.Kafka(t)
	dsn := service.Postgres(t)
	name := unique("lag")
	in := name + "-in"
	kafkatest.CreateTopic(t, brokers, in, 3)
	addr := runnertest.FreeAddr(t)
	cfg := writePipeline(t, name, fmt.Sprintf(`pipeline: %s
kafka:
  brokers: ${KAFKA_BROKERS}
  config: {%s}
topics:
  %[1]s-mid: {partitions: 3}
  %[1]s-out: {partitions: 3}
transforms:
  first:
    from: %[3]s
    delivery: exactly_once
    steps: [{set: {hop: 1}}]
    to: %[1]s-mid
  second:
    from: %[1]s-mid
    delivery: ${DELIVERY}
    steps: [{set: {copied: true}}]
    to: %[1]s-out
sinks:
  rows:
    from: %[1]s-out
    delivery: exactly_once
    sql: {driver: postgres, dsn: '${PG_DSN}', table: %[4]s, mode: insert, auto_create: true}
`, name, kafkaProps(fastGroups), in, sqlTable(name)))
	env := []string{"KAFKA_BROKERS=" + brokers, "PG_DSN=" + dsn, "DELIVERY=" + delivery, "CONVEYOR_METRICS_ADDR=" + addr}
	feed := runnertest.Feed(t, brokers, in, 2000, 30)
	p := runnertest.Start(t, cfg, env...)
	kafkatest.ReadUntil(t, brokers, name+"-out", time.Minute, kafkatest.Count(3000))
	p.Kill(t)
	p = runnertest.Start(t, cfg, env...)
	time.Sleep(2 * time.Second)
	n := feed.Stop(t)
	values := sqlOutput(t, name, "", n, nil)
	if tl := runnertest.CountValues(t, values, n); tl.Lost != 0 {
		t.Fatalf("rows: %s", tl)
	}
	for _, st := range []struct{ stage, group string }{{"first", name + ".first"}, {"second", name + ".second"}, {"rows", name + ".rows"}} {
		ours, kafkas := sameLag(t, brokers, addr, st.stage, st.group, 3, time.Minute)
		if sum(ours) != 0 {
			t.Errorf("stage %s caught up, yet lag %v (Kafka's tool: %v)", st.stage, ours, kafkas)
		}
	}
	if err := p.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, p.Stderr.String())
	}
}

// TestLagWhileWaiting: a process that owns no partitions (its predecessor
// was killed under another instance name and still holds them until its
// session times out) reports the group's real lag, not 0, and says why it
// waits.
func TestLagWhileWaiting(t *testing.T) {
	brokers := service.Kafka(t)
	name, in, out := topicPair(t, brokers, "waitlag", 3)
	runnertest.Preload(t, brokers, in, 1000, 10)
	cfg := runnertest.Passthrough(t, name, in, out, map[string]string{"session.timeout.ms": "60000"})
	first := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "CONVEYOR_INSTANCE=first")
	kafkatest.ReadUntil(t, brokers, out, time.Minute, runnertest.UniqueValues(1000))
	time.Sleep(time.Second) // its offsets committed
	first.Kill(t)
	runnertest.Preload(t, brokers, in, 3000, 10)
	addr := runnertest.FreeAddr(t)
	second := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "CONVEYOR_INSTANCE=second", "CONVEYOR_METRICS_ADDR="+addr)
	second.WaitLog(t, "waiting for partitions", 30*time.Second)
	if strings.Contains(second.Stderr.String(), "partitions assigned") {
		t.Fatalf("the second process got partitions while the killed one's session lasted:\n%s", second.Stderr.String())
	}
	ours, kafkas := sameLag(t, brokers, addr, "copy", name+".copy", 3, 30*time.Second)
	if sum(ours) != 3000 {
		t.Errorf("lag %v (Kafka's tool: %v), want 3000 records in all", ours, kafkas)
	}
	if err := second.Term(t); err != nil {
		t.Errorf("runner exit: %v\n%s", err, second.Stderr.String())
	}
}
