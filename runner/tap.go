package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/engine/browse"
	"github.com/conveyor-dev/conveyor/internal/printable"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// tapCmd prints a topic's records as they arrive, decoded in the topic's
// format: the console's topic browser in a terminal (package browse).
type tapCmd struct {
	Topic     string   `arg:"" help:"The topic to show."`
	Config    []string `short:"c" help:"Pipeline file or folder, for the brokers, kafka config, topic formats and schema registry (of the first pipeline that names the topic, else the first); repeat for several." placeholder:"FILE|FOLDER"`
	Brokers   string   `help:"Kafka bootstrap servers; with -c, instead of the files' brokers." env:"KAFKA_BROKERS" placeholder:"HOST:PORT,..."`
	From      string   `help:"Where to start: beginning, end, offset:N (on every partition, or the one given), time:RFC3339, or next:0=13,1=41." default:"end"`
	Partition int32    `help:"Show only this partition (-1: all)." default:"-1"`
	Where     string   `placeholder:"EXPR" help:"Show only the records for which this expression is true (value fields by name, _key, _headers[\"name\"], _partition, _offset, _timestamp), as with dlq replay."`
	Raw       bool     `help:"Also show the key and value bytes as read, in base64."`
	Limit     int      `help:"Stop after this many records (0: no limit)." default:"0"`
	NoFollow  bool     `help:"Stop at the end offsets the topic had at the start instead of waiting for new records."`
	Format    string   `help:"text: one line a record; json: one object a line, as the control API shows records." enum:"text,json" default:"text"`
}

func (c *tapCmd) run(log *slog.Logger, stdout io.Writer) error {
	if c.Limit < 0 {
		return tapUsage(fmt.Errorf("--limit %d: must not be negative", c.Limit))
	}
	if _, err := browse.ParseFrom(c.From); err != nil {
		return tapUsage(fmt.Errorf("--%w", err))
	}
	opts, err := c.options(log)
	if err != nil {
		return err
	}
	client, err := browse.New(opts)
	if err != nil {
		return tapUsage(err)
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	show := textPrinter(stdout)
	if c.Format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		show = func(r browse.Record) error { return enc.Encode(r) }
	}
	ro := browse.ReadOptions{Topic: c.Topic, From: c.From, Partition: c.Partition, Limit: c.Limit, Where: c.Where, Raw: c.Raw, Follow: !c.NoFollow}
	_, err = client.Read(ctx, ro, show)
	var ue *browse.UsageError
	switch {
	case errors.As(err, &ue):
		return tapUsage(err)
	case err != nil && ctx.Err() != nil:
		return &exitError{code: exitInterrupt, err: errors.New("runner tap: interrupted")}
	case err != nil:
		return fmt.Errorf("tap: %w", err)
	}
	return nil
}

// options are the cluster and codecs to read with: the pipeline files'
// (the first pipeline naming the topic, else the first) with --brokers
// instead of theirs when given, or --brokers alone.
func (c *tapCmd) options(log *slog.Logger) (browse.Options, error) {
	if len(c.Config) == 0 {
		if strings.TrimSpace(c.Brokers) == "" {
			return browse.Options{}, tapUsage(errors.New("give pipeline files (-c FILE|FOLDER) or --brokers (or KAFKA_BROKERS)"))
		}
		return browse.Options{Brokers: c.Brokers, Log: log}, nil
	}
	pipes, err := pipeline.Load(c.Config, pipeline.Options{Kinds: registry().Kinds()})
	if err != nil {
		return browse.Options{}, &exitError{code: exitInvalid, err: err}
	}
	if len(pipes) == 0 {
		return browse.Options{}, tapUsage(fmt.Errorf("no pipeline in %s", strings.Join(c.Config, ", ")))
	}
	p := pipes[0]
	for _, q := range pipes {
		if browse.Mentions(q, c.Topic) {
			p = q
			break
		}
	}
	reg, err := engine.NewRegistries(log).Get(p.SchemaRegistry)
	if err != nil {
		return browse.Options{}, fmt.Errorf("runner tap: pipeline %s: %w", p.Name, err)
	}
	opts := browse.PipelineOptions(p, reg)
	opts.Log = log
	if strings.TrimSpace(c.Brokers) != "" {
		opts.Brokers = c.Brokers
	}
	if opts.Brokers == "embedded" {
		return opts, tapUsage(fmt.Errorf("pipeline %s runs on the embedded broker (%s: brokers: embedded), which lives inside the runner process and cannot be tapped from another one: "+
			"run the pipelines on a broker of their own (runner broker, or a Kafka cluster) and give its address with --brokers or KAFKA_BROKERS, or browse the topic in the running runner's console", p.Name, p.File))
	}
	return opts, nil
}

func tapUsage(err error) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("runner tap: %w", err)}
}

// textPrinter prints a record a line:
//
//	topic[partition]@offset TIME key=KEY value=VALUE [headers={k=v, ...}] [decode_error=...] [raw_key=B64 raw_value=B64]
//
// with keys, values and headers escaped for the terminal.
func textPrinter(w io.Writer) func(browse.Record) error {
	return func(r browse.Record) error {
		var b strings.Builder
		ts := "-"
		if !r.Timestamp.IsZero() {
			ts = r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		key := "(null)"
		if r.Key != nil {
			key = printable.Bytes([]byte(*r.Key))
		}
		fmt.Fprintf(&b, "%s[%d]@%d %s key=%s value=%s", r.Topic, r.Partition, r.Offset, ts, key, printable.Bytes(r.Value))
		if len(r.Headers) > 0 {
			hs := make([]string, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = printable.Bytes([]byte(h.Key)) + "=" + printable.Bytes([]byte(h.Value))
			}
			fmt.Fprintf(&b, " headers={%s}", strings.Join(hs, ", "))
		}
		if r.DecodeError != "" {
			fmt.Fprintf(&b, " decode_error=%q", r.DecodeError)
		}
		if r.RawKey != nil || r.RawValue != nil {
			fmt.Fprintf(&b, " raw_key=%s raw_value=%s", base64.StdEncoding.EncodeToString(r.RawKey), base64.StdEncoding.EncodeToString(r.RawValue))
		}
		b.WriteByte('\n')
		_, err := io.WriteString(w, b.String())
		return err
	}
}
