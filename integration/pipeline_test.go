package integration

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// unique names topics and groups per test run, so tests share one broker
// (and a user's cluster) without seeing each other's data.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// TestDonutOrders runs the shipped demo, unchanged but for its topic names,
// on a real broker with a fixed seed and count, and checks the exact count
// of every topic and sink against what the generator produced.
func TestDonutOrders(t *testing.T) {
	brokers := service.Kafka(t)
	src, err := os.ReadFile("../configs/donut-orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	name := unique("donut")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "donut.yaml")
	schemas, err := filepath.Abs("../schemas")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(src), "../schemas/", schemas+"/")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(text, "donut-orders", name)), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	archive := filepath.Join(dir, "retail.jsonl")
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+brokers, "DONUT_COUNT=3000", "DONUT_SEED=7", "DONUT_RATE=3000/s", "DONUT_ARCHIVE="+archive)

	// Work out from the generated orders where each must end up.
	orders := kafkatest.ReadUntil(t, brokers, name, 60*time.Second, kafkatest.Count(n))
	if len(orders) != n {
		t.Fatalf("topic %s has %d orders, want %d; stderr:\n%s", name, len(orders), n, p.Stderr.String())
	}
	prices := map[string]float64{"glazed": 1.25, "maple": 2.50, "boston-cream": 2.75, "sprinkles": 1.75}
	var wantPriced, wantBulk, wantRetail, wantDLQ int
	for _, m := range orders {
		var o struct {
			Donut string
			Qty   int
		}
		if err := json.Unmarshal(m.Value, &o); err != nil {
			t.Fatal(err)
		}
		_, onMenu := prices[o.Donut]
		switch {
		case o.Qty <= 0 || !onMenu:
			wantDLQ++
		case o.Qty >= 24:
			wantPriced++
			wantBulk++
		default:
			wantPriced++
			wantRetail++
		}
	}
	for _, g := range []struct {
		stage, topic string
		total        int
	}{
		{"price", name, n}, {"route", name + "-priced", wantPriced}, {"show-bulk", name + "-bulk", wantBulk},
		{"show-rejects", name + "-dlq", wantDLQ}, {"archive", name + "-retail", wantRetail},
	} {
		if !kafkatest.WaitCommitted(t, brokers, name+"."+g.stage, g.topic, int64(g.total), 90*time.Second) {
			t.Fatalf("stage %s did not commit %d records of %s; stderr:\n%s", g.stage, g.total, g.topic, p.Stderr.String())
		}
	}
	if err := p.Term(t); err != nil {
		t.Fatalf("runner exit: %v\n%s", err, p.Stderr.String())
	}

	counts := map[string]int{}
	for _, topic := range []string{name + "-priced", name + "-bulk", name + "-retail", name + "-dlq"} {
		msgs := kafkatest.ReadAll(t, brokers, topic, 30*time.Second)
		counts[topic] = len(msgs)
		if topic == name+"-priced" {
			for _, m := range msgs {
				var o struct {
					Donut     string
					Qty       int
					UnitPrice float64 `json:"unit_price"`
					Total     float64
				}
				if err := json.Unmarshal(m.Value, &o); err != nil {
					t.Fatal(err)
				}
				if o.UnitPrice != prices[o.Donut] || math.Abs(o.Total-float64(o.Qty)*o.UnitPrice) > 0.005 {
					t.Fatalf("mispriced order %s", m.Value)
				}
			}
		}
	}
	want := map[string]int{name + "-priced": wantPriced, name + "-bulk": wantBulk, name + "-retail": wantRetail, name + "-dlq": wantDLQ}
	for topic, w := range want {
		if counts[topic] != w {
			t.Errorf("topic %s has %d records, want %d", topic, counts[topic], w)
		}
	}
	if got := countLines(t, archive); got != wantRetail {
		t.Errorf("archive file has %d lines, want %d", got, wantRetail)
	}
	out := p.Stdout.String()
	if got := strings.Count(out, name+"-bulk["); got != wantBulk {
		t.Errorf("stdout shows %d bulk orders, want %d", got, wantBulk)
	}
	if got := strings.Count(out, "REJECTED "); got != wantDLQ {
		t.Errorf("stdout shows %d rejected orders, want %d", got, wantDLQ)
	}
	t.Logf("orders=%d priced=%d bulk=%d retail=%d dead letters=%d", n, wantPriced, wantBulk, wantRetail, wantDLQ)
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}
