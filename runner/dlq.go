package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/engine/deadletter"
	"github.com/conveyor-dev/conveyor/serde"
)

// dlqCmd inspects and replays dead-letter topics (see package deadletter).
type dlqCmd struct {
	Inspect dlqInspectCmd `cmd:"" help:"Show a dead-letter topic's records with their error headers."`
	Replay  dlqReplayCmd  `cmd:"" help:"Re-publish dead letters after a fix, once each."`
}

// dlqKafka is how both subcommands reach the cluster.
type dlqKafka struct {
	Brokers  string   `help:"Kafka bootstrap servers." env:"KAFKA_BROKERS" required:"" placeholder:"HOST:PORT,..."`
	Config   []string `name:"config" placeholder:"KEY=VALUE" sep:"none" help:"A librdkafka property for the clients (security settings, say); repeat for several. Secret values never appear in output."`
	Registry string   `placeholder:"URL" env:"SCHEMA_REGISTRY_URL" help:"A schema registry (Confluent API): values in its wire format (Avro, JSON Schema, Protobuf) are shown decoded and --where reads their fields. Credentials go in the URL (https://user:password@host); they never appear in output."`
}

type dlqInspectCmd struct {
	Kafka  dlqKafka `embed:""`
	Topic  string   `arg:"" help:"The dead-letter topic."`
	Limit  int      `help:"Show at most this many records (0: all)." default:"0"`
	Format string   `help:"table, or json: one object a line with every header decoded." enum:"table,json" default:"table"`
	Full   bool     `help:"Print whole keys, error messages and values instead of truncating them."`
	Width  int      `help:"Width to truncate error messages and values to in the table." default:"60"`
}

type dlqReplayCmd struct {
	Kafka  dlqKafka `embed:""`
	From   string   `required:"" placeholder:"TOPIC" help:"The dead-letter topic to replay."`
	To     string   `required:"" placeholder:"TOPIC" help:"The topic to re-publish to."`
	Group  string   `placeholder:"GROUP" help:"Consumer group whose committed offsets remember what was replayed (also the transactional id). Default: conveyor-dlq-replay.<from>.<to>."`
	Where  string   `placeholder:"EXPR" help:"Replay only the dead letters for which this expression is true (value fields by name, _headers[\"conveyor.error.step\"], _key, ...). The others are skipped for good: their offsets are committed too."`
	DryRun bool     `help:"Only count what would be replayed and skipped; publish and commit nothing."`
}

func (c *dlqCmd) run(sub string, log *slog.Logger, stdout io.Writer) error {
	switch sub {
	case "inspect":
		return c.Inspect.run(log, stdout)
	case "replay":
		return c.Replay.run(log, stdout)
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("runner: dlq: unknown subcommand %q (inspect or replay)", sub)}
}

// options checks --config and returns the client options.
func (k *dlqKafka) options(log *slog.Logger) (deadletter.Options, error) {
	o := deadletter.Options{Brokers: k.Brokers, Log: log, Config: map[string]string{}}
	if strings.TrimSpace(k.Brokers) == "" {
		return o, usage(errors.New("--brokers (or KAFKA_BROKERS) is empty"))
	}
	for _, kv := range k.Config {
		key, value, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			// Quote only the key part: the value may be a secret.
			return o, usage(fmt.Errorf("--config %q: want KEY=VALUE", key))
		}
		if key == "bootstrap.servers" {
			return o, usage(errors.New("--config bootstrap.servers: use --brokers"))
		}
		o.Config[key] = value
	}
	if k.Registry != "" {
		decode, err := registryDecoder(k.Registry, log)
		if err != nil {
			return o, usage(err)
		}
		o.Decode = decode
	}
	return o, nil
}

// registryDecoder reads values in the Confluent wire format through the
// registry at rawURL, whose user info (if any) is its basic auth.
func registryDecoder(rawURL string, log *slog.Logger) (func(context.Context, []byte) (any, error), error) {
	cfg := serde.RegistryConfig{URL: rawURL}
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
		cfg.URL = u.String()
	}
	reg, err := serde.NewRegistry(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("--registry: %w", err)
	}
	decode, err := wireDecoder(reg)
	if err != nil {
		return nil, fmt.Errorf("--registry: %w", err)
	}
	return decode, nil
}

