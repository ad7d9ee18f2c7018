package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// ErrCannotReset is returned by Reset for a stage name that names no
// stage, or a stage without a position outside Kafka's consumer groups.
var ErrCannotReset = errors.New("cannot reset")

// Reset deletes the position a stage keeps outside Kafka's consumer
// groups, so that it starts over: an exactly-once sink's offsets in its
// own store (it then starts from the group's committed offsets in Kafka,
// or from start), a source's cursor in the cursor topic (it then reads
// its table from the beginning). It is the way out of ErrStalePosition;
// the stage's runners must be stopped. stage is NAME, or PIPELINE/NAME
// when several of the pipelines have a stage of that name. It returns what
// it did, for the user.
func (pl *Plan) Reset(ctx context.Context, stage string, log *slog.Logger) (string, error) {
	pp, name, err := pl.findStage(stage)
	if err != nil {
		return "", err
	}
	for _, sp := range pp.sinks {
		if sp.cfg.Name == name {
			return resetSink(ctx, sp)
		}
	}
	for _, sp := range pp.sources {
		if sp.cfg.Name == name {
			return pp.resetSource(ctx, sp, log)
		}
	}
	return "", fmt.Errorf("%w: transform %s keeps its position in Kafka's consumer group %s only: reset that with Kafka's tools (kafka-consumer-groups.sh --reset-offsets)", ErrCannotReset, name, pp.group(name))
}

// findStage resolves NAME or PIPELINE/NAME.
func (pl *Plan) findStage(stage string) (*pipelinePlan, string, error) {
	pipeline, name, qualified := strings.Cut(stage, "/")
	if !qualified {
		pipeline, name = "", stage
	}
	var found []*pipelinePlan
	var all []string
	for _, pp := range pl.pipelines {
		for _, n := range pp.stageNames() {
			all = append(all, pp.cfg.Name+"/"+n)
			if n == name && (pipeline == "" || pipeline == pp.cfg.Name) {
				found = append(found, pp)
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, "", fmt.Errorf("%w: no stage %q in these files; they have %s", ErrCannotReset, stage, strings.Join(all, ", "))
	case 1:
		return found[0], name, nil
	}
	var names []string
	for _, pp := range found {
		names = append(names, pp.cfg.Name+"/"+name)
	}
	return nil, "", fmt.Errorf("%w: %q is a stage of several pipelines: name one of %s", ErrCannotReset, stage, strings.Join(names, ", "))
}

func (pp *pipelinePlan) stageNames() []string {
	var out []string
	for _, s := range pp.sources {
		out = append(out, s.cfg.Name)
	}
	for _, t := range pp.transform {
		out = append(out, t.cfg.Name)
	}
	for _, s := range pp.sinks {
		out = append(out, s.cfg.Name)
	}
	return out
}

func (pp *pipelinePlan) group(transform string) string {
	for _, t := range pp.transform {
		if t.cfg.Name == transform {
			return t.cfg.Group
		}
	}
	return ""
}

// resetSink deletes a sink's offsets from its own store.
func resetSink(ctx context.Context, sp *sinkPlan) (string, error) {
	s, ok := sp.sink.(connectors.OffsetSink)
	if !ok {
		return "", fmt.Errorf("%w: sink %s (%s) keeps its position in Kafka's consumer group %s only: reset that with Kafka's tools (kafka-consumer-groups.sh --reset-offsets)",
			ErrCannotReset, sp.cfg.Name, sp.cfg.Connector.Kind, sp.cfg.Group)
	}
	if o, ok := sp.sink.(connectors.Opener); ok {
		if err := o.Open(ctx); err != nil {
			return "", fmt.Errorf("sink %s: open: %w", sp.cfg.Name, err)
		}
	}
	n, err := s.ResetOffsets(ctx, sp.cfg.Group, sp.cfg.From)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return "", fmt.Errorf("sink %s: reset offsets: %w", sp.cfg.Name, err)
	}
	return fmt.Sprintf("sink %s: deleted %d stored offset(s) of group %s for %s from %s; it starts from the group's committed offsets in Kafka, or from start (%s) where it has none",
		sp.cfg.Name, n, sp.cfg.Group, strings.Join(sp.cfg.From, ", "), s.OffsetStore(), sp.cfg.Start), nil
}

// resetSource deletes a source's cursor: a tombstone under its key in
// the cursor topic, which the cursor loader reads as no cursor.
func (pp *pipelinePlan) resetSource(ctx context.Context, sp *sourcePlan, log *slog.Logger) (string, error) {
	name := sp.cfg.Name
	if _, ok := sp.src.(connectors.Resumer); !ok {
		return "", fmt.Errorf("%w: source %s (%s) keeps no position", ErrCannotReset, name, sp.cfg.Connector.Kind)
	}
	p := pp.cfg
	topic, key := pp.cursorTopic(), cursorKey(p.Name, name)
	if p.Kafka.Brokers == "embedded" {
		return fmt.Sprintf("source %s: its cursor lived in the embedded broker, which keeps nothing between runs: nothing to reset", name), nil
	}
	cursor, err := loadCursorRetrying(ctx, cursorConsumer(p.Kafka.Brokers, p, sp.cfg), topic, key)
	if err != nil {
		return "", fmt.Errorf("source %s: read its cursor: %w", name, err)
	}
	if cursor == nil {
		return fmt.Sprintf("source %s: no cursor stored under %s in topic %s: nothing to reset", name, key, topic), nil
	}
	prod, err := newProducer(rdkafka.Build(rdkafka.Producer, p.Kafka.Brokers, p.Kafka.Config, sp.cfg.Kafka.Config, nil), log, nil)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", name, err)
	}
	m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(key)}
	err = prod.produce(ctx, m, nil)
	if cerr := prod.close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("source %s: delete its cursor: %w", name, err)
	}
	return fmt.Sprintf("source %s: deleted its cursor %s (key %s in topic %s); it reads from the beginning again", name, cursor, key, topic), nil
}
