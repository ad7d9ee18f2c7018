// Package opensearch is a sink that indexes records into OpenSearch (and,
// untested, Elasticsearch, whose _bulk API is the same) with bulk requests:
// document ids from the record key or an expression, upserts, deletes on
// tombstones and external versions from the Kafka offset, so that a replay
// after a crash never overwrites a newer document with an older one.
package opensearch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Spec declares the opensearch sink.
func Spec() connectors.SinkSpec {
	return connectors.SinkSpec{
		Spec: connectors.Spec{
			Name:    "opensearch",
			Doc:     "Indexes records into OpenSearch with bulk requests: ids from the key, upserts, deletes on tombstones, external versions.",
			Config:  Config{},
			Example: "url: http://localhost:9200\nindex_expression: '\"rewards-\" + format_time(_timestamp, \"2006.01.02\")'\nversion: offset\n",
			Caps: connectors.Capabilities{
				Describe: []connectors.Detail{{Option: "index", Format: "index %s"}, {Option: "index_expression", Format: "index %s"}},
			},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return New(c, env) },
	}
}

// Sink writes batches with the _bulk API.
type Sink struct {
	s      *settings
	client *opensearchapi.Client
	m      *expression.Machine
	env    expression.Env
	// outcomes remembers, across the Write calls the stage makes for one
	// batch, which records are written and which OpenSearch refused for
	// good, so that a batch handed back (for a refused record or after
	// retries ran out) sends only what is not done yet.
	outcomes map[*record.Record]outcome
	// retryWait is the backoff's first interval; tests shorten it.
	retryWait time.Duration
}

type outcome struct {
	at  position // the record the outcome is of, in case a pointer is reused
	err error    // nil: done
}

type position struct {
	topic     string
	partition int32
	offset    int64
}

func positionOf(r *record.Record) position {
	return position{r.Topic, r.Partition, r.Offset}
}

// New checks the config and makes the client; it connects to nothing.
func New(c pipeline.Connector, env connectors.Env) (*Sink, error) {
	s, err := parse(c, env)
	if err != nil {
		return nil, err
	}
	cfg := opensearch.Config{
		Addresses:          s.urls,
		Username:           s.username,
		Password:           s.password,
		InsecureSkipVerify: s.tlsInsecure,
		DisableRetry:       true, // Write retries, item by item
		RequestTimeout:     s.timeout,
	}
	if s.token != "" {
		cfg.Header = http.Header{"Authorization": {"Bearer " + s.token}}
	}
	client, err := opensearchapi.NewClient(opensearchapi.Config{Client: cfg})
	if err != nil {
		return nil, fmt.Errorf("opensearch client: %w", s.redact(err))
	}
	return &Sink{s: s, client: client, m: expression.Options{Vars: s.vars}.NewMachine(), retryWait: 100 * time.Millisecond}, nil
}

// BatchSize is the stage's batch size for this sink.
func (s *Sink) BatchSize() int { return s.s.batchSize }

// FlushInterval is how long the stage fills a batch.
func (s *Sink) FlushInterval() time.Duration { return s.s.flushInterval }

// Close has nothing to flush: Write returns once its batch is done.
func (s *Sink) Close() error { return nil }

// Write indexes the batch. It returns nil once OpenSearch says every record
// is done; a *connectors.RecordError for a record it refused for good (a
// mapping error), after which the stage calls Write again without it; and
// any other error when requests or items kept failing with network errors,
// 429 or 5xx after max_retries retries.
func (s *Sink) Write(ctx context.Context, batch []*record.Record) error {
	s.keepOutcomesOf(batch)
	var pending []*item
	for i, r := range batch {
		if o, ok := s.outcomes[r]; ok {
			if o.err != nil {
				return &connectors.RecordError{Index: i, Err: o.err}
			}
			continue
		}
		it, err := s.build(r)
		if err != nil {
			s.outcomes[r] = outcome{at: positionOf(r), err: err}
			continue
		}
		if it == nil { // a skipped tombstone
			s.outcomes[r] = outcome{at: positionOf(r)}
			continue
		}
		it.index = i
		pending = append(pending, it)
	}
	if err := s.send(ctx, pending); err != nil {
		return err
	}
	for i, r := range batch {
		if o := s.outcomes[r]; o.err != nil {
			return &connectors.RecordError{Index: i, Err: o.err}
		}
	}
	clear(s.outcomes)
	return nil
}

