package service

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
)

// searchNode is the test binary's OpenSearch node. A restart may move it to
// another port, so its URL is read under mu.
type searchNode struct {
	p  *proc
	mu sync.Mutex // guards p.addr; one restart at a time
}

func (n *searchNode) url() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p.addr
}

// OpenSearch returns the base URL ("http://127.0.0.1:port") of a single-node
// OpenSearch 2.19.6 shared by the test binary: CONVEYOR_OPENSEARCH_URL if
// set, else a node scripts/opensearch.sh starts. New indices get no replicas
// (cluster.default_number_of_replicas is 0), so they turn green. The node
// has no security plugin (plain HTTP, no auth), no painless scripts and no
// ingest processors. Tests that share it must use their own indices.
func OpenSearch(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("CONVEYOR_OPENSEARCH_URL"); u != "" {
		return u
	}
	return startedOpenSearch(t).url()
}

func startedOpenSearch(t testing.TB) *searchNode {
	t.Helper()
	n, err := search.get(startOpenSearch)
	if err != nil {
		unavailable(t, "OpenSearch node", err)
	}
	return n
}

func startOpenSearch() (*searchNode, error) {
	script, err := scriptPath("opensearch.sh")
	if err != nil {
		return nil, err
	}
	out, err := runScript(upTimeout, script, "up", "--owner-pid", strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	p := &proc{script: script, dir: out["OPENSEARCH_DIR"], addr: out["OPENSEARCH_URL"], owned: true}
	if p.dir == "" || p.addr == "" {
		return nil, fmt.Errorf("%s up printed no OPENSEARCH_DIR/OPENSEARCH_URL", script)
	}
	return &searchNode{p: p}, nil
}

// RestartOpenSearch stops the node cleanly and starts it again on the same
// data, for fault tests, and returns its URL once every index's primary is
// assigned again. The port stays the same unless another process took it
// while the node was down (rare); tests should use the returned URL. Open
// connections break and requests in flight fail. It skips the test when the
// node is an external one (CONVEYOR_OPENSEARCH_URL without OPENSEARCH_DIR).
func RestartOpenSearch(t testing.TB) string {
	t.Helper()
	if os.Getenv("CONVEYOR_OPENSEARCH_URL") != "" {
		dir := os.Getenv("OPENSEARCH_DIR")
		if dir == "" {
			t.Skip("RestartOpenSearch: CONVEYOR_OPENSEARCH_URL is an external node; set OPENSEARCH_DIR to its scripts/opensearch.sh folder to restart it")
		}
		script, err := scriptPath("opensearch.sh")
		if err != nil {
			t.Fatalf("RestartOpenSearch: %v", err)
		}
		out, err := runScript(upTimeout, script, "restart", "--dir", dir)
		if err != nil {
			t.Fatalf("RestartOpenSearch: %v", err)
		}
		if out["OPENSEARCH_URL"] == "" {
			t.Fatal("RestartOpenSearch: opensearch.sh restart printed no OPENSEARCH_URL")
		}
		return out["OPENSEARCH_URL"]
	}
	n := startedOpenSearch(t)
	n.mu.Lock()
	defer n.mu.Unlock()
	out, err := runScript(upTimeout, n.p.script, "restart", "--dir", n.p.dir)
	if err != nil {
		t.Fatalf("RestartOpenSearch: %v", err)
	}
	if u := out["OPENSEARCH_URL"]; u != "" {
		n.p.addr = u
	}
	return n.p.addr
}
