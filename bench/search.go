package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// searchNode is the OpenSearch node of the opensearch variants: one the
// harness started with scripts/opensearch.sh (stopped by stop), or an
// external one.
type searchNode struct {
	url    string
	dir    string // OPENSEARCH_DIR of an opensearch.sh node
	script string // set when the harness started it
	client *http.Client
}

// startSearchNode runs `opensearch.sh up`; its watchdog (--owner-pid) stops
// the node if the harness dies without stop.
func startSearchNode(ctx context.Context, script string, log io.Writer) (*searchNode, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a first run builds the node
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, script, "up", "--owner-pid", strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = &out, log
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("start an OpenSearch node with %s up: %w", script, err)
	}
	vars := parseKeyValues(out.String())
	n := &searchNode{url: vars["OPENSEARCH_URL"], dir: vars["OPENSEARCH_DIR"], script: script, client: &http.Client{}}
	if n.url == "" || n.dir == "" {
		return nil, fmt.Errorf("%s up printed no OPENSEARCH_URL/OPENSEARCH_DIR:\n%s", script, out.String())
	}
	fmt.Fprintf(log, "OpenSearch node up in %.1fs\n", time.Since(t0).Seconds())
	return n, nil
}

// externalSearchNode is a node the harness did not start.
func externalSearchNode(url string) *searchNode {
	return &searchNode{url: strings.TrimRight(url, "/"), client: &http.Client{}}
}

// stop stops a node the harness started; others are left running.
func (n *searchNode) stop(log io.Writer) error {
	if n == nil || n.script == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.script, "down", "--dir", n.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stop the OpenSearch node in %s: %w", n.dir, err)
	}
	return nil
}

// do sends one request and decodes a 2xx answer's JSON into out (if not nil).
func (n *searchNode) do(ctx context.Context, method, path, body string, out any) error {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.url+path, r)
	if err != nil {
		return fmt.Errorf("opensearch %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("opensearch %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("opensearch %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("opensearch %s %s: %s: %.300s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("opensearch %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// indexSettings: one shard without replicas, so the index is green on one
// node; every number a double, since an order's price is sometimes a whole
// number and dynamic mapping would fix the field's type by the first one.
const indexSettings = `{"settings":{"number_of_shards":1,"number_of_replicas":0},` +
	`"mappings":{"dynamic_templates":[{"whole":{"match_mapping_type":"long","mapping":{"type":"double"}}},` +
	`{"fraction":{"match_mapping_type":"double","mapping":{"type":"double"}}}]}}`

// createIndex makes a fresh index of indexSettings.
func (n *searchNode) createIndex(ctx context.Context, index string) error {
	return n.do(ctx, http.MethodPut, "/"+index, indexSettings, nil)
}

func (n *searchNode) deleteIndex(ctx context.Context, index string) error {
	return n.do(ctx, http.MethodDelete, "/"+index, "", nil)
}

// count is the index's document count; refresh first makes it exact.
func (n *searchNode) count(ctx context.Context, index string, refresh bool) (int64, error) {
	if refresh {
		if err := n.do(ctx, http.MethodPost, "/"+index+"/_refresh", "", nil); err != nil {
			return 0, err
		}
	}
	var c struct {
		Count int64 `json:"count"`
	}
	err := n.do(ctx, http.MethodGet, "/"+index+"/_count", "", &c)
	return c.Count, err
}

// verifyDocs checks that every order of in is a document of index under
// its order_id with the same store, qty and price (smoke runs).
func (n *searchNode) verifyDocs(ctx context.Context, index string, in *input) error {
	ids := make([]string, 0, len(in.orders))
	for id := range in.orders {
		ids = append(ids, id)
	}
	const chunk = 1000
	var missing, wrong int
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		req, err := json.Marshal(map[string][]string{"ids": part})
		if err != nil {
			return fmt.Errorf("encode _mget: %w", err)
		}
		var res struct {
			Docs []struct {
				ID     string   `json:"_id"`
				Found  bool     `json:"found"`
				Source outOrder `json:"_source"`
			} `json:"docs"`
		}
		if err := n.do(ctx, http.MethodPost, "/"+index+"/_mget", string(req), &res); err != nil {
			return err
		}
		for _, d := range res.Docs {
			src := in.orders[d.ID]
			switch {
			case !d.Found:
				missing++
			case d.Source.OrderID != d.ID || d.Source.Store != src.Store || d.Source.Qty != src.Qty || d.Source.Price != src.Price:
				wrong++
			}
		}
	}
	if missing+wrong > 0 {
		return fmt.Errorf("index %s: %d orders missing, %d with other content", index, missing, wrong)
	}
	return nil
}
