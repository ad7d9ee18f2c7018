package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"
)

const (
	sentHeader    = "bench.sent" // unix nanoseconds when the harness produced the record
	latencyWarmup = 2 * time.Second
)

// latencyResult is end-to-end latency through the typical stage at a
// fixed input rate.
type latencyResult struct {
	rate           int
	measured       time.Duration // after the warm-up
	sent, received int64
	p50, p99, max  float64 // milliseconds, of records sent after the warm-up
}

// measureLatency runs the typical stage while the harness writes small
// orders at a fixed rate, each carrying its produce time in a header, and
// reads the stage's output: latency is the harness's receive time minus
// that produce time, both on this machine's clock.
func (h *harness) measureLatency(ctx context.Context) (latencyResult, error) {
	name := fmt.Sprintf("bench-%s-latency", h.runID)
	in, out := name+"-in", name+"-out"
	defer h.cleanup(name, in, out)
	for _, t := range []string{in, out} {
		if err := h.cl.createTopic(ctx, t); err != nil {
			return latencyResult{}, err
		}
	}
	path, err := writePipeline(h.tmp, transformPipeline(name, h.cl.brokers, in, out, name, true))
	if err != nil {
		return latencyResult{}, err
	}
	c, err := startChild(name, filepath.Join(h.tmp, name+".log"), h.opts.runner, "-c", path, "--progress", "0", "--log-level", "warn")
	if err != nil {
		return latencyResult{}, err
	}
	defer c.kill()
	if err := h.awaitAssigned(ctx, c, name); err != nil {
		return latencyResult{}, err
	}
	res := latencyResult{rate: h.opts.latencyRate, measured: h.opts.latency}
	total := int64(float64(h.opts.latencyRate) * (latencyWarmup + h.opts.latency).Seconds())
	var (
		mu        sync.Mutex
		latencies []float64
		measureAt = time.Now().Add(latencyWarmup)
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.pacedProduce(gctx, in, total) })
	g.Go(func() error {
		return h.receive(gctx, out, keptOf(total), func(sent, got time.Time) {
			mu.Lock()
			defer mu.Unlock()
			res.received++
			if !sent.Before(measureAt) {
				latencies = append(latencies, float64(got.Sub(sent))/float64(time.Millisecond))
			}
		})
	})
	if err := g.Wait(); err != nil {
		return latencyResult{}, fmt.Errorf("latency: %w", err)
	}
	if err := c.terminate(exitTimeout); err != nil {
		return latencyResult{}, err
	}
	res.sent = keptOf(total) // the filter drops the rest by design
	res.p50, res.p99, res.max = percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100)
	return res, nil
}

// awaitAssigned waits until the runner's group holds the input's
// partitions, so the warm-up does not have to cover the group join.
func (h *harness) awaitAssigned(ctx context.Context, c *child, group string) error {
	deadline := time.Now().Add(stallTimeout)
	for {
		ok, err := h.cl.groupAssigned(ctx, group)
		if ok {
			return nil
		}
		if c.hasExited() {
			return errors.Join(fmt.Errorf("%s exited before its group %s was assigned", c.name, group), c.wait(0))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s not assigned within %s (last error: %v)", group, stallTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pacedProduce writes total small orders to topic at the configured rate,
// stamping each with its produce time, and waits for their delivery.
func (h *harness) pacedProduce(ctx context.Context, topic string, total int64) error {
	p, err := kafka.NewProducer(loadProducerConfig(h.cl.brokers, 1))
	if err != nil {
		return fmt.Errorf("create paced producer: %w", err)
	}
	w := watchDeliveries(p)
	defer func() {
		p.Close()
		<-w.done
	}()
	gen := newOrderGen(sizeSmall, 99)
	start := time.Now()
	rate := float64(h.opts.latencyRate)
	for sent := int64(0); sent < total; {
		// Records due by now; the rest wait for the next millisecond.
		due := min(total, int64(time.Since(start).Seconds()*rate)+1)
		for ; sent < due; sent++ {
			key, _, v, err := gen.next(int(sent))
			if err != nil {
				return err
			}
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(key), Value: v,
				Headers: []kafka.Header{{Key: sentHeader, Value: strconv.AppendInt(nil, time.Now().UnixNano(), 10)}}}
			if err := produce(ctx, p, m); err != nil {
				return err
			}
		}
		if err := w.err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return w.waitFor(ctx, total)
}

// receive reads topic from the start until total records arrived, calling
// got with each record's produce and receive times.
func (h *harness) receive(ctx context.Context, topic string, total int64, got func(sent, received time.Time)) error {
	c, err := kafka.NewConsumer(readerConfig(h.cl.brokers, "bench-latency-"+h.runID))
	if err != nil {
		return fmt.Errorf("create latency consumer: %w", err)
	}
	defer c.Close()
	var assign []kafka.TopicPartition
	for p := range int32(partitions) {
		assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(assign); err != nil {
		return fmt.Errorf("assign %s: %w", topic, err)
	}
	deadline := time.Now().Add(latencyWarmup + h.opts.latency + stallTimeout)
	for n := int64(0); n < total; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("received %d of %d records from %s", n, total, topic)
		}
		switch e := c.Poll(50).(type) {
		case *kafka.Message:
			now := time.Now()
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("consume %s: %w", topic, e.TopicPartition.Error)
			}
			sent, err := sentTime(e)
			if err != nil {
				return err
			}
			got(sent, now)
			n++
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("consume %s: %w", topic, e)
			}
		}
	}
	return nil
}

func sentTime(m *kafka.Message) (time.Time, error) {
	for _, hd := range m.Headers {
		if hd.Key == sentHeader {
			ns, err := strconv.ParseInt(string(hd.Value), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("header %s=%q: %w", sentHeader, hd.Value, err)
			}
			return time.Unix(0, ns), nil
		}
	}
	return time.Time{}, fmt.Errorf("output record %q lost its %s header", m.Value, sentHeader)
}