// wireDecoder reads dead letters' values in the Confluent wire format
// through reg, for runner dlq and the console's dead-letter pages.
func wireDecoder(reg *serde.Registry) (func(context.Context, []byte) (any, error), error) {
	codec, err := serde.NewCodec(serde.Avro, serde.CodecOptions{Registry: reg})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, b []byte) (any, error) {
		// A registry that does not answer in time leaves the value as it
		// is rather than stalling the caller.
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return codec.Decode(ctx, b)
	}, nil
}

func usage(err error) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("runner: dlq: %w", err)}
}

// failure maps errors of package deadletter to exit statuses: usage
// mistakes 2, everything else 1.
func failure(err error) error {
	var ue *deadletter.UsageError
	if errors.As(err, &ue) {
		return usage(err)
	}
	return err
}

func (c *dlqInspectCmd) run(log *slog.Logger, stdout io.Writer) error {
	o, err := c.Kafka.options(log)
	if err != nil {
		return err
	}
	width := c.Width
	if c.Full {
		width = 0
	} else if width < 8 {
		return usage(fmt.Errorf("--width %d: at least 8, or --full", width))
	}
	if c.Limit < 0 {
		return usage(fmt.Errorf("--limit %d: must not be negative", c.Limit))
	}
	ctx, stop := signalContext(log, nil)
	defer stop()
	opt := deadletter.InspectOptions{Topic: c.Topic, Limit: c.Limit, Format: deadletter.Format(c.Format), Width: width}
	err = deadletter.Inspect(ctx, o, opt, stdout)
	if err != nil && ctx.Err() != nil {
		return &exitError{code: exitInterrupt, err: errors.New("runner: dlq inspect: interrupted")}
	}
	return failure(err)
}

func (c *dlqReplayCmd) run(log *slog.Logger, stdout io.Writer) error {
	o, err := c.Kafka.options(log)
	if err != nil {
		return err
	}
	r := deadletter.ReplayOptions{From: c.From, To: c.To, Group: c.Group, Where: c.Where, DryRun: c.DryRun}
	if r.Group == "" {
		r.Group = deadletter.DefaultGroup(r.From, r.To)
	}
	ctx, stop := signalContext(log, nil)
	defer stop()
	counts, err := deadletter.Replay(ctx, o, r)
	if err != nil {
		var ue *deadletter.UsageError
		if !errors.As(err, &ue) && counts.Read > 0 && !r.DryRun {
			// What committed before the failure stays replayed.
			fmt.Fprintf(stdout, "stopped after: read %d, replayed %d, skipped %d (committed; run again to carry on)\n", counts.Read, counts.Replayed, counts.Skipped)
		}
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupt, err: errors.New("runner: dlq replay: interrupted; the batches committed so far stay replayed, run it again to carry on")}
		}
		return failure(err)
	}
	printCounts(stdout, r, counts)
	return nil
}

func printCounts(w io.Writer, r deadletter.ReplayOptions, c deadletter.Counts) {
	fmt.Fprintf(w, "%s -> %s (group %s)\n", r.From, r.To, r.Group)
	why := ""
	if r.Where != "" {
		why = " (not matching --where)"
	}
	switch {
	case r.DryRun:
		fmt.Fprintf(w, "dry run: read %d, would replay %d, would skip %d%s; nothing published, no offsets committed\n", c.Read, c.Replayed, c.Skipped, why)
	case c.Read == 0:
		fmt.Fprintln(w, "read 0, replayed 0, skipped 0: nothing new since the last replay of this group")
	default:
		if why != "" {
			why = " (not matching --where; committed too, so no later replay of this group sees them)"
		}
		fmt.Fprintf(w, "read %d, replayed %d, skipped %d%s\n", c.Read, c.Replayed, c.Skipped, why)
	}
}
