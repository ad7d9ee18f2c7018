package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchutil"
	"golang.org/x/sync/errgroup"
)

// The plain-client baselines of the sinks share the sink variants'
// settings, so the ratio measures the connector and the runner around it.
const (
	httpBatch       = 100     // records per NDJSON request
	httpInFlight    = 8       // requests under way at once
	openSearchBytes = 5 << 20 // bytes per bulk request (the sink's max_bytes default)
)

// sinkRawOptions are the flags of `bench http-raw` and `bench opensearch-raw`.
type sinkRawOptions struct {
	brokers, in, group, url, index string
	n                              int64
}

func parseSinkRawOptions(cmd string, args []string, stderr io.Writer) (sinkRawOptions, error) {
	var o sinkRawOptions
	fs := flag.NewFlagSet("bench "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.brokers, "brokers", "", "bootstrap servers")
	fs.StringVar(&o.in, "in", "", "input topic")
	fs.StringVar(&o.group, "group", "", "consumer group")
	fs.StringVar(&o.url, "url", "", "where to send: the receiver's URL, or the OpenSearch node")
	fs.StringVar(&o.index, "index", "", "the OpenSearch index (opensearch-raw)")
	fs.Int64Var(&o.n, "n", 0, "records to send before exiting")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.brokers == "" || o.in == "" || o.group == "" || o.url == "" || o.n <= 0 {
		return o, fmt.Errorf("%s: -brokers, -in, -group, -url and -n > 0 are required", cmd)
	}
	if cmd == varOpenSearchRaw && o.index == "" {
		return o, fmt.Errorf("%s: -index is required", cmd)
	}
	return o, nil
}

// runSinkRaw runs a sink's baseline: consume n records, send them with the
// plain client, and commit the consumed offsets once every one is done.
func runSinkRaw(ctx context.Context, cmd string, args []string, stderr io.Writer) (err error) {
	o, err := parseSinkRawOptions(cmd, args, stderr)
	if err != nil {
		return err
	}
	c, err := kafka.NewConsumer(rawConsumerConfig(o.brokers, o.group))
	if err != nil {
		return fmt.Errorf("%s: create consumer: %w", cmd, err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: close consumer: %w", cmd, cerr))
		}
	}()
	if err := c.Subscribe(o.in, nil); err != nil {
		return fmt.Errorf("%s: subscribe to %s: %w", cmd, o.in, err)
	}
	var next []kafka.TopicPartition
	if cmd == varHTTPRaw {
		next, err = postRecords(ctx, c, o)
	} else {
		next, err = indexRecords(ctx, c, o)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if _, err := c.CommitOffsets(next); err != nil {
		return fmt.Errorf("%s: commit offsets: %w", cmd, err)
	}
	return nil
}

// consumeN hands n records of topic to handle and returns the offsets to
// commit.
func consumeN(ctx context.Context, c *kafka.Consumer, topic string, n int64, handle func(*kafka.Message) error) ([]kafka.TopicPartition, error) {
	next := map[int32]kafka.Offset{}
	for got := int64(0); got < n; {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("stopped after %d records: %w", got, ctx.Err())
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, fmt.Errorf("consume %s: %w", topic, e.TopicPartition.Error)
			}
			next[e.TopicPartition.Partition] = e.TopicPartition.Offset + 1
			if err := handle(e); err != nil {
				return nil, err
			}
			got++
		case kafka.Error:
			if e.IsFatal() {
				return nil, fmt.Errorf("consumer: %w", e)
			}
		}
	}
	offs := make([]kafka.TopicPartition, 0, len(next))
	for part, off := range next {
		offs = append(offs, kafka.TopicPartition{Topic: &topic, Partition: part, Offset: off})
	}
	return offs, nil
}

// postRecords is the http sink's baseline: the record values as they are,
// httpBatch to an NDJSON body, httpInFlight requests at once.
func postRecords(ctx context.Context, c *kafka.Consumer, o sinkRawOptions) ([]kafka.TopicPartition, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: httpInFlight}}
	defer client.CloseIdleConnections()
	g, gctx := errgroup.WithContext(ctx)
	bodies := make(chan []byte, httpInFlight)
	for range httpInFlight {
		g.Go(func() error {
			for b := range bodies {
				if err := post(gctx, client, o.url, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var cur []byte
	var inBatch int
	next, err := consumeN(gctx, c, o.in, o.n, func(m *kafka.Message) error {
		cur = append(append(cur, m.Value...), '\n')
		if inBatch++; inBatch < httpBatch {
			return nil
		}
		select {
		case bodies <- cur:
		case <-gctx.Done():
			return gctx.Err()
		}
		cur, inBatch = nil, 0
		return nil
	})
	if err == nil && len(cur) > 0 {
		bodies <- cur
	}
	close(bodies)
	return next, errors.Join(err, g.Wait())
}

func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to %s: %s", url, resp.Status)
	}
	return nil
}

// indexRecords is the opensearch sink's baseline: a bare BulkIndexer, each
// record value indexed as it is under its order_id.
func indexRecords(ctx context.Context, c *kafka.Consumer, o sinkRawOptions) ([]kafka.TopicPartition, error) {
	client, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{Addresses: []string{o.url}}})
	if err != nil {
		return nil, fmt.Errorf("opensearch client: %w", err)
	}
	bi, err := opensearchutil.NewBulkIndexer(opensearchutil.BulkIndexerConfig{Client: client, Index: o.index, FlushBytes: openSearchBytes})
	if err != nil {
		return nil, fmt.Errorf("bulk indexer: %w", err)
	}
	var failed atomic.Int64
	var firstFailure atomic.Value
	onFailure := func(_ context.Context, item opensearchutil.BulkIndexerItem, res opensearchapi.BulkRespItem, err error) {
		failed.Add(1)
		firstFailure.CompareAndSwap(nil, fmt.Sprintf("%s: status %d %v %v", item.DocumentID, res.Status, res.Error, err))
	}
	next, err := consumeN(ctx, c, o.in, o.n, func(m *kafka.Message) error {
		id, err := orderID(m.Value)
		if err != nil {
			return err
		}
		return bi.Add(ctx, opensearchutil.BulkIndexerItem{Action: "index", DocumentID: id, Body: bytes.NewReader(m.Value), OnFailure: onFailure})
	})
	if cerr := bi.Close(context.WithoutCancel(ctx)); cerr != nil {
		err = errors.Join(err, fmt.Errorf("flush the bulk indexer: %w", cerr))
	}
	if n := failed.Load(); n > 0 {
		err = errors.Join(err, fmt.Errorf("%d items failed, the first %v", n, firstFailure.Load()))
	}
	return next, err
}

// orderID reads the document id out of an order's JSON.
func orderID(value []byte) (string, error) {
	var o struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal(value, &o); err != nil {
		return "", fmt.Errorf("decode order: %w", err)
	}
	if o.OrderID == "" {
		return "", errors.New("order without order_id")
	}
	return o.OrderID, nil
}
