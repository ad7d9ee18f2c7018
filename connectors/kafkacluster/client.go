// Package kafkacluster reads from and writes to a Kafka cluster other than
// the pipeline's own, for bridging and migration: a source that copies
// topics of the other cluster into the pipeline, and a sink that copies the
// pipeline's records to a topic there. Keys, headers and timestamps are
// kept. Both are at least once across the two clusters; the source, whose
// positions live in the pipeline's cursor topic, can be exactly once into
// the pipeline's cluster.
package kafkacluster

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// checkConfig reports, at their keys, the librdkafka properties of the
// connector's config that librdkafka would refuse; offline.
func checkConfig(c pipeline.Connector, props map[string]string, errs *pipeline.Errors) {
	for _, pr := range rdkafka.CheckProperties(props) {
		path := c.Path + ".config." + pr.Key
		if pr.Unknown {
			errs.Addf(c.Pos, path, "unknown librdkafka property%s", pipeline.DidYouMean(pr.Key, rdkafka.Names()))
		} else {
			errs.Addf(c.Pos, path, "librdkafka refuses the value: %s", pr.Reason)
		}
	}
}

// clientConfig layers the runner's defaults for role, the connector's own
// defaults, the user's config and what the connector needs.
func clientConfig(role rdkafka.Role, brokers string, defaults, user, forced map[string]string) kafka.ConfigMap {
	extra := map[string]string{
		// Nobody reads the statistics of these clients.
		"statistics.interval.ms": "0",
	}
	maps.Copy(extra, forced)
	return rdkafka.Build(role, brokers, defaults, user, extra)
}

// forwardEvents logs the client-level errors of events (scrubbed) until the
// channel closes, so the client's poller never blocks on a full channel.
func forwardEvents(events chan kafka.Event, cm kafka.ConfigMap, log *slog.Logger) {
	for ev := range events {
		if e, ok := ev.(kafka.Error); ok {
			log.Warn("other cluster: "+rdkafka.Scrub(cm, e.Error()), "code", e.Code().String())
		}
	}
}

// scrubbed wraps an error of librdkafka with what failed, its secrets
// hidden.
func scrubbed(cm kafka.ConfigMap, what string, err error) error {
	return fmt.Errorf("%s: %s", what, rdkafka.Scrub(cm, err.Error()))
}

// clusterID asks the other cluster its id, to tell it from another one.
func clusterID(ctx context.Context, a *kafka.AdminClient) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return a.ClusterID(ctx)
}
