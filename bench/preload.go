package main

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/serde"
)

// input is a preloaded input topic, shared by every run of one size.
type input struct {
	topic string
	size  int             // the size class (sizeSmall or sizeLarge)
	n     int64           // records
	bytes int64           // value bytes
	kept  int64           // records the typical stage's filter (qty > 0) keeps
	end   map[int32]int64 // end offsets after preloading
	// orders by order_id, for checking outputs (smoke runs of the
	// store-keyed input only).
	orders map[string]order
	// groups: the orders and qty per record key (smoke runs of the keyed
	// input only), for checking the aggregate's rows.
	groups map[string]groupTotal
	// keyed is the same orders keyed by aggKey, for the aggregate
	// variant; nil when it does not run.
	keyed *input
	// avro is the same orders in Avro, for the Avro variants; nil when
	// none runs.
	avro *input
}

// groupTotal is what the aggregate variant's last row of a key must say.
type groupTotal struct{ orders, qty int64 }

func (in *input) avgSize() float64 { return float64(in.bytes) / float64(in.n) }

// preload writes n orders of one size to topic (created beforehand), keyed
// by store, or by keyOf(i) when keyOf is not nil, and waits until all are
// durable. The orders are the same for every topic of one size; codec,
// when not nil, encodes them instead of the generator's JSON.
func preload(ctx context.Context, brokers, topic string, size, n int, keepOrders bool, keyOf func(int) string, codec serde.Codec) (*input, error) {
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
	switch {
	case keepOrders && keyOf == nil:
		in.orders = make(map[string]order, n)
	case keepOrders:
		in.groups = map[string]groupTotal{}
	}
	gen := newOrderGen(size, uint64(size))
	for i := range n {
		key, o, v, err := gen.next(i)
		if err != nil {
			return nil, fmt.Errorf("preload %s: %w", topic, err)
		}
		if codec != nil {
			if v, err = codec.Encode(ctx, orderValue(o, size)); err != nil {
				return nil, fmt.Errorf("preload %s: order %d: %w", topic, i, err)
			}
		}
		in.bytes += int64(len(v))
		if o.Qty > 0 {
			in.kept++
		}
		if keyOf != nil {
			key = keyOf(i)
		}
		if in.orders != nil {
			in.orders[o.OrderID] = o
		}
		if in.groups != nil {
			g := in.groups[key]
			in.groups[key] = groupTotal{orders: g.orders + 1, qty: g.qty + int64(o.Qty)}
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
