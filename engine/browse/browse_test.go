package browse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/service"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/serde"
)

func TestMain(m *testing.M) { os.Exit(service.Main(m)) }

// base is the timestamp of the first fixture record; each next one is a
// second later.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// uniqueTopic names a topic of this test run: tests share the broker.
func uniqueTopic(t *testing.T) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("browse-%s-%d", strings.ToLower(name), time.Now().UnixNano())
}

// fixture writes five records to a new two-partition topic: partition 0
// holds k0 {"n":0,"kind":"a"}, k1 {"n":1,"kind":"b"} (with header h=x)
// and k2 "not json"; partition 1 holds k3 {"n":10,"kind":"b"} and a
// tombstone k4. Record i is stamped base + i seconds.
func fixture(t *testing.T, brokers string) string {
	t.Helper()
	topic := uniqueTopic(t)
	kafkatest.CreateTopic(t, brokers, topic, 2)
	values := []string{`{"n":0,"kind":"a"}`, `{"n":1,"kind":"b"}`, `not json`, `{"n":10,"kind":"b"}`, ""}
	var msgs []*kafka.Message
	for i, v := range values {
		m := kafkatest.Message(topic, fmt.Appendf(nil, "k%d", i), []byte(v))
		if v == "" {
			m.Value = nil
		}
		m.TopicPartition.Partition = 0
		if i >= 3 {
			m.TopicPartition.Partition = 1
		}
		if i == 1 {
			m.Headers = []kafka.Header{{Key: "h", Value: []byte("x")}}
		}
		m.Timestamp = base.Add(time.Duration(i) * time.Second)
		msgs = append(msgs, m)
	}
	kafkatest.Produce(t, brokers, msgs)
	return topic
}

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func readAll(t *testing.T, c *Client, o ReadOptions) ([]Record, Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []Record
	next, err := c.Read(ctx, o, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatalf("read %+v: %v", o, err)
	}
	return got, next
}

// at lists records as "partition@offset".
func at(rs []Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d@%d", r.Partition, r.Offset))
	}
	return out
}

