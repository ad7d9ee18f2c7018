package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rawOptions are the flags of `bench raw`.
type rawOptions struct {
	brokers, in, out, group string
	n                       int64
}

func parseRawOptions(args []string, stderr io.Writer) (rawOptions, error) {
	var o rawOptions
	fs := flag.NewFlagSet("bench raw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.brokers, "brokers", "", "bootstrap servers")
	fs.StringVar(&o.in, "in", "", "input topic")
	fs.StringVar(&o.out, "out", "", "output topic")
	fs.StringVar(&o.group, "group", "", "consumer group")
	fs.Int64Var(&o.n, "n", 0, "records to copy before exiting")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.brokers == "" || o.in == "" || o.out == "" || o.group == "" || o.n <= 0 {
		return o, errors.New("raw: -brokers, -in, -out, -group and -n > 0 are required")
	}
	return o, nil
}

// runRaw is the ceiling: a minimal consume-produce loop on the same client
// library as the runner, without decoding. It copies n records, waits until
// all are delivered, commits the consumed offsets and exits.
func runRaw(ctx context.Context, args []string, stderr io.Writer) (err error) {
	o, err := parseRawOptions(args, stderr)
	if err != nil {
		return err
	}
	c, err := kafka.NewConsumer(rawConsumerConfig(o.brokers, o.group))
	if err != nil {
		return fmt.Errorf("raw: create consumer: %w", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("raw: close consumer: %w", cerr))
		}
	}()
	p, err := kafka.NewProducer(rawProducerConfig(o.brokers))
	if err != nil {
		return fmt.Errorf("raw: create producer: %w", err)
	}
	w := watchDeliveries(p)
	defer func() {
		p.Close()
		<-w.done
	}()
	if err := c.Subscribe(o.in, nil); err != nil {
		return fmt.Errorf("raw: subscribe to %s: %w", o.in, err)
	}
	next, err := copyRecords(ctx, c, p, w, o)
	if err != nil {
		return err
	}
	if err := w.waitFor(ctx, o.n); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	if _, err := c.CommitOffsets(next); err != nil {
		return fmt.Errorf("raw: commit offsets: %w", err)
	}
	return nil
}

// copyRecords consumes o.n records and produces each to o.out, returning
// the offsets to commit.
func copyRecords(ctx context.Context, c *kafka.Consumer, p *kafka.Producer, w *deliveryWatch, o rawOptions) ([]kafka.TopicPartition, error) {
	next := map[int32]kafka.Offset{}
	for copied := int64(0); copied < o.n; {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("raw: stopped after %d records: %w", copied, ctx.Err())
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, fmt.Errorf("raw: consume %s: %w", o.in, e.TopicPartition.Error)
			}
			next[e.TopicPartition.Partition] = e.TopicPartition.Offset + 1
			// Reuse the consumed message (key, value, headers, timestamp)
			// as the output: no copy, nothing decoded.
			e.TopicPartition = kafka.TopicPartition{Topic: &o.out, Partition: kafka.PartitionAny}
			if err := produce(ctx, p, e); err != nil {
				return nil, fmt.Errorf("raw: %w", err)
			}
			copied++
		case kafka.Error:
			if e.IsFatal() {
				return nil, fmt.Errorf("raw: consumer: %w", e)
			}
		}
		if copied%10000 == 0 {
			if err := w.err(); err != nil {
				return nil, fmt.Errorf("raw: %w", err)
			}
		}
	}
	offs := make([]kafka.TopicPartition, 0, len(next))
	for part, off := range next {
		offs = append(offs, kafka.TopicPartition{Topic: &o.in, Partition: part, Offset: off})
	}
	return offs, nil
}
