package kafkacluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// SourceConfig is the `kafka:` block of a source.
type SourceConfig struct {
	Brokers string            `yaml:"brokers" conf:"required" example:"other-kafka:9092" doc:"bootstrap servers of the other cluster"`
	Topics  []string          `yaml:"topics" conf:"required" example:"[orders, payments]" doc:"the topics of the other cluster to copy into the stage's to topic; partitions added to them later are read from their start"`
	Group   string            `yaml:"group" default:"conveyor-bridge" doc:"the group id of the source's client on the other cluster; positions are not committed there but kept in the pipeline's cursor topic, with the batch they follow"`
	Start   string            `yaml:"start" default:"earliest" enum:"earliest,latest" doc:"where a partition without a stored position starts: its first record, or records written after the first start"`
	Batch   int               `yaml:"batch" default:"1000" doc:"most records handed to the stage at once"`
	Config  map[string]string `yaml:"config" example:"{security.protocol: SASL_SSL, sasl.mechanisms: SCRAM-SHA-512, sasl.username: bridge, sasl.password: '${OTHER_KAFKA_PASSWORD}'}" doc:"librdkafka properties of the consumer on the other cluster (the pipeline's kafka.config does not apply); secret values never appear in logs or errors. isolation.level is read_committed unless set"`
}

// rediscover is how often the source looks for topics and partitions that
// appeared on the other cluster.
const rediscover = 10 * time.Second

// Source copies topics of another cluster into the pipeline. Its cursor
// holds the position of every partition it reads, so the engine stores
// them with the batch they follow in the pipeline's cursor topic: at least
// once, a crash repeats at most the batches after the stored cursor;
// exactly once, the batch and its cursor commit in one transaction in the
// pipeline's cluster.
type Source struct {
	cfg    SourceConfig
	cm     kafka.ConfigMap
	log    *slog.Logger
	health *connectors.Health

	stored position // from Resume
	pos    position // next offset per partition read so far
	c      *kafka.Consumer
	logs   chan struct{} // closed once the consumer's logs are drained
}

// position is the cursor: the other cluster's id and, per topic and
// partition, the offset of the next record to read.
type position struct {
	Cluster string                     `json:"cluster"`
	Offsets map[string]map[int32]int64 `json:"offsets"`
}

func (p *position) set(topic string, part int32, next int64) {
	if p.Offsets == nil {
		p.Offsets = map[string]map[int32]int64{}
	}
	if p.Offsets[topic] == nil {
		p.Offsets[topic] = map[int32]int64{}
	}
	p.Offsets[topic][part] = next
}

func (p *position) get(topic string, part int32) (int64, bool) {
	n, ok := p.Offsets[topic][part]
	return n, ok
}

// SourceSpec declares the kafka source.
func SourceSpec() connectors.SourceSpec {
	return connectors.SourceSpec{
		Spec: connectors.Spec{
			Name: "kafka_cluster",
			Doc: "Copies topics of another Kafka cluster into the pipeline (bridging, migration), keys, headers and timestamps kept. " +
				"Its positions on the other cluster are its cursor, stored in the pipeline's cursor topic once the batch before them is durable; " +
				"one runner process at a time reads. Set the stage's format to bytes to copy values byte for byte.",
			Config:  SourceConfig{},
			Example: "brokers: other-kafka:9092\ntopics: [orders]\nconfig: {security.protocol: SASL_SSL, sasl.mechanisms: PLAIN, sasl.username: bridge, sasl.password: '${OTHER_KAFKA_PASSWORD}'}\n",
			Caps: connectors.Capabilities{
				Cursor:   true,
				Shared:   true,
				Describe: []connectors.Detail{{Option: "brokers", Format: "%s"}},
			},
		},
		New: func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) { return NewSource(c, env) },
	}
}

