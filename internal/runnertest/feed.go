package runnertest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Feeder writes records like Preload's into a topic at a steady rate while a
// test stops and starts runners: loss on a clean stop shows only with input
// flowing, never with a quiet topic.
type Feeder struct {
	p      *kafka.Producer
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	n      int // records handed to the producer
	err    error
	closed bool
}

// Feed starts writing records with ids 0, 1, 2, ... over keys keys into
// topic, rate records per second, until Stop.
func Feed(t testing.TB, brokers, topic string, rate, keys int) *Feeder {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": brokers, "enable.idempotence": true, "linger.ms": 5, "enable.metrics.push": false, "log_level": 2})
	if err != nil {
		t.Fatal(err)
	}
	f := &Feeder{p: p, stop: make(chan struct{}), done: make(chan struct{})}
	go f.deliveries()
	go f.run(topic, rate, keys)
	t.Cleanup(func() {
		f.halt()
		f.close()
	})
	return f
}

func (f *Feeder) deliveries() {
	for ev := range f.p.Events() {
		if m, ok := ev.(*kafka.Message); ok {
			f.mu.Lock()
			if m.TopicPartition.Error != nil && f.err == nil {
				f.err = m.TopicPartition.Error
			}
			f.mu.Unlock()
		}
	}
}

// run writes a tick's share of the rate every 10ms, so the input is smooth
// rather than bursty.
func (f *Feeder) run(topic string, rate, keys int) {
	defer close(f.done)
	seq := make([]int, keys)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		due := int(time.Since(start).Seconds() * float64(rate))
		f.mu.Lock()
		n := f.n
		f.mu.Unlock()
		for i := n; i < due; i++ {
			k := i % keys
			v := fmt.Sprintf(`{"id":%d,"key":"k%d","seq":%d}`, i, k, seq[k])
			seq[k]++
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte("k" + strconv.Itoa(k)), Value: []byte(v), Headers: []kafka.Header{{Key: "origin", Value: []byte("preload")}}}
			for f.p.Produce(m, nil) != nil {
				time.Sleep(time.Millisecond)
			}
			f.mu.Lock()
			f.n++
			f.mu.Unlock()
		}
	}
}

func (f *Feeder) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

func (f *Feeder) close() {
	f.mu.Lock()
	closed := f.closed
	f.closed = true
	f.mu.Unlock()
	if !closed {
		f.p.Close()
	}
}

// Stop ends the input, waits until every record is acknowledged and returns
// how many were written.
func (f *Feeder) Stop(t testing.TB) int {
	t.Helper()
	f.halt()
	if left := f.p.Flush(60000); left > 0 {
		t.Fatalf("feeder: %d records undelivered", left)
	}
	f.close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		t.Fatalf("feeder: %v", f.err)
	}
	return f.n
}

// Written is how many records were handed to the producer so far.
func (f *Feeder) Written() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
