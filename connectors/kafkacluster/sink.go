package kafkacluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// SinkConfig is the `kafka:` block of a sink.
type SinkConfig struct {
	Brokers string            `yaml:"brokers" conf:"required" example:"other-kafka:9092" doc:"bootstrap servers of the other cluster"`
	Topic   string            `yaml:"topic" example:"orders" doc:"the topic on the other cluster; a to step in the sink's steps names one per record instead (daily topics, routing); without either, the topic the record was read from"`
	Config  map[string]string `yaml:"config" example:"{security.protocol: SASL_SSL, sasl.mechanisms: PLAIN, sasl.username: bridge, sasl.password: '${OTHER_KAFKA_PASSWORD}'}" doc:"librdkafka properties of the producer on the other cluster (the pipeline's kafka.config does not apply); secret values never appear in logs or errors. The producer is idempotent with acks=all whatever is set here"`
}

// Sink writes records to a topic of another cluster. Write returns once
// the other cluster has acknowledged every record of the batch, so the
// stage commits the pipeline's offsets only after that: at least once.
type Sink struct {
	cfg  SinkConfig
	cm   kafka.ConfigMap
	log  *slog.Logger
	p    *kafka.Producer
	done chan struct{} // closed when the producer's logs and events are drained
}

// SinkSpec declares the kafka sink.
func SinkSpec() connectors.SinkSpec {
	return connectors.SinkSpec{
		Spec: connectors.Spec{
			Name: "kafka_cluster",
			Doc: "Writes records to a topic of another Kafka cluster (bridging, migration), keys, headers and timestamps kept. " +
				"A batch's offsets are committed only after the other cluster acknowledged all of it: at least once across the clusters. " +
				"Set the stage's format to bytes to copy values byte for byte; other values are written as JSON.",
			Config:  SinkConfig{},
			Example: "brokers: other-kafka:9092\ntopic: orders\nconfig: {compression.type: zstd}\n",
			Caps: connectors.Capabilities{
				Describe:      []connectors.Detail{{Option: "brokers", Format: "%s"}},
				NoExactlyOnce: "exactly-once cannot span two clusters: a Kafka transaction commits on one cluster only, so the records written to the other cluster and the offsets committed in the pipeline's cannot commit together",
			},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Sink, error) { return NewSink(c, env) },
	}
}

// NewSink checks the config; the producer starts when the stage does.
func NewSink(c pipeline.Connector, env connectors.Env) (*Sink, error) {
	var cfg SinkConfig
	var errs pipeline.Errors
	errs.Add(c.Pos, c.Path, pipeline.Decode(c, env.Lookup, &cfg))
	checkConfig(c, cfg.Config, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cm := clientConfig(rdkafka.Producer, cfg.Brokers, nil, cfg.Config, map[string]string{"go.delivery.report.fields": "none"})
	return &Sink{cfg: cfg, cm: cm, log: log}, nil
}

// Open starts the producer.
func (s *Sink) Open(context.Context) error {
	p, err := kafka.NewProducer(&s.cm)
	if err != nil {
		return scrubbed(s.cm, "producer for "+s.cfg.Brokers, err)
	}
	s.p, s.done = p, make(chan struct{})
	logsDone := make(chan struct{})
	go func() { rdkafka.Logs(p.Logs(), s.cm, s.log); close(logsDone) }()
	go func() { forwardEvents(p.Events(), s.cm, s.log); <-logsDone; close(s.done) }()
	return nil
}

// Write produces the batch and waits for every delivery report. A record
// the other cluster refuses for good (too large, say) comes back as a
// *connectors.RecordError; any other failure is transient and the stage
// writes the batch again, which may repeat records there.
func (s *Sink) Write(ctx context.Context, batch []*record.Record) error {
	reports := make(chan kafka.Event, len(batch))
	pending := 0
	var transient error // the first failure a retry may mend
	refused, refusedErr := -1, error(nil)
	note := func(ev kafka.Event) {
		m, ok := ev.(*kafka.Message)
		if !ok {
			return
		}
		pending--
		switch err := m.TopicPartition.Error; {
		case err == nil:
		case permanent(err):
			if i, _ := m.Opaque.(int); refused < 0 || i < refused {
				refused, refusedErr = i, err
			}
		case transient == nil:
			transient = err
		}
	}
	for i, r := range batch {
		m, err := s.message(r)
		if err != nil {
			return &connectors.RecordError{Index: i, Err: err}
		}
		m.Opaque = i
		for {
			err = s.p.Produce(m, reports)
			var ke kafka.Error
			if err == nil || !errors.As(err, &ke) || ke.Code() != kafka.ErrQueueFull || pending == 0 {
				break
			}
			// The local queue is full: wait for a report to make room.
			select {
			case ev := <-reports:
				note(ev)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			if permanent(err) {
				return &connectors.RecordError{Index: i, Err: scrubbed(s.cm, "produce", err)}
			}
			return scrubbed(s.cm, "produce to "+s.cfg.Brokers, err)
		}
		pending++
	}
	for pending > 0 {
		select {
		case ev := <-reports:
			note(ev)
		case <-ctx.Done():
			// The reports still due land in the buffered channel.
			return ctx.Err()
		}
	}
	switch {
	case refused >= 0:
		return &connectors.RecordError{Index: refused, Err: scrubbed(s.cm, "the other cluster refused the record", refusedErr)}
	case transient != nil:
		return scrubbed(s.cm, "deliver to "+s.cfg.Brokers, transient)
	}
	return nil
}

// message is the record as it goes to the other cluster.
func (s *Sink) message(r *record.Record) (*kafka.Message, error) {
	topic := s.cfg.Topic
	switch {
	case r.To != "":
		topic = r.To
	case topic == "":
		topic = r.Topic
	}
	if topic == "" {
		return nil, errors.New("no topic: set topic, or a to step")
	}
	var v []byte
	switch t := r.Value.(type) {
	case nil:
	case []byte:
		v = t
	case string:
		v = []byte(t)
	default:
		var err error
		if v, err = record.JSON.Encode(t); err != nil {
			return nil, fmt.Errorf("encode the value: %w", err)
		}
	}
	m := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            r.Key, Value: v, Timestamp: r.Timestamp,
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
	}
	return m, nil
}

// permanent tells the errors a retry cannot mend: the record itself is
// wrong for the other cluster.
func permanent(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke.Code() {
	case kafka.ErrMsgSizeTooLarge, kafka.ErrInvalidMsg, kafka.ErrInvalidMsgSize, kafka.ErrRecordListTooLarge,
		kafka.ErrInvalidRecord, kafka.ErrTopicException, kafka.ErrInvalidTimestamp:
		return true
	}
	return false
}

// Close flushes what is left and closes the producer.
func (s *Sink) Close() error {
	if s.p == nil {
		return nil
	}
	s.p.Flush(5000)
	s.p.Close()
	<-s.done
	return nil
}