// NewSource checks the config; the consumer starts when the stage does.
func NewSource(c pipeline.Connector, env connectors.Env) (*Source, error) {
	var cfg SourceConfig
	var errs pipeline.Errors
	errs.Add(c.Pos, c.Path, pipeline.Decode(c, env.Lookup, &cfg))
	checkConfig(c, cfg.Config, &errs)
	if cfg.Batch < 1 {
		errs.Addf(c.Pos, c.Path+".batch", "must be at least 1")
	}
	for i, t := range cfg.Topics {
		if strings.TrimSpace(t) == "" {
			errs.Addf(c.Pos, fmt.Sprintf("%s.topics[%d]", c.Path, i), "empty topic name")
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cm := clientConfig(rdkafka.Consumer, cfg.Brokers,
		map[string]string{"isolation.level": "read_committed"},
		cfg.Config,
		map[string]string{"group.id": cfg.Group, "enable.auto.commit": "false", "auto.offset.reset": "earliest"})
	return &Source{cfg: cfg, cm: cm, log: log, health: env.Health}, nil
}

// Shared: every runner process sees the same topics, so one of them reads
// at a time, and the single cursor holds every partition.
func (s *Source) Shared() bool { return true }

// Resume takes the stored positions.
func (s *Source) Resume(cursor []byte) error {
	s.stored = position{}
	if cursor == nil {
		return nil
	}
	if err := json.Unmarshal(cursor, &s.stored); err != nil {
		return fmt.Errorf("read the stored positions: %w", err)
	}
	return nil
}

// staleCluster: the stored positions were read from another cluster than
// the one the brokers lead to now.
type staleCluster struct{ stored, now string }

func (e *staleCluster) Error() string {
	return fmt.Sprintf("the stored positions belong to cluster %s, but the brokers are of cluster %s", e.stored, e.now)
}

func (e *staleCluster) Unwrap() error { return connectors.ErrStalePosition }

// Open starts the consumer and checks the stored positions are of this
// cluster.
func (s *Source) Open(ctx context.Context) error {
	c, err := kafka.NewConsumer(&s.cm)
	if err != nil {
		return scrubbed(s.cm, "consumer for "+s.cfg.Brokers, err)
	}
	s.c, s.logs = c, make(chan struct{})
	go func() { rdkafka.Logs(c.Logs(), s.cm, s.log); close(s.logs) }()
	id, err := s.clusterID(ctx)
	if err == nil && s.stored.Cluster != "" && s.stored.Cluster != id {
		err = &staleCluster{stored: s.stored.Cluster, now: id}
	}
	if err != nil {
		_ = s.Close()
		return err
	}
	s.pos = position{Cluster: id}
	return nil
}

func (s *Source) clusterID(ctx context.Context) (string, error) {
	a, err := kafka.NewAdminClientFromConsumer(s.c)
	if err != nil {
		return "", scrubbed(s.cm, "admin client for "+s.cfg.Brokers, err)
	}
	defer a.Close()
	id, err := clusterID(ctx, a)
	if err != nil {
		return "", scrubbed(s.cm, "ask "+s.cfg.Brokers+" for its cluster id", err)
	}
	return id, nil
}

// Read copies records until ctx ends.
func (s *Source) Read(ctx context.Context, emit connectors.Emit) error {
	changed, err := s.assignNew()
	if err != nil {
		return err
	}
	if changed {
		// Positions resolved now (start: latest) are stored before any
		// record, or a restart would resolve them again later.
		if err := s.emit(ctx, emit, nil); err != nil {
			return err
		}
	}
	next := time.Now().Add(rediscover)
	batch := make([]*record.Record, 0, s.cfg.Batch)
	for ctx.Err() == nil {
		if time.Now().After(next) {
			if _, err := s.assignNew(); err != nil {
				return err
			}
			next = time.Now().Add(rediscover)
		}
		batch = batch[:0]
		wait := 100
		for len(batch) < s.cfg.Batch {
			ev := s.c.Poll(wait)
			if ev == nil {
				break
			}
			wait = 0 // take what is fetched already, then hand it on
			switch e := ev.(type) {
			case *kafka.Message:
				if e.TopicPartition.Error != nil {
					s.log.Warn("other cluster: " + rdkafka.Scrub(s.cm, e.TopicPartition.Error.Error()))
					continue
				}
				batch = append(batch, s.record(e))
			case kafka.Error:
				if e.IsFatal() {
					return scrubbed(s.cm, "consumer of "+s.cfg.Brokers, e)
				}
				s.log.Warn("other cluster: "+rdkafka.Scrub(s.cm, e.Error()), "code", e.Code().String())
			}
		}
		if len(batch) > 0 {
			if err := s.emit(ctx, emit, batch); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Source) emit(ctx context.Context, emit connectors.Emit, batch []*record.Record) error {
	cursor, err := json.Marshal(&s.pos)
	if err != nil {
		return fmt.Errorf("encode the positions: %w", err)
	}
	return emit(ctx, batch, cursor)
}

// record is a message of the other cluster as a source record; its
// position advances past it.
func (s *Source) record(m *kafka.Message) *record.Record {
	tp := m.TopicPartition
	s.pos.set(*tp.Topic, tp.Partition, int64(tp.Offset)+1)
	r := &record.Record{
		Key: m.Key, Raw: m.Value, Topic: *tp.Topic, Partition: tp.Partition,
		Offset: int64(tp.Offset), Timestamp: m.Timestamp,
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]record.Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = record.Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}

// assignNew adds the partitions of the topics that are not read yet: from
// the stored position, else from start (on the first discovery) or from
// their beginning (a partition or topic that appeared later). It reports
// whether a position was resolved to a number not stored yet.
func (s *Source) assignNew() (bool, error) {
	first := s.pos.Offsets == nil
	if first {
		s.pos.Offsets = map[string]map[int32]int64{}
	}
	var add []kafka.TopicPartition
	var missing []string
	resolved := false
	for _, topic := range s.cfg.Topics {
		md, err := s.c.GetMetadata(&topic, false, 10000)
		if err != nil {
			return false, scrubbed(s.cm, "read metadata of "+topic+" on "+s.cfg.Brokers, err)
		}
		t, ok := md.Topics[topic]
		if !ok || t.Error.Code() == kafka.ErrUnknownTopicOrPart || len(t.Partitions) == 0 {
			missing = append(missing, topic)
			continue
		}
		known := s.pos.Offsets[topic]
		if known == nil {
			known = map[int32]int64{}
			s.pos.Offsets[topic] = known
		}
		for _, p := range t.Partitions {
			if _, ok := known[p.ID]; ok {
				continue
			}
			tp := kafka.TopicPartition{Topic: &topic, Partition: p.ID}
			switch n, ok := s.stored.get(topic, p.ID); {
			case ok:
				tp.Offset = kafka.Offset(n)
			case first && s.cfg.Start == "latest":
				_, high, err := s.c.QueryWatermarkOffsets(topic, p.ID, 10000)
				if err != nil {
					return false, scrubbed(s.cm, fmt.Sprintf("read the end of %s[%d] on %s", topic, p.ID, s.cfg.Brokers), err)
				}
				tp.Offset, resolved = kafka.Offset(high), true
			default:
				// Its beginning, also as the stored position until its
				// first record is read: a restart starts there again.
				tp.Offset = kafka.OffsetBeginning
			}
			known[p.ID] = int64(tp.Offset)
			add = append(add, tp)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		s.health.Down("topics missing on the other cluster (looked again every " + rediscover.String() + "): " + strings.Join(missing, ", "))
	} else {
		s.health.Up()
	}
	if len(add) == 0 {
		return resolved, nil
	}
	if err := s.c.IncrementalAssign(add); err != nil {
		return false, scrubbed(s.cm, "assign partitions of "+s.cfg.Brokers, err)
	}
	s.log.Info("reading partitions of the other cluster", "partitions", len(add), "brokers", s.cfg.Brokers)
	return resolved, nil
}

// Close closes the consumer.
func (s *Source) Close() error {
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	<-s.logs
	s.c = nil
	if err != nil {
		return scrubbed(s.cm, "close the consumer of "+s.cfg.Brokers, err)
	}
	return nil
}
