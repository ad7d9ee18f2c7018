package main

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// input is a preloaded input topic, shared by every run of one size.
type input struct {
	topic string
	size  int             // the size class (sizeSmall or sizeLarge)
	n     int64           // records
	bytes int64           // value bytes
	kept  int64           // records the typical stage's filter (qty > 0) keeps
	end   map[int32]int64 // end offsets after preloading
	// orders by order_id, for checking outputs (smoke runs only).
	orders map[string]order
}

func (in *input) avgSize() float64 { return float64(in.bytes) / float64(in.n) }

// preload writes n orders of one size to topic (created beforehand), keyed
// by store, and waits until all are durable.
func preload(ctx context.Context, brokers, topic string, size, n int, keepOrders bool) (*input, error) {
	p, err := kafka.NewProducer(loadProducerConfig(brokers, 50))
	if err != nil {
		return nil, fmt.Errorf("preload %s: create producer: %w", topic, err)
	}
	w := watchDeliveries(p)
	defer func() {
		p.Close()
		<-w.done
	}()
	in := &input{topic: topic, size: size, n: int64(n)}
	if keepOrders {
		in.orders = make(map[string]order, n)
	}
	gen := newOrderGen(size, uint64(size))
	for i := range n {
		key, o, v, err := gen.next(i)
		if err != nil {
			return nil, fmt.Errorf("preload %s: %w", topic, err)
		}
		in.bytes += int64(len(v))
		if o.Qty > 0 {
			in.kept++
		}
		if keepOrders {
			in.orders[o.OrderID] = o
		}
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(key), Value: v}
		if err := produce(ctx, p, m); err != nil {
			return nil, fmt.Errorf("preload: %w", err)
		}
		if i%100000 == 0 {
			if err := w.err(); err != nil {
				return nil, fmt.Errorf("preload %s: %w", topic, err)
			}
		}
	}
	if err := w.waitFor(ctx, int64(n)); err != nil {
		return nil, fmt.Errorf("preload %s: %w", topic, err)
	}
	return in, nil
}
