package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/engine"
)

type noConnectors struct{}

func (noConnectors) Spec(string, string) (connectors.Spec, bool) { return connectors.Spec{}, false }

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// A restarted stage replaces its entry (one series, the new counters); a
// removed stage's series go.
func TestAddStageReplacesRemoveStageDrops(t *testing.T) {
	r := New(noConnectors{})
	old, restarted, other := &engine.Counters{}, &engine.Counters{}, &engine.Counters{}
	old.In.Store(5)
	restarted.In.Store(7)
	r.AddStage(engine.StageInfo{Pipeline: "p", Stage: "s", Kind: "transform", Delivery: "at_least_once", Counters: old})
	r.AddStage(engine.StageInfo{Pipeline: "p", Stage: "t", Kind: "transform", Delivery: "at_least_once", Counters: other})
	r.AddStage(engine.StageInfo{Pipeline: "p", Stage: "s", Kind: "transform", Delivery: "at_least_once", Counters: restarted})
	r.ConsumerLag("p", "t", map[connectors.Partition]int64{{Topic: "in", Partition: 0}: 3})
	got := scrape(t, r)
	if n := strings.Count(got, `conveyor_records_in_total{pipeline="p",stage="s"}`); n != 1 {
		t.Fatalf("stage s has %d in series:\n%s", n, got)
	}
	if !strings.Contains(got, `conveyor_records_in_total{pipeline="p",stage="s"} 7`) {
		t.Fatalf("stage s does not show the restarted counters:\n%s", got)
	}
	r.RemoveStage("p", "t")
	got = scrape(t, r)
	if strings.Contains(got, `stage="t"`) {
		t.Fatalf("removed stage t still has series:\n%s", got)
	}
	if !strings.Contains(got, `stage="s"`) {
		t.Fatal("removing t dropped s")
	}
}
