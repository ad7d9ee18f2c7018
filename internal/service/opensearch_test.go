package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/service"
)

// What the opensearch sink relies on: external versions refuse an older
// write with 409 (so a replay never overwrites a newer document), a new
// index turns green on one node, and a restart keeps documents and their
// versions.
func TestOpenSearchExternalVersionsAndRestart(t *testing.T) {
	t.Parallel()
	url := service.OpenSearch(t)
	index := fmt.Sprintf("service-test-%d", time.Now().UnixNano())
	doc := url + "/" + index + "/_doc/1"

	st, body := searchCall(t, "PUT", doc+"?version=5&version_type=external", `{"n":5}`)
	if st != http.StatusCreated || body["_version"] != 5.0 {
		t.Fatalf("index version 5: %d %v, want 201 and _version 5", st, body)
	}
	checkDoc(t, doc, 5)
	for _, v := range []int{4, 5} {
		st, body = searchCall(t, "PUT", fmt.Sprintf("%s?version=%d&version_type=external", doc, v), fmt.Sprintf(`{"n":%d}`, v))
		if st != http.StatusConflict || errorType(body) != "version_conflict_engine_exception" {
			t.Fatalf("index version %d over 5: %d %v, want 409 version_conflict_engine_exception", v, st, body)
		}
	}
	st, body = searchCall(t, "PUT", doc+"?version=6&version_type=external", `{"n":6}`)
	if st != http.StatusOK || body["_version"] != 6.0 {
		t.Fatalf("index version 6 over 5: %d %v, want 200 and _version 6", st, body)
	}
	checkDoc(t, doc, 6)

	// cluster.default_number_of_replicas 0: no replica left unassigned.
	st, body = searchCall(t, "GET", url+"/_cluster/health/"+index+"?wait_for_status=green&timeout=30s", "")
	if st != http.StatusOK || body["status"] != "green" {
		t.Fatalf("health of %s: %d %v, want green", index, st, body)
	}

	before := nodeStart(t, url)
	after := service.RestartOpenSearch(t)
	if after != url {
		t.Logf("the node came back on another port: %s, was %s", after, url)
	}
	if now := nodeStart(t, after); now <= before {
		t.Fatalf("the node's JVM started at %.0f before the restart and at %.0f after: not restarted", before, now)
	}
	doc = after + "/" + index + "/_doc/1"
	checkDoc(t, doc, 6)
	st, body = searchCall(t, "PUT", doc+"?version=5&version_type=external", `{"n":5}`)
	if st != http.StatusConflict || errorType(body) != "version_conflict_engine_exception" {
		t.Fatalf("index version 5 over 6 after the restart: %d %v, want 409", st, body)
	}
}

// checkDoc reads doc and wants version v with {"n": v}.
func checkDoc(t *testing.T, doc string, v float64) {
	t.Helper()
	st, body := searchCall(t, "GET", doc, "")
	src, _ := body["_source"].(map[string]any)
	if st != http.StatusOK || body["found"] != true || body["_version"] != v || src["n"] != v {
		t.Fatalf("GET %s: %d %v, want version %v with n %v", doc, st, body, v, v)
	}
}

// nodeStart is when the node's JVM started (ms since the epoch).
func nodeStart(t *testing.T, url string) float64 {
	t.Helper()
	st, body := searchCall(t, "GET", url+"/_nodes/_local/jvm", "")
	nodes, _ := body["nodes"].(map[string]any)
	if st != http.StatusOK || len(nodes) != 1 {
		t.Fatalf("GET /_nodes/_local/jvm: %d %v, want one node", st, body)
	}
	for _, n := range nodes {
		jvm, _ := n.(map[string]any)["jvm"].(map[string]any)
		if ms, ok := jvm["start_time_in_millis"].(float64); ok {
			return ms
		}
	}
	t.Fatalf("GET /_nodes/_local/jvm: no jvm.start_time_in_millis in %v", body)
	return 0
}

func errorType(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

// searchCall sends a JSON request to OpenSearch and returns the status and
// the decoded JSON answer.
func searchCall(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %s: %v: %s", method, url, resp.Status, err, b)
	}
	return resp.StatusCode, m
}
