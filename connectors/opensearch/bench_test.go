package opensearch

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchutil"

	"github.com/conveyor-dev/conveyor/record"
)

const benchDocs = 10000

// benchNode is CONVEYOR_OPENSEARCH_URL, or the benchmark skips.
func benchNode(b *testing.B) string {
	u := os.Getenv("CONVEYOR_OPENSEARCH_URL")
	if u == "" {
		b.Skip("CONVEYOR_OPENSEARCH_URL is not set")
	}
	return strings.TrimRight(u, "/")
}

func benchIndex(b *testing.B, url, name string) {
	req, _ := http.NewRequest(http.MethodPut, url+"/"+name, strings.NewReader(`{"settings":{"number_of_shards":1,"number_of_replicas":0}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	b.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, url+"/"+name, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
}

// benchBatch is benchDocs records of 1000 keys, offsets from first.
func benchBatch(first int64) []*record.Record {
	batch := make([]*record.Record, benchDocs)
	for i := range batch {
		off := first + int64(i)
		batch[i] = &record.Record{Topic: "rewards", Offset: off, Key: []byte("user-" + strconv.FormatInt(off%1000, 10)),
			Value: map[string]any{"user": off % 1000, "points": off, "tier": "gold", "note": "glazed, maple and plain"}}
	}
	return batch
}

// BenchmarkSinkVsBulkIndexer indexes the same documents (ids and external
// versions) with the sink's Write and with a bare opensearchutil.BulkIndexer
// loop against a real node, in the same run: compare their docs/s.
func BenchmarkSinkVsBulkIndexer(b *testing.B) {
	url := benchNode(b)
	b.Run("sink", func(b *testing.B) {
		index := fmt.Sprintf("bench-sink-%d", b.N)
		benchIndex(b, url, index)
		s, err := build(fmt.Sprintf("{url: %s, index: %s, version: offset}", url, index))
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := s.Write(context.Background(), benchBatch(int64(i)*benchDocs)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "docs/s")
	})
	b.Run("bulkindexer", func(b *testing.B) {
		index := fmt.Sprintf("bench-bi-%d", b.N)
		benchIndex(b, url, index)
		client, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{Addresses: []string{url}}})
		if err != nil {
			b.Fatal(err)
		}
		external := "external"
		b.ResetTimer()
		for i := range b.N {
			var failed atomic.Int64
			bi, err := opensearchutil.NewBulkIndexer(opensearchutil.BulkIndexerConfig{Client: client, Index: index})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range benchBatch(int64(i) * benchDocs) {
				doc, err := record.JSON.Encode(r.Value)
				if err != nil {
					b.Fatal(err)
				}
				v := r.Offset
				err = bi.Add(context.Background(), opensearchutil.BulkIndexerItem{
					Action: "index", DocumentID: string(r.Key), Version: &v, VersionType: &external, Body: bytes.NewReader(doc),
					OnFailure: func(_ context.Context, _ opensearchutil.BulkIndexerItem, res opensearchapi.BulkRespItem, _ error) {
						if res.Status != http.StatusConflict {
							failed.Add(1)
						}
					},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := bi.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d items failed", n)
			}
		}
		b.ReportMetric(float64(b.N*benchDocs)/b.Elapsed().Seconds(), "docs/s")
	})
}