// keepOutcomesOf forgets outcomes of records that are not in batch: the
// stage has moved on from the batch they were of.
func (s *Sink) keepOutcomesOf(batch []*record.Record) {
	if len(s.outcomes) == 0 {
		if s.outcomes == nil {
			s.outcomes = map[*record.Record]outcome{}
		}
		return
	}
	kept := make(map[*record.Record]outcome, len(s.outcomes))
	for _, r := range batch {
		if o, ok := s.outcomes[r]; ok && o.at == positionOf(r) {
			kept[r] = o
		}
	}
	s.outcomes = kept
}

// send writes items, retrying the requests and items that fail for a while
// (network errors, 429, 5xx) with backoff, at most maxRetries times.
func (s *Sink) send(ctx context.Context, pending []*item) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = s.retryWait, 30*s.retryWait
	for attempt := 0; len(pending) > 0; attempt++ {
		var retry []*item
		var last error
		for _, req := range s.split(pending) {
			failed, err := s.bulk(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				last = err
			}
			retry = append(retry, failed...)
		}
		if len(retry) == 0 {
			return nil
		}
		if attempt >= s.s.maxRetries {
			return fmt.Errorf("opensearch: %d of the batch's documents not written after %d retries: %w", len(retry), attempt, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.NextBackOff()):
		}
		pending = retry
	}
	return nil
}

// split cuts items into requests of at most maxBytes (one item at least).
func (s *Sink) split(items []*item) [][]*item {
	var reqs [][]*item
	start, size := 0, 0
	for i, it := range items {
		if i > start && size+len(it.lines) > s.s.maxBytes {
			reqs = append(reqs, items[start:i])
			start, size = i, 0
		}
		size += len(it.lines)
	}
	return append(reqs, items[start:])
}

// bulk sends one _bulk request and records each item's outcome. It returns
// the items to send again: every item when the request failed (with the
// error), else those whose status says try again.
func (s *Sink) bulk(ctx context.Context, items []*item) ([]*item, error) {
	size := 0
	for _, it := range items {
		size += len(it.lines)
	}
	body := make([]byte, 0, size)
	for _, it := range items {
		body = append(body, it.lines...)
	}
	resp, err := s.client.Bulk(ctx, opensearchapi.BulkReq{Body: bytesReader(body)})
	if err != nil {
		return items, fmt.Errorf("bulk request: %w", s.s.redact(err))
	}
	if len(resp.Items) != len(items) {
		return items, fmt.Errorf("bulk request: %d items answered for %d sent", len(resp.Items), len(items))
	}
	var retry []*item
	var last error
	for i, answer := range resp.Items {
		it := items[i]
		var res opensearchapi.BulkRespItem
		for _, v := range answer { // one key: the action
			res = v
		}
		switch s.classify(it, res) {
		case done:
			s.outcomes[it.rec] = outcome{at: positionOf(it.rec)}
		case refused:
			s.outcomes[it.rec] = outcome{at: positionOf(it.rec), err: itemError(res)}
		case again:
			retry = append(retry, it)
			last = itemError(res)
		}
	}
	return retry, last
}

type verdict int

const (
	done verdict = iota
	refused
	again
)

// classify says what an item's status means for its record.
func (s *Sink) classify(it *item, res opensearchapi.BulkRespItem) verdict {
	switch st := res.Status; {
	case st >= 200 && st < 300:
		return done
	case st == http.StatusNotFound && it.action == "delete":
		return done // already gone
	case st == http.StatusConflict && it.versioned:
		// The document has this version or a newer one: a replay of
		// what is already there.
		return done
	case st == http.StatusConflict, st == http.StatusTooManyRequests, st >= 500:
		return again
	default:
		return refused
	}
}

// itemError is the reason OpenSearch gives for an item.
func itemError(res opensearchapi.BulkRespItem) error {
	if res.Error == nil {
		return fmt.Errorf("opensearch answered status %d", res.Status)
	}
	msg := fmt.Sprintf("opensearch answered status %d: %s: %s", res.Status, res.Error.Type, res.Error.Reason)
	if c := res.Error.Cause; c.Reason != "" {
		msg += fmt.Sprintf(" (caused by %s: %s)", c.Type, c.Reason)
	}
	return errors.New(msg)
}

// redact takes the password and token out of an error's text: transport
// errors may quote a request.
func (s *settings) redact(err error) error {
	msg := err.Error()
	clean := msg
	secrets := []string{s.password, s.token}
	if s.password != "" {
		// What the Authorization header of basic authentication carries.
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(s.username+":"+s.password)))
	}
	for _, secret := range secrets {
		if secret != "" {
			clean = strings.ReplaceAll(clean, secret, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
