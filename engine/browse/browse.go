// Package browse gives read-only views of a Kafka cluster: its topics with
// their offsets, the records of a topic decoded in the topic's format, and
// its consumer groups with their members and lag. The control API, the
// console and `runner tap` show what it returns.
//
// Browsing never disturbs a consumer group: records are read by
// assignment, under a group id that never joins nor commits.
package browse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/serde"
)

// GroupID is the group.id of browse's consumers. They assign partitions
// and commit nothing, so the group never has members nor offsets.
const GroupID = "conveyor-browse"

// Codecs returns the codecs of topic's values and keys. A nil value codec
// reads values as JSON when they parse as JSON and as text otherwise; a
// nil key codec shows keys as they are.
type Codecs func(topic string) (value serde.Codec, key *serde.KeyCodec, err error)

// Options say how to reach a cluster and read its topics.
type Options struct {
	Brokers string
	// Config holds librdkafka properties for every client (security
	// settings, say). Their secret values never appear in errors or logs.
	Config map[string]string
	// Log receives librdkafka's log lines; nil discards them.
	Log *slog.Logger
	// Timeout bounds each metadata, offset and admin request, and the
	// decoding of one record through a schema registry (default 30s).
	Timeout time.Duration
	// Codecs decode topics' values and keys; nil reads every value as
	// JSON when it parses, as text otherwise.
	Codecs Codecs
	// Internal names topics shown as internal besides those whose name
	// starts with "__": a pipeline's cursor and changelog topics, say.
	Internal []string
}

func (o *Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o *Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return 30 * time.Second
	}
	return o.Timeout
}

func (o *Options) timeoutMs() int { return int(o.timeout() / time.Millisecond) }

// Errors callers tell apart (with errors.Is / errors.As): a control API
// answers them 404 and 400.
var (
	ErrNoTopic = errors.New("no such topic")
	ErrNoGroup = errors.New("no such consumer group")
)

// UsageError is a request that cannot be met as asked: a malformed from
// position, a where expression that does not compile, a partition the
// topic lacks.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Client browses one cluster. Its methods may be called concurrently.
type Client struct {
	opt   Options
	cm    kafka.ConfigMap // of every consumer, for scrubbing secrets from errors
	base  *kafka.Consumer // never assigned: its admin client and metadata
	admin *kafka.AdminClient
}

// New connects to o.Brokers (lazily: a cluster that is down makes calls
// fail, not New).
func New(o Options) (*Client, error) {
	if strings.TrimSpace(o.Brokers) == "" {
		return nil, errors.New("browse: no brokers")
	}
	if o.Brokers == "embedded" {
		return nil, errors.New("browse: brokers: embedded names a broker inside a running runner; give its address")
	}
	c := &Client{opt: o, cm: consumerConfig(o)}
	base, err := c.newConsumer()
	if err != nil {
		return nil, err
	}
	admin, err := kafka.NewAdminClientFromConsumer(base)
	if err != nil {
		_ = base.Close()
		return nil, fmt.Errorf("browse: admin client: %s", c.scrub(err))
	}
	c.base, c.admin = base, admin
	return c, nil
}

// Close releases the clients. Calls in flight fail.
func (c *Client) Close() {
	c.admin.Close()
	_ = c.base.Close()
}

// consumerConfig is a read_committed consumer that commits nothing and
// reads no statistics.
func consumerConfig(o Options) kafka.ConfigMap {
	return rdkafka.Build(rdkafka.Consumer, o.Brokers, o.Config, nil, map[string]string{
		"group.id":               GroupID,
		"enable.auto.commit":     "false",
		"isolation.level":        "read_committed",
		"auto.offset.reset":      "earliest", // an offset retention removed: the next one
		"statistics.interval.ms": "0",
		"client.id":              "conveyor-browse",
	})
}

func (c *Client) newConsumer() (*kafka.Consumer, error) {
	cm := kafka.ConfigMap{}
	for k, v := range c.cm {
		cm[k] = v
	}
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, fmt.Errorf("browse: consumer: %s", c.scrub(err))
	}
	go rdkafka.Logs(cons.Logs(), c.cm, c.opt.log())
	return cons, nil
}

// scrub is err's text without the secret values of the client config.
func (c *Client) scrub(err error) string { return rdkafka.Scrub(c.cm, err.Error()) }

// adminContext bounds one admin call.
func (c *Client) adminContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opt.timeout())
}

// internal reports whether topic belongs to Kafka or the runner.
func (c *Client) internal(topic string) bool {
	if strings.HasPrefix(topic, "__") {
		return true
	}
	for _, t := range c.opt.Internal {
		if t == topic {
			return true
		}
	}
	return false
}
