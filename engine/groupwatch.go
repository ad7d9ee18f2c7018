package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// Intervals of the group watch.
const (
	lagInterval = 5 * time.Second
	// waitNotice is how long a consuming stage may go without an
	// assignment before it says why it waits.
	waitNotice = 5 * time.Second
)

// groupWatch follows a consuming stage's group from beside its poll loop.
//
// Lag: every lagInterval it reads the group's committed offsets and the
// end offsets of the stage's topics, as Kafka's kafka-consumer-groups tool
// does, so the lag it reports is the group's, whoever commits (the consumer,
// a transaction, a sink with its own store that also commits to Kafka) and
// whichever process owns the partitions: every process of the group reports
// the same numbers. librdkafka's own consumer_lag knows only the offsets its
// consumer committed itself, which a transaction's offsets are not.
//
// Waiting: a stage that has had no assignment for waitNotice says once, with
// the group's state, why: most often a member that died without leaving
// still holds its place until its session times out.
//
// Failure: it gets librdkafka's fatal errors from the consumer's log, where
// those raised in the background (a static member fenced while committing
// offsets) show, as Poll never returns them.
type groupWatch struct {
	*stage
	c       *kafka.Consumer
	cm      kafka.ConfigMap
	group   string
	topics  []string
	mon     Monitor
	fatal   chan string  // fatal errors from the consumer's log
	pending atomic.Int64 // unix nanos since when the stage waits for an assignment; 0: it has one
	noticed atomic.Bool  // the current wait was explained
}

// openConsumer creates a consuming stage's group consumer, with its log
// forwarded and its watch beside it.
func (s *stage) openConsumer(cm kafka.ConfigMap) (*kafka.Consumer, *groupWatch, error) {
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: create consumer: %s", s.kind, s.name, rdkafka.Scrub(cm, err.Error()))
	}
	w := &groupWatch{stage: s, c: c, cm: cm, group: rdkafka.String(cm, "group.id"), mon: s.stats.mon, fatal: make(chan string, 1)}
	go rdkafka.WatchLogs(c.Logs(), cm, s.log, w.fatal)
	return c, w, nil
}

// subscribe subscribes the consumer to topics and starts the watch; the
// returned stop ends it and waits for it, so that the consumer it reads
// through can be closed after.
func (w *groupWatch) subscribe(topics []string, rebalance kafka.RebalanceCb) (stop func(), err error) {
	w.topics = topics
	w.waiting()
	if err := w.c.SubscribeTopics(topics, rebalance); err != nil {
		return nil, fmt.Errorf("%s %s: subscribe to %s: %w", w.kind, w.name, strings.Join(topics, ","), err)
	}
	return w.start(), nil
}

// failed returns the fatal error librdkafka logged, if it did.
func (w *groupWatch) failed() error {
	select {
	case msg := <-w.fatal:
		code := kafka.ErrFatal
		if strings.Contains(msg, kafka.ErrFencedInstanceID.String()) {
			code = kafka.ErrFencedInstanceID
		}
		return w.stage.fatal(w.cm, kafka.NewError(code, msg, true))
	default:
		return nil
	}
}

// waiting marks the start of a wait for an assignment (subscribed, or
// partitions revoked); assigned ends it.
func (w *groupWatch) waiting() {
	w.pending.Store(time.Now().UnixNano())
	w.noticed.Store(false)
}

func (w *groupWatch) assigned() { w.pending.Store(0) }

func (w *groupWatch) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (w *groupWatch) run(ctx context.Context) {
	admin, err := kafka.NewAdminClientFromConsumer(w.c)
	if err != nil {
		w.log.Debug("group watch: no admin client", "error", err)
		return
	}
	defer admin.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastLag time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if since := w.pending.Load(); since != 0 && !w.noticed.Load() && time.Since(time.Unix(0, since)) >= waitNotice {
			w.noticed.Store(true)
			w.explainWait(ctx, admin, time.Since(time.Unix(0, since)))
		}
		if time.Since(lastLag) >= lagInterval {
			lastLag = time.Now()
			if err := w.measureLag(ctx, admin); err != nil {
				w.log.Debug("consumer lag", "error", err)
			}
		}
	}
}

// measureLag reads committed and end offsets of every partition of the
// stage's topics and reports end - committed per partition that has a
// commit (the tool shows "-" for the others).
func (w *groupWatch) measureLag(ctx context.Context, admin *kafka.AdminClient) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var parts []kafka.TopicPartition
	for _, topic := range w.topics {
		md, err := admin.GetMetadata(&topic, false, 5000)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[topic].Partitions {
			parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p.ID})
		}
	}
	if len(parts) == 0 {
		return nil
	}
	res, err := admin.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: w.group, Partitions: parts}})
	if err != nil {
		return err
	}
	if len(res.ConsumerGroupsTopicPartitions) != 1 {
		return fmt.Errorf("group offsets: %d results", len(res.ConsumerGroupsTopicPartitions))
	}
	specs := map[kafka.TopicPartition]kafka.OffsetSpec{}
	committed := map[connectors.Partition]int64{}
	for _, tp := range res.ConsumerGroupsTopicPartitions[0].Partitions {
		if tp.Error != nil || tp.Offset < 0 {
			continue
		}
		committed[connectors.Partition{Topic: *tp.Topic, Partition: tp.Partition}] = int64(tp.Offset)
		specs[kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = kafka.LatestOffsetSpec
	}
	lag := map[connectors.Partition]int64{}
	if len(specs) > 0 {
		ends, err := admin.ListOffsets(ctx, specs)
		if err != nil {
			return err
		}
		for tp, r := range ends.ResultInfos {
			if r.Error.Code() != kafka.ErrNoError {
				continue
			}
			p := connectors.Partition{Topic: *tp.Topic, Partition: tp.Partition}
			lag[p] = max(0, int64(r.Offset)-committed[p])
		}
	}
	total := int64(-1)
	for _, l := range lag {
		total = max(total, 0) + l
	}
	w.counters.lag.Store(total)
	w.counters.live.setLag(lag)
	if w.mon != nil {
		w.mon.ConsumerLag(w.pipeline, w.name, lag)
	}
	return nil
}

// explainWait logs, once per wait, that the stage has no partitions yet and
// what the group is doing.
func (w *groupWatch) explainWait(ctx context.Context, admin *kafka.AdminClient, waited time.Duration) {
	attrs := []any{"group", w.group, "waited", waited.Round(time.Second), "session_timeout_ms", sessionTimeout(w.cm)}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if res, err := admin.DescribeConsumerGroups(ctx, []string{w.group}); err == nil && len(res.ConsumerGroupDescriptions) == 1 {
		d := res.ConsumerGroupDescriptions[0]
		attrs = append(attrs, "group_state", d.State.String(), "members", len(d.Members))
	}
	w.log.Info("waiting for partitions: the group is rebalancing; a member that stopped without leaving it (a crash) keeps its partitions until its session times out, so this can take up to session.timeout.ms", attrs...)
}

// rebalanced tells the watch of an assignment or a revoke.
func (w *groupWatch) rebalanced(ev kafka.Event) {
	switch ev.(type) {
	case kafka.AssignedPartitions:
		w.assigned()
	case kafka.RevokedPartitions:
		w.waiting()
	}
}
