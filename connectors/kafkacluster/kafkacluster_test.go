package kafkacluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

func connector(t *testing.T, path, body string) pipeline.Connector {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	return pipeline.Connector{Kind: "kafka_cluster", Node: n.Content[0], Path: path, Pos: pipeline.Pos{File: "p.yaml", Line: 1, Col: 1}}
}

var ts0 = time.UnixMilli(1_700_000_000_000)

// fixture is n records with keys, headers and timestamps of their own.
func fixture(n int) []*record.Record {
	out := make([]*record.Record, n)
	for i := range out {
		out[i] = &record.Record{
			Key:       fmt.Appendf(nil, "k%d", i%7),
			Value:     fmt.Appendf(nil, `{"n":%d}`, i),
			Headers:   []record.Header{{Key: "trace", Value: fmt.Appendf(nil, "t%d", i)}, {Key: "empty", Value: nil}},
			Timestamp: ts0.Add(time.Duration(i) * time.Second),
		}
	}
	return out
}

func newSink(t *testing.T, body string) *Sink {
	t.Helper()
	s, err := NewSink(connector(t, "sinks.s.kafka_cluster", body), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkSame fails unless msgs are recs in order, key, value, headers and
// timestamp alike.
func checkSame(t *testing.T, recs []*record.Record, msgs []*kafka.Message) {
	t.Helper()
	if len(msgs) != len(recs) {
		t.Fatalf("%d messages, want %d", len(msgs), len(recs))
	}
	for i, m := range msgs {
		r := recs[i]
		if !bytes.Equal(m.Key, r.Key) || !bytes.Equal(m.Value, r.Value.([]byte)) || !m.Timestamp.Equal(r.Timestamp) {
			t.Fatalf("message %d: key %q value %q at %v, want %q %q at %v", i, m.Key, m.Value, m.Timestamp, r.Key, r.Value, r.Timestamp)
		}
		if len(m.Headers) != len(r.Headers) {
			t.Fatalf("message %d: headers %v, want %v", i, m.Headers, r.Headers)
		}
		for j, h := range m.Headers {
			if h.Key != r.Headers[j].Key || !bytes.Equal(h.Value, r.Headers[j].Value) {
				t.Fatalf("message %d: header %d is %s=%q, want %s=%q", i, j, h.Key, h.Value, r.Headers[j].Key, r.Headers[j].Value)
			}
		}
	}
}

// TestSinkKeepsKeysHeadersTimestamps: what Write returned nil for is on
// the other cluster, in order, as it was; a to step's topic wins.
func TestSinkKeepsKeysHeadersTimestamps(t *testing.T) {
	other := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, other, "copy", 1)
	kafkatest.CreateTopic(t, other, "routed", 1)
	s := newSink(t, "{brokers: '"+other+"', topic: copy}")
	recs := fixture(250)
	if err := s.Write(context.Background(), recs[:200]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), recs[200:]); err != nil {
		t.Fatal(err)
	}
	routed := &record.Record{Key: []byte("r"), Value: "text", To: "routed", Timestamp: ts0}
	if err := s.Write(context.Background(), []*record.Record{routed}); err != nil {
		t.Fatal(err)
	}
	// Written already: read right away, no waiting for more.
	checkSame(t, recs, kafkatest.ReadAll(t, other, "copy", 10*time.Second))
	got := kafkatest.ReadAll(t, other, "routed", 10*time.Second)
	if len(got) != 1 || string(got[0].Value) != "text" {
		t.Fatalf("routed topic holds %v", got)
	}
}