// TestTopics: every topic with its partitions' offsets, leaders and record
// counts; Internal marks the names given and Kafka's own.
func TestTopics(t *testing.T) {
	brokers := service.Kafka(t)
	topic := fixture(t, brokers)
	c := newClient(t, Options{Brokers: brokers, Internal: []string{topic}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topics, err := c.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got *Topic
	for i := range topics {
		if i > 0 && topics[i-1].Name >= topics[i].Name {
			t.Errorf("topics not sorted: %s before %s", topics[i-1].Name, topics[i].Name)
		}
		if strings.HasPrefix(topics[i].Name, "__") && !topics[i].Internal {
			t.Errorf("%s not internal", topics[i].Name)
		}
		if topics[i].Name == topic {
			got = &topics[i]
		}
	}
	if got == nil {
		t.Fatalf("%s not listed", topic)
	}
	if !got.Internal || got.Records != 5 || len(got.Partitions) != 2 {
		t.Fatalf("topic %+v: want internal, 5 records, 2 partitions", got)
	}
	for i, want := range []int64{3, 2} {
		p := got.Partitions[i]
		if p.Partition != int32(i) || p.Start != 0 || p.End != want || p.Records != want || p.Leader < 0 || p.Error != "" {
			t.Errorf("partition %+v, want %d: start 0, end %d, a leader", p, i, want)
		}
	}
	// A client without the name given shows it as a plain topic.
	plain := newClient(t, Options{Brokers: brokers})
	topics, err = plain.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics {
		if tp.Name == topic && tp.Internal {
			t.Errorf("%s internal without being named", topic)
		}
	}
}

// TestRead: each kind of start, one partition, limits, where, and resuming
// from the returned position.
func TestRead(t *testing.T) {
	brokers := service.Kafka(t)
	topic := fixture(t, brokers)
	c := newClient(t, Options{Brokers: brokers})
	all := AllPartitions
	for _, tc := range []struct {
		name string
		o    ReadOptions
		at   []string
		next string
	}{
		{"beginning", ReadOptions{From: "beginning", Partition: all}, []string{"0@0", "0@1", "0@2", "1@0", "1@1"}, "0=3,1=2"},
		{"end", ReadOptions{From: "end", Partition: all}, []string{}, "0=3,1=2"},
		{"default is end", ReadOptions{Partition: all}, []string{}, "0=3,1=2"},
		{"limit", ReadOptions{From: "beginning", Partition: all, Limit: 2}, []string{"0@0", "0@1"}, "0=2,1=0"},
		{"next", ReadOptions{From: "next:0=2,1=0", Partition: all}, []string{"0@2", "1@0", "1@1"}, "0=3,1=2"},
		{"next lacking a partition", ReadOptions{From: "next:0=3", Partition: all}, []string{"1@0", "1@1"}, "0=3,1=2"},
		{"offset", ReadOptions{From: "offset:1", Partition: all}, []string{"0@1", "0@2", "1@1"}, "0=3,1=2"},
		{"offset past the end", ReadOptions{From: "offset:99", Partition: all}, []string{}, "0=3,1=2"},
		{"offset one partition", ReadOptions{From: "offset:1", Partition: 1}, []string{"1@1"}, "1=2"},
		{"time", ReadOptions{From: "time:" + base.Add(2*time.Second).Format(time.RFC3339), Partition: all}, []string{"0@2", "1@0", "1@1"}, "0=3,1=2"},
		{"time after every record", ReadOptions{From: "time:2030-01-01T00:00:00Z", Partition: all}, []string{}, "0=3,1=2"},
		{"where", ReadOptions{From: "beginning", Partition: all, Where: `kind == "b"`}, []string{"0@1", "1@0"}, "0=3,1=2"},
		{"where limit", ReadOptions{From: "beginning", Partition: all, Where: `kind == "b"`, Limit: 1}, []string{"0@1"}, "0=2,1=0"},
		{"where metadata", ReadOptions{From: "beginning", Partition: all, Where: `_headers["h"] == "x" || _key == "k4"`}, []string{"0@1", "1@1"}, "0=3,1=2"},
		{"where on text", ReadOptions{From: "beginning", Partition: 0, Where: `_value == "not json"`}, []string{"0@2"}, "0=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Topic = topic
			got, next := readAll(t, c, tc.o)
			if !reflect.DeepEqual(at(got), tc.at) || next.String() != tc.next {
				t.Errorf("read %v next %s, want %v next %s", at(got), next, tc.at, tc.next)
			}
		})
	}

	// The records as shown: decoded, keys and headers as text, a
	// tombstone's value null, no raw bytes unless asked.
	got, _ := readAll(t, c, ReadOptions{Topic: topic, From: "beginning", Partition: all})
	b, err := json.Marshal(got[1])
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"topic":%q,"partition":0,"offset":1,"timestamp":"2026-01-02T03:04:06Z","key":"k1","value":{"kind":"b","n":1},"headers":[{"key":"h","value":"x"}]}`, topic)
	if string(b) != want {
		t.Errorf("record as JSON:\n%s\nwant\n%s", b, want)
	}
	if v := string(got[2].Value); v != `"not json"` || got[2].DecodeError != "" {
		t.Errorf("text value %s (%q), want a string and no decode error without codecs", v, got[2].DecodeError)
	}
	if v := string(got[4].Value); v != "null" || *got[4].Key != "k4" {
		t.Errorf("tombstone: value %s key %q", v, *got[4].Key)
	}
	raw, _ := readAll(t, c, ReadOptions{Topic: topic, From: "offset:0", Partition: 0, Limit: 1, Raw: true})
	if b, _ := json.Marshal(raw[0]); !strings.Contains(string(b), `"raw_key_base64":"azA=","raw_value_base64":"eyJuIjowLCJraW5kIjoiYSJ9"`) {
		t.Errorf("raw record: %s", b)
	}
}

// TestReadErrors: bad requests are UsageErrors, a missing topic is
// ErrNoTopic.
func TestReadErrors(t *testing.T) {
	brokers := service.Kafka(t)
	topic := fixture(t, brokers)
	c := newClient(t, Options{Brokers: brokers})
	ctx := context.Background()
	none := func(Record) error { return nil }
	for _, o := range []ReadOptions{
		{Topic: topic, From: "yesterday", Partition: AllPartitions},
		{Topic: topic, From: "offset:-1", Partition: AllPartitions},
		{Topic: topic, From: "time:today", Partition: AllPartitions},
		{Topic: topic, From: "next:0:1", Partition: AllPartitions},
		{Topic: topic, From: "beginning", Partition: AllPartitions, Where: "n >"},
		{Topic: topic, From: "beginning", Partition: 7},
		{Topic: topic, From: "beginning", Partition: AllPartitions, Where: `n + "x" > 1`}, // fails on the first record
	} {
		var ue *UsageError
		if _, err := c.Read(ctx, o, none); !errors.As(err, &ue) {
			t.Errorf("%+v: %v, want a UsageError", o, err)
		}
	}
	if _, err := c.Read(ctx, ReadOptions{Topic: uniqueTopic(t), Partition: AllPartitions}, none); !errors.Is(err, ErrNoTopic) {
		t.Errorf("missing topic: %v, want ErrNoTopic", err)
	}
	stop := errors.New("stop")
	if _, err := c.Read(ctx, ReadOptions{Topic: topic, From: "beginning", Partition: AllPartitions}, func(Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
}

// TestReadAvro: an Avro topic read through the pipeline's codecs shows its
// values decoded; a value that is not in the wire format is shown as it
// is, with the reason, not dropped; a JSON topic's text value likewise.
func TestReadAvro(t *testing.T) {
	brokers := service.Kafka(t)
	topic := uniqueTopic(t)
	kafkatest.CreateTopic(t, brokers, topic, 1)
	schema, err := serde.ReadFile("../../serde/testdata/order.avsc")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := serde.NewRegistry(serde.RegistryConfig{URL: "mock://" + t.Name()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jsonTopic := topic + "-json"
	cfg := &pipeline.Config{Name: "p", Kafka: pipeline.Kafka{Brokers: brokers}, Topics: pipeline.TopicDecls{
		topic:     {Format: pipeline.FormatAvro, Value: schema},
		jsonTopic: {Format: pipeline.FormatJSON},
	}}
	codecs := PipelineCodecs(cfg, reg)
	value, _, err := codecs(topic)
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]any{"id": int64(7), "customer": "ann", "status": "PAID", "total": 19.5,
		"items": []any{map[string]any{"sku": "a-1", "qty": int64(2)}}, "note": nil, "created": base}
	encoded, err := value.Encode(context.Background(), order)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, brokers, []*kafka.Message{
		kafkatest.Message(topic, []byte("o7"), encoded),
		kafkatest.Message(topic, []byte("bad"), []byte(`{"id":8}`)),
	})
	kafkatest.CreateTopic(t, brokers, jsonTopic, 1)
	kafkatest.Produce(t, brokers, []*kafka.Message{kafkatest.Message(jsonTopic, nil, []byte("plain text"))})

	c := newClient(t, PipelineOptions(cfg, reg))
	got, _ := readAll(t, c, ReadOptions{Topic: topic, From: "beginning", Partition: AllPartitions})
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	var v map[string]any
	if err := json.Unmarshal(got[0].Value, &v); err != nil || v["customer"] != "ann" || v["status"] != "PAID" || v["created"] == nil || got[0].DecodeError != "" {
		t.Errorf("avro value %s (%v), decode error %q", got[0].Value, err, got[0].DecodeError)
	}
	if string(got[1].Value) != `"{\"id\":8}"` || got[1].DecodeError == "" || string(got[1].RawValue) != `{"id":8}` {
		t.Errorf("undecodable value %s, error %q, raw %q: want it as text, with the reason and its bytes", got[1].Value, got[1].DecodeError, got[1].RawValue)
	}
	// where reads the decoded fields.
	if got, _ := readAll(t, c, ReadOptions{Topic: topic, From: "beginning", Partition: AllPartitions, Where: `customer == "ann" && items[0].qty == 2`}); !reflect.DeepEqual(at(got), []string{"0@0"}) {
		t.Errorf("where on avro fields: %v", at(got))
	}
	got, _ = readAll(t, c, ReadOptions{Topic: jsonTopic, From: "beginning", Partition: AllPartitions})
	if len(got) != 1 || string(got[0].Value) != `"plain text"` || !strings.Contains(got[0].DecodeError, "json") {
		t.Errorf("json topic with text: %+v", got)
	}
}

// TestFollow: a following read passes on records written after it
// started, and ends without error when its context does.
func TestFollow(t *testing.T) {
	brokers := service.Kafka(t)
	topic := fixture(t, brokers)
	c := newClient(t, Options{Brokers: brokers})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type result struct {
		got  []Record
		next Position
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var got []Record
		next, err := c.Read(ctx, ReadOptions{Topic: topic, From: "end", Partition: AllPartitions, Follow: true, Limit: 1}, func(r Record) error {
			got = append(got, r)
			return nil
		})
		done <- result{got, next, err}
	}()
	// Written until the read sees one: it may start after the first.
	var res result
	for i := 0; ; i++ {
		kafkatest.Produce(t, brokers, []*kafka.Message{{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 1}, Value: fmt.Appendf(nil, `{"late":%d}`, i)}})
		select {
		case res = <-done:
		case <-time.After(500 * time.Millisecond):
			continue
		}
		break
	}
	if res.err != nil || len(res.got) != 1 || res.got[0].Partition != 1 || res.got[0].Offset < 2 || !strings.HasPrefix(string(res.got[0].Value), `{"late":`) {
		t.Fatalf("follow: %+v", res)
	}
	if res.next[1] != res.got[0].Offset+1 || res.next[0] != 3 {
		t.Errorf("next %s after %d@%d", res.next, res.got[0].Partition, res.got[0].Offset)
	}

	// Nothing new: it follows until the context ends, then returns the
	// position without error.
	short, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(2 * time.Second)
		stop()
	})
	next, err := c.Read(short, ReadOptions{Topic: topic, From: "beginning", Partition: 0, Follow: true}, func(Record) error { return nil })
	wg.Wait()
	if err != nil || next.String() != "0=3" {
		t.Errorf("follow ended by its context: next %s, %v", next, err)
	}

	// Stopped before it caught up: a follow read still ends without
	// error, where a read to the end reports the context's.
	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	next, err = c.Read(cancelled, ReadOptions{Topic: topic, From: "beginning", Partition: AllPartitions, Follow: true}, func(Record) error { return nil })
	if err != nil || next.String() != "0=0,1=0" {
		t.Errorf("follow stopped at once: next %s, %v", next, err)
	}
	if _, err := c.Read(cancelled, ReadOptions{Topic: topic, From: "beginning", Partition: AllPartitions}, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("read stopped at once: %v, want context.Canceled", err)
	}
}

// TestGroups: a group with a live member shows it with its assignment, and
// its committed offset with the lag; an unknown group is ErrNoGroup.
func TestGroups(t *testing.T) {
	brokers := service.Kafka(t)
	topic := fixture(t, brokers)
	group := topic + "-group"
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": brokers, "group.id": group, "client.id": "browse-test",
		"auto.offset.reset": "earliest", "enable.auto.commit": false, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	var first *kafka.Message
	for deadline := time.Now().Add(60 * time.Second); first == nil && time.Now().Before(deadline); {
		if m, ok := cons.Poll(100).(*kafka.Message); ok && m.TopicPartition.Partition == 0 {
			first = m
		}
	}
	if first == nil {
		t.Fatal("the group's consumer read nothing of partition 0")
	}
	if _, err := cons.CommitMessage(first); err != nil { // committed 1 of 3
		t.Fatal(err)
	}

	c := newClient(t, Options{Brokers: brokers})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var g Group
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if g, err = c.Group(ctx, group); err != nil {
			t.Fatal(err)
		}
		if g.State == "Stable" {
			break
		}
	}
	want := Group{Group: group, State: "Stable", Offsets: []GroupOffset{{Topic: topic, Partition: 0, Committed: 1, End: 3, Lag: 2}}}
	if len(g.Members) != 1 {
		t.Fatalf("group %+v: want one member", g)
	}
	m := g.Members[0]
	if m.ClientID != "browse-test" || m.MemberID == "" || m.Host == "" ||
		!reflect.DeepEqual(m.Assignment, []TopicPartition{{topic, 0}, {topic, 1}}) {
		t.Errorf("member %+v: want browse-test assigned both partitions", m)
	}
	g.Members = nil
	if !reflect.DeepEqual(g, want) {
		t.Errorf("group %+v\nwant %+v", g, want)
	}

	sums, err := c.GroupsOf(ctx, []string{group, group + "-none"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sums, []GroupSummary{{Group: group, State: "Stable", Members: 1, Lag: 2}}) {
		t.Errorf("groups %+v", sums)
	}
	all, err := c.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range all {
		found = found || s.Group == group
		if s.Group == GroupID {
			t.Errorf("browse's own group listed: %+v", s)
		}
	}
	if !found {
		t.Errorf("%s not among all %d groups", group, len(all))
	}
	if _, err := c.Group(ctx, group+"-none"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("unknown group: %v, want ErrNoGroup", err)
	}
}

func TestPosition(t *testing.T) {
	p, err := ParsePosition(" 1=41,0=13 ")
	if err != nil || p.String() != "0=13,1=41" {
		t.Errorf("%v %v", p, err)
	}
	if p, err := ParsePosition(""); err != nil || len(p) != 0 || p.String() != "" {
		t.Errorf("empty: %v %v", p, err)
	}
	for _, bad := range []string{"0", "0=", "a=1", "0=1,0=2", "-1=3", "0=-3", "0=1;1=2"} {
		if _, err := ParsePosition(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestNew: no brokers, or the embedded broker of another process, are
// refused at once.
func TestNew(t *testing.T) {
	for _, b := range []string{"", " ", "embedded"} {
		if _, err := New(Options{Brokers: b}); err == nil {
			t.Errorf("brokers %q accepted", b)
		}
	}
}

// TestConcurrent: one client serves reads, topic lists and group lists at
// once (run with -race).
func TestConcurrent(t *testing.T) {
	brokers := service.Kafka(t)
	topic := fixture(t, brokers)
	c := newClient(t, Options{Brokers: brokers})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	for range 3 {
		g.Go(func() error {
			n := 0
			next, err := c.Read(ctx, ReadOptions{Topic: topic, From: "beginning", Partition: AllPartitions}, func(Record) error { n++; return nil })
			if err == nil && (n != 5 || next.String() != "0=3,1=2") {
				err = fmt.Errorf("read %d records, next %s", n, next)
			}
			return err
		})
	}
	g.Go(func() error { _, err := c.Topics(ctx); return err })
	g.Go(func() error { _, err := c.GroupsOf(ctx, []string{"browse-none"}); return err })
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
