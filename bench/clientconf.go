package main

import "github.com/confluentinc/confluent-kafka-go/v2/kafka"

// Client settings of the harness's own Kafka clients, in one place.

// rawProducerConfig is the ceiling's producer: the same durability as the
// runner (acks=all, idempotent, which the runner forces) so the ratio
// measures conveyor's overhead and not weaker guarantees; batching and
// compression tuned for throughput.
func rawProducerConfig(brokers string) *kafka.ConfigMap {
	return &kafka.ConfigMap{
		"bootstrap.servers":         brokers,
		"enable.metrics.push":       false,
		"acks":                      "all",
		"enable.idempotence":        true,
		"linger.ms":                 20,
		"batch.size":                1000000,
		"compression.type":          "lz4",
		"go.delivery.report.fields": "none", // only the outcome is read
	}
}

// rawConsumerConfig: no auto commit (the raw loop commits once at the end,
// after every output is delivered), and the runner's prefetch settings.
// Larger fetches (max.partition.fetch.bytes 4 MiB) were tried: no faster
// here, and 150 MB more RSS.
func rawConsumerConfig(brokers, group string) *kafka.ConfigMap {
	return &kafka.ConfigMap{
		"bootstrap.servers":             brokers,
		"enable.metrics.push":           false,
		"group.id":                      group,
		"auto.offset.reset":             "earliest",
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"partition.assignment.strategy": "range",
		"fetch.queue.backoff.ms":        100,
		"queued.max.messages.kbytes":    16384,
	}
}

// loadProducerConfig is for preloading input topics and the latency
// test's paced input. linger is 50 ms for preloading (throughput) and 1 ms
// for paced input (latency).
func loadProducerConfig(brokers string, lingerMs int) *kafka.ConfigMap {
	return &kafka.ConfigMap{
		"bootstrap.servers":            brokers,
		"enable.metrics.push":          false,
		"acks":                         "all",
		"enable.idempotence":           true,
		"linger.ms":                    lingerMs,
		"batch.size":                   1000000,
		"compression.type":             "lz4",
		"queue.buffering.max.messages": 500000,
		"go.delivery.report.fields":    "none",
	}
}

// readerConfig reads assigned partitions without a group's offsets.
func readerConfig(brokers, group string) *kafka.ConfigMap {
	return &kafka.ConfigMap{
		"bootstrap.servers":   brokers,
		"enable.metrics.push": false,
		"group.id":            group,
		"enable.auto.commit":  false,
		"auto.offset.reset":   "earliest",
	}
}

// adminConfig logs warnings only: the admin client's metadata notices each
// deleted run topic (PARTCNT), which is the harness's own doing.
func adminConfig(brokers string) *kafka.ConfigMap {
	return &kafka.ConfigMap{"bootstrap.servers": brokers, "enable.metrics.push": false, "log_level": 4}
}
