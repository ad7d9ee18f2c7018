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
	value, key, err := TopicCodecs(c.cfg, c.reg, topic, c.cfg.TopicFormat(topic, c.stage))
	if err != nil {
		return nil, err
	}
	return &topicCodec{value: value, key: key}, nil
}

// TopicCodecs builds the codecs of topic's values, in format f, and of its
// keys when it declares a key_format (nil otherwise: keys are bytes as
// they are), writing with the topic's schema files.
func TopicCodecs(cfg *pipeline.Config, reg *serde.Registry, topic string, f pipeline.Format) (serde.Codec, *serde.KeyCodec, error) {
	decl := cfg.Topics[topic]
	if f.Registered() && reg == nil {
		return nil, nil, fmt.Errorf("topic %s: format %s needs schema_registry in the pipeline file", topic, f)
	}
	value, err := serde.NewCodec(serde.Format(f), serde.CodecOptions{Registry: reg, Subject: serde.ValueSubject(topic), Schema: decl.Value})
	if err != nil {
		return nil, nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	kf := decl.KeyFormat
	if kf == "" || kf == pipeline.FormatBytes {
		return value, nil, nil
	}
	if kf.Registered() && reg == nil {
		return nil, nil, fmt.Errorf("topic %s: key_format %s needs schema_registry in the pipeline file", topic, kf)
	}
	key, err := serde.NewKeyCodec(serde.Format(kf), serde.CodecOptions{Registry: reg, Subject: serde.KeySubject(topic), Schema: decl.Key})
	if err != nil {
		return nil, nil, fmt.Errorf("topic %s keys: %w", topic, err)
	}
	return value, key, nil
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

// codecFailure is a codec error that is not the record's fault: the
// registry refused us (credentials, say), the stage is stopping while a
// codec waited for the registry, or a topic's codecs could not be built.
// Codecs report a record's own fault as *serde.RecordError; anything else
// must not send the record to on_error: it stops the stage, and the record
// is read again after the restart.
type codecFailure struct{ err error }

func (e *codecFailure) Error() string { return e.err.Error() }
func (e *codecFailure) Unwrap() error { return e.err }

// codecErr marks err as a codecFailure unless it is the record's fault.
func codecErr(err error) error {
	var re *serde.RecordError
	if err == nil || errors.As(err, &re) {
		return err
	}
	return &codecFailure{err: err}
}

// stopped reports a codecFailure (see there).
func stopped(err error) bool {
	var cf *codecFailure
	return errors.As(err, &cf)
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
		return nil, nil, codecErr(err)
	}
	key := m.Key
	if tc.key != nil && key != nil {
		if key, err = tc.key.DecodeKey(ctx, key); err != nil {
			return nil, nil, codecErr(fmt.Errorf("key: %w", err))
		}
	}
	v, err := tc.value.Decode(ctx, m.Value)
	return key, v, codecErr(err)
}
