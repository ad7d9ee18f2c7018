package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// loadCursorRetrying retries loadCursor while the broker is still settling
// a topic it just created (no leader yet) or is briefly unavailable.
func loadCursorRetrying(ctx context.Context, cm kafka.ConfigMap, topic, key string) ([]byte, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 2*time.Second
	return backoff.Retry(ctx, func() ([]byte, error) {
		v, err := loadCursor(ctx, cm, topic, key)
		if err != nil && !settling(err) {
			return nil, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(time.Minute))
}

// settling tells errors of a topic the broker is still setting up (no
// leader yet) or briefly unavailable: worth retrying.
func settling(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && (ke.IsRetriable() || ke.IsTimeout() || ke.Code() == kafka.ErrNotLeaderForPartition ||
		ke.Code() == kafka.ErrLeaderNotAvailable || ke.Code() == kafka.ErrUnknownTopicOrPart)
}

// loadCursor reads the cursor topic to its end and returns the last value
// stored under key (nil when there is none).
func loadCursor(ctx context.Context, cm kafka.ConfigMap, topic, key string) ([]byte, error) {
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, fmt.Errorf("cursor consumer: %s", rdkafka.Scrub(cm, err.Error()))
	}
	defer c.Close()
	md, err := c.GetMetadata(&topic, false, 10000)
	if err != nil {
		return nil, fmt.Errorf("read cursor topic %s metadata: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok || t.Error.Code() == kafka.ErrUnknownTopicOrPart {
		return nil, nil
	}
	var assign []kafka.TopicPartition
	end := map[int32]int64{}
	for _, p := range t.Partitions {
		low, high, err := c.QueryWatermarkOffsets(topic, p.ID, 10000)
		if err != nil {
			return nil, fmt.Errorf("read cursor topic %s[%d] offsets: %w", topic, p.ID, err)
		}
		if high > low {
			end[p.ID] = high
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p.ID, Offset: kafka.Offset(low)})
		}
	}
	if len(assign) == 0 {
		return nil, nil
	}
	var value []byte
	found := false
	// Read by position: exactly-once sources write cursors in
	// transactions, whose markers take offsets but are never returned.
	err = rdkafka.ReadTo(ctx, c, assign, end, func(m *kafka.Message) error {
		if string(m.Key) == key {
			value, found = m.Value, true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cursor topic: %w", err)
	}
	if !found {
		return nil, nil
	}
	return value, nil
}

// cursorKeeper orders batch acknowledgements and saves the cursor of the
// newest batch before which every batch is durable. Delivery reports come
// back out of order across partitions, so a later batch can finish first.
type cursorKeeper struct {
	topic, key string
	prod       *producer

	mu      sync.Mutex
	pending []*batchAck // in emit order
	latest  []byte      // newest cursor safe to save
	saved   []byte
	wake    chan struct{}
}

func newCursorKeeper(topic, key string, prod *producer) *cursorKeeper {
	return &cursorKeeper{topic: topic, key: key, prod: prod, wake: make(chan struct{}, 1)}
}

// track registers a batch in emit order.
func (k *cursorKeeper) track(b *batchAck) {
	k.mu.Lock()
	k.pending = append(k.pending, b)
	k.mu.Unlock()
}

// done is called when every record of b is durable.
func (k *cursorKeeper) done(b *batchAck) {
	k.mu.Lock()
	b.finished = true
	advanced := false
	for len(k.pending) > 0 && k.pending[0].finished {
		if c := k.pending[0].cursor; c != nil {
			k.latest, advanced = c, true
		}
		k.pending[0] = nil
		k.pending = k.pending[1:]
	}
	k.mu.Unlock()
	if advanced {
		select {
		case k.wake <- struct{}{}:
		default:
		}
	}
}

// run saves cursors as they advance, at most every interval, until stop is
// closed; then it saves the last one.
func (k *cursorKeeper) run(ctx context.Context, stop <-chan struct{}, interval time.Duration) error {
	for {
		select {
		case <-stop:
			return k.save(ctx)
		case <-k.wake:
		}
		if err := k.save(ctx); err != nil {
			return err
		}
		select {
		case <-stop:
			return k.save(ctx)
		case <-time.After(interval):
		}
	}
}

func (k *cursorKeeper) save(ctx context.Context) error {
	k.mu.Lock()
	c := k.latest
	same := string(c) == string(k.saved)
	k.mu.Unlock()
	if c == nil || same {
		return nil
	}
	topic := k.topic
	m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(k.key), Value: c}
	if err := k.prod.produce(ctx, m, nil); err != nil {
		return fmt.Errorf("save cursor to %s: %w", k.topic, err)
	}
	k.mu.Lock()
	k.saved = c
	k.mu.Unlock()
	return nil
}