// TestSinkRefusedRecord: a record the other cluster cannot take comes back
// as a RecordError naming it; a cluster that does not answer is a
// transient error, and its secret is nowhere in it.
func TestSinkRefusedRecord(t *testing.T) {
	other := kafkatest.Embedded(t)
	s := newSink(t, "{brokers: '"+other+"', topic: small, config: {message.max.bytes: '2000'}}")
	recs := fixture(5)
	recs[3].Value = bytes.Repeat([]byte("x"), 5000)
	err := s.Write(context.Background(), recs)
	var re *connectors.RecordError
	if !errors.As(err, &re) || re.Index != 3 {
		t.Fatalf("Write = %v, want a RecordError for record 3", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	var logs runnertest.SyncBuffer
	down, err := NewSink(connector(t, "sinks.s.kafka_cluster", "{brokers: '"+closed+"', topic: t, config: {message.timeout.ms: '1000', security.protocol: SASL_PLAINTEXT, sasl.mechanisms: PLAIN, sasl.username: u, sasl.password: CANARYSECRET9}}"),
		connectors.Env{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = down.Write(context.Background(), fixture(3))
	down.Close()
	if err == nil || errors.As(err, &re) {
		t.Fatalf("Write to nothing = %v, want a transient error", err)
	}
	if all := err.Error() + logs.String(); strings.Contains(all, "CANARYSECRET9") {
		t.Fatalf("the password shows:\n%s", all)
	}
}

// TestSinkCheck: unknown properties of config are reported at their key.
func TestSinkCheck(t *testing.T) {
	_, err := NewSink(connector(t, "sinks.s.kafka_cluster", "{brokers: b, config: {compresion.type: lz4}}"), connectors.Env{})
	if err == nil || !strings.Contains(err.Error(), "sinks.s.kafka_cluster.config.compresion.type: unknown librdkafka property") {
		t.Fatalf("NewSink = %v", err)
	}
}

type batch struct {
	recs   []*record.Record
	cursor []byte
}

// read runs a source resumed from cursor until it has emitted want records
// (or 20 s pass) and returns what it emitted.
func read(t *testing.T, body string, cursor []byte, want int) []batch {
	t.Helper()
	src, err := NewSource(connector(t, "sources.s.kafka_cluster", body), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Resume(cursor); err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []batch
	n := 0
	err = src.Read(ctx, func(_ context.Context, recs []*record.Record, c []byte) error {
		got = append(got, batch{append([]*record.Record(nil), recs...), c})
		if n += len(recs); n >= want {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("read %d records, want %d", n, want)
	}
	return got
}

func produceFixture(t *testing.T, brokers, topic string, recs []*record.Record) {
	t.Helper()
	msgs := make([]*kafka.Message, len(recs))
	for i, r := range recs {
		m := kafkatest.Message(topic, r.Key, r.Value.([]byte))
		m.TopicPartition.Partition = 0
		m.Timestamp = r.Timestamp
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs[i] = m
	}
	kafkatest.Produce(t, brokers, msgs)
}

// TestSourceCopiesAndResumes: the source emits the other cluster's records
// as they were, with cursors that resume exactly after the batch they
// follow: a source resumed from a middle batch's cursor emits the rest and
// nothing before.
func TestSourceCopiesAndResumes(t *testing.T) {
	other := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, other, "orders", 1)
	recs := fixture(3000)
	produceFixture(t, other, "orders", recs)
	body := "{brokers: '" + other + "', topics: [orders], batch: 400}"
	got := read(t, body, nil, len(recs))
	var all []*record.Record
	for _, b := range got {
		all = append(all, b.recs...)
	}
	for i, r := range all {
		r.Value = r.Raw
		if r.Offset != int64(i) || r.Topic != "orders" {
			t.Fatalf("record %d is %s@%d", i, r.Topic, r.Offset)
		}
	}
	checkSame(t, recs, toMessages(all))
	if len(got) < 3 {
		t.Fatalf("%d batches: want several of at most 400", len(got))
	}
	mid := got[len(got)/2]
	seen := 0
	for _, b := range got {
		seen += len(b.recs)
		if &b.recs[0] == &mid.recs[0] {
			break
		}
	}
	rest := read(t, body, mid.cursor, len(recs)-seen)
	if first := rest[0].recs[0]; first.Offset != int64(seen) {
		t.Fatalf("resumed at offset %d, want %d", first.Offset, seen)
	}
}

func toMessages(recs []*record.Record) []*kafka.Message {
	out := make([]*kafka.Message, len(recs))
	for i, r := range recs {
		m := &kafka.Message{Key: r.Key, Value: r.Raw, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		out[i] = m
	}
	return out
}

// TestSourceStaleCluster: positions stored for one cluster are refused on
// another, as a stale position.
func TestSourceStaleCluster(t *testing.T) {
	one, two := kafkatest.Embedded(t), kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, one, "orders", 1)
	produceFixture(t, one, "orders", fixture(10))
	got := read(t, "{brokers: '"+one+"', topics: [orders]}", nil, 10)
	src, err := NewSource(connector(t, "sources.s.kafka_cluster", "{brokers: '"+two+"', topics: [orders]}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Resume(got[len(got)-1].cursor); err != nil {
		t.Fatal(err)
	}
	err = src.Open(context.Background())
	if !errors.Is(err, connectors.ErrStalePosition) {
		t.Fatalf("Open on another cluster = %v, want a stale position", err)
	}
}

// TestSourceLatestStoresItsStart: with start latest, the first thing
// emitted is an empty batch whose cursor holds the resolved ends, so a
// restart before any record arrives does not move them.
func TestSourceLatestStoresItsStart(t *testing.T) {
	other := kafkatest.Embedded(t)
	kafkatest.CreateTopic(t, other, "orders", 2)
	produceFixture(t, other, "orders", fixture(5))
	src, err := NewSource(connector(t, "sources.s.kafka_cluster", "{brokers: '"+other+"', topics: [orders], start: latest}"), connectors.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Resume(nil); err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var first []byte
	err = src.Read(ctx, func(_ context.Context, recs []*record.Record, c []byte) error {
		if len(recs) != 0 {
			t.Errorf("emitted %d old records", len(recs))
		}
		first = c
		cancel()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"offsets":{"orders":{"0":5,"1":0}}`; !strings.Contains(string(first), want) {
		t.Fatalf("first cursor %s, want the ends of both partitions", first)
	}
}

// TestSourceSecretHidden: a source whose SASL password the other cluster
// refuses fails to open with an error, and logs, that never show it.
func TestSourceSecretHidden(t *testing.T) {
	sasl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right"))
	if err != nil {
		t.Fatal(err)
	}
	defer sasl.Close()
	var logs runnertest.SyncBuffer
	src, err := NewSource(connector(t, "sources.s.kafka_cluster", "{brokers: '"+sasl.ListenAddrs()[0]+"', topics: [t], config: {security.protocol: SASL_PLAINTEXT, sasl.mechanisms: PLAIN, sasl.username: admin, sasl.password: CANARYSECRET7}}"),
		connectors.Env{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Resume(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = src.Open(ctx)
	if err == nil {
		src.Close()
		t.Fatal("Open with a wrong password succeeded")
	}
	if all := err.Error() + logs.String(); strings.Contains(all, "CANARYSECRET7") {
		t.Fatalf("the password shows:\n%s", all)
	}
	if !strings.Contains(logs.String(), "uthenticat") {
		t.Fatalf("no authentication failure logged:\n%s", logs.String())
	}
	t.Logf("Open: %v", err)
}
