package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"log/slog"
	"sync"

	"github.com/conveyor-dev/conveyor/internal/redact"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/serde"
)

// codecs encode and decode the values and keys of the topics one stage
// reads and writes, each topic in its declared format (the stage's format
// where the topic declares none).
type codecs struct {
	cfg   *pipeline.Config
	stage *pipeline.Stage
	reg   *serde.Registry // nil when the pipeline names no registry

	fixed   map[string]*topicCodec // the stage's own topics, built at start, read-only
	dynamic sync.Map               // topics a to step routes to: string → *topicCodec
}

// topicCodec is one topic's value codec and, when its keys have a format,
// its key codec.
type topicCodec struct {
	value serde.Codec
	key   *serde.KeyCodec
}

func newCodecs(cfg *pipeline.Config, st *pipeline.Stage, reg *serde.Registry, topics ...string) (*codecs, error) {
	c := &codecs{cfg: cfg, stage: st, reg: reg, fixed: map[string]*topicCodec{}}
	for _, t := range topics {
		if t == "" {
			continue
		}
		tc, err := c.build(t)
		if err != nil {
			return nil, err
		}
		c.fixed[t] = tc
	}
	return c, nil
}

func (c *codecs) build(topic string) (*topicCodec, error) {
	decl := c.cfg.Topics[topic]
	f := c.cfg.TopicFormat(topic, c.stage)
	if f.Registered() && c.reg == nil {
		return nil, fmt.Errorf("topic %s: format %s needs schema_registry in the pipeline file", topic, f)
	}
	value, err := serde.NewCodec(serde.Format(f), serde.CodecOptions{Registry: c.reg, Subject: serde.ValueSubject(topic), Schema: decl.Value})
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	tc := &topicCodec{value: value}
	if kf := decl.KeyFormat; kf != "" && kf != pipeline.FormatBytes {
		if kf.Registered() && c.reg == nil {
			return nil, fmt.Errorf("topic %s: key_format %s needs schema_registry in the pipeline file", topic, kf)
		}
		if tc.key, err = serde.NewKeyCodec(serde.Format(kf), serde.CodecOptions{Registry: c.reg, Subject: serde.KeySubject(topic), Schema: decl.Key}); err != nil {
			return nil, fmt.Errorf("topic %s keys: %w", topic, err)
		}
	}
	return tc, nil
}

// of returns topic's codecs, building them for a topic first routed to.
func (c *codecs) of(topic string) (*topicCodec, error) {
	if tc, ok := c.fixed[topic]; ok {
		return tc, nil
	}
	if tc, ok := c.dynamic.Load(topic); ok {
		return tc.(*topicCodec), nil
	}
	tc, err := c.build(topic)
	if err != nil {
		return nil, err
	}
	actual, _ := c.dynamic.LoadOrStore(topic, tc)
	return actual.(*topicCodec), nil
}

// stopped reports an error that is not the record's fault: the stage is
// stopping while a codec waited for the registry. Such a record must not
// go to on_error; it is read again after the restart.
func stopped(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Registries holds one registry client per registry configuration, shared
// by every stage of a process, so schemas are fetched once and a mock://
// registry is one registry. Pass one in RunOptions to share it with code
// outside the run (runner test reads and writes the topics through it).
type Registries struct {
	mu  sync.Mutex
	log *slog.Logger
	by  map[pipeline.SchemaRegistry]*serde.Registry
}

// NewRegistries returns an empty set; log gets the registry clients' warnings.
func NewRegistries(log *slog.Logger) *Registries { return &Registries{log: log} }

// Get returns the client for cfg, made on first use; nil when cfg names no
// registry.
func (rs *Registries) Get(cfg pipeline.SchemaRegistry) (*serde.Registry, error) {
	if cfg.URL == "" {
		return nil, nil
	}
	cfg.Pos = pipeline.Pos{}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.by[cfg]; ok {
		return r, nil
	}
	r, err := serde.NewRegistry(serde.RegistryConfig{URL: cfg.URL, Username: cfg.BasicAuth.Username, Password: cfg.BasicAuth.Password, BearerToken: cfg.BearerToken}, rs.log)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %s", redact.Secrets(err.Error(), cfg.BasicAuth.Password, cfg.BearerToken))
	}
	if rs.by == nil {
		rs.by = map[pipeline.SchemaRegistry]*serde.Registry{}
	}
	rs.by[cfg] = r
	return r, nil
}

// decodeRow decodes a table topic's record: its key (when the topic's keys
// have a format) and its value.
func (s *stage) decodeRow(ctx context.Context, m *kafka.Message) ([]byte, any, error) {
	tc, err := s.codecs.of(*m.TopicPartition.Topic)
	if err != nil {
		return nil, nil, err
	}
	key := m.Key
	if tc.key != nil && key != nil {
		if key, err = tc.key.DecodeKey(ctx, key); err != nil {
			return nil, nil, fmt.Errorf("key: %w", err)
		}
	}
	v, err := tc.value.Decode(ctx, m.Value)
	return key, v, err
}
