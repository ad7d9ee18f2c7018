package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/internal/printable"
)

// InspectGroup is the group.id of inspect's consumer. It never commits:
// inspecting a topic changes nothing.
const InspectGroup = "conveyor-dlq-inspect"

// Read calls fn with each committed record of topic, partition by partition
// in offset order, from the beginning up to the end offsets the topic had
// when Read started (records written meanwhile are left for the next
// call). It stops after limit records when limit > 0, and returns how many
// it passed to fn. A topic that does not exist is an error naming it.
func Read(ctx context.Context, o Options, topic string, limit int, fn func(Letter) error) (int, error) {
	c, err := newConsumer(o, InspectGroup)
	if err != nil {
		return 0, err
	}
	defer c.close()
	bs, err := c.partitions(topic)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range bs {
		if b.end <= b.low {
			continue
		}
		tp := []kafka.TopicPartition{{Topic: &topic, Partition: b.partition, Offset: kafka.OffsetBeginning}}
		if err := c.c.Assign(tp); err != nil {
			return n, fmt.Errorf("topic %s[%d]: assign: %s", topic, b.partition, c.scrub(err))
		}
		// Done by position, not by counting: transaction markers and
		// aborted records take offsets but are never delivered.
		for c.position(topic, b.partition) < b.end {
			m, err := c.poll(ctx, 100)
			if err != nil {
				return n, err
			}
			if m == nil {
				continue
			}
			if int64(m.TopicPartition.Offset) >= b.end {
				break // written after Read started
			}
			if err := fn(o.letter(ctx, m)); err != nil {
				return n, err
			}
			n++
			if limit > 0 && n >= limit {
				return n, nil
			}
		}
		if err := c.c.Unassign(); err != nil {
			return n, fmt.Errorf("topic %s[%d]: unassign: %s", topic, b.partition, c.scrub(err))
		}
	}
	return n, nil
}

// Format is how Inspect prints records.
type Format string

// Inspect's formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
)

// InspectOptions select what Inspect prints and how.
type InspectOptions struct {
	Topic  string
	Limit  int    // most records printed; 0 prints all
	Format Format // table (default) or json
	// Width truncates keys (to at most 24), error messages and values in
	// the table; 0 or less prints them whole (--full).
	Width int
}

// DefaultWidth is the table's default value width.
const DefaultWidth = 60

// keyWidth caps the key column when values are truncated.
const keyWidth = 24

// Inspect prints the records of a dead-letter topic to w: an aligned table
// with a count at the end, or one JSON object a line.
func Inspect(ctx context.Context, o Options, opt InspectOptions, w io.Writer) error {
	switch opt.Format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_, err := Read(ctx, o, opt.Topic, opt.Limit, func(l Letter) error { return enc.Encode(jsonOf(&l)) })
		return err
	case FormatTable, "":
		t := NewTable(w, opt.Width)
		n, err := Read(ctx, o, opt.Topic, opt.Limit, func(l Letter) error { t.Add(&l); return nil })
		if err != nil {
			if n > 0 {
				_ = t.Flush() // what was read before the error
			}
			return err
		}
		if err := t.Flush(); err != nil {
			return err
		}
		switch {
		case opt.Limit > 0 && n >= opt.Limit:
			_, err = fmt.Fprintf(w, "\nfirst %d dead letter(s) of %s shown (--limit %d)\n", n, opt.Topic, opt.Limit)
		default:
			_, err = fmt.Fprintf(w, "\n%d dead letter(s) in %s\n", n, opt.Topic)
		}
		return err
	default:
		return &UsageError{Err: fmt.Errorf("unknown format %q: use table or json", opt.Format)}
	}
}

// Table prints letters as an aligned table.
type Table struct {
	tw     *tabwriter.Writer
	width  int
	header bool
}

// NewTable returns a table writing to w; width truncates keys (to at most
// 24), error messages and values, 0 or less prints them whole.
func NewTable(w io.Writer, width int) *Table {
	return &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), width: width}
}

var tableHeader = []string{"AT", "TIME", "KEY", "PIPELINE/STAGE", "STEP", "ERROR", "FROM", "VALUE"}

// Add adds one row.
func (t *Table) Add(l *Letter) {
	t.writeHeader()
	kw := 0
	if t.width > 0 {
		kw = min(t.width, keyWidth)
	}
	ps := "-"
	if p, s := l.header(engine.HeaderPipeline), l.header(engine.HeaderStage); p != "" || s != "" {
		ps = orDash(p) + "/" + orDash(s)
	}
	msg, hasMsg := l.Header(engine.HeaderMessage)
	row := []string{
		l.At(),
		timestamp(l.Timestamp, "-"),
		cell(l.Key, kw),
		ps,
		orDash(printable.Bytes([]byte(l.header(engine.HeaderStep)))),
		"-",
		orDash(l.Source()),
		cell(l.shown(), t.width),
	}
	if hasMsg {
		row[5] = truncate(printable.Bytes([]byte(msg)), t.width)
	}
	fmt.Fprintln(t.tw, strings.Join(row, "\t"))
}

func (t *Table) writeHeader() {
	if !t.header {
		t.header = true
		fmt.Fprintln(t.tw, strings.Join(tableHeader, "\t"))
	}
}

// Flush writes the table (its header alone when it has no rows).
func (t *Table) Flush() error {
	t.writeHeader()
	return t.tw.Flush()
}

// cell renders a key or value: printable, truncated, "(null)" for null.
func cell(b []byte, width int) string {
	if b == nil {
		return "(null)"
	}
	if len(b) == 0 {
		return `""`
	}
	return truncate(printable.Bytes(b), width)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// timestamp formats a record timestamp in UTC with milliseconds.
func timestamp(t time.Time, none string) string {
	if t.IsZero() || t.UnixMilli() <= 0 {
		return none
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// truncate cuts s to width runes, the last one an ellipsis.
func truncate(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	if width == 1 {
		return "…"
	}
	n := 0
	for i := range s {
		if n == width-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// jsonLetter is one line of --format json.
type jsonLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp string `json:"timestamp,omitempty"`
	// Key and Value are strings when they are UTF-8 (null for null);
	// otherwise null, with the bytes in key_base64 / value_base64.
	Key         *string           `json:"key"`
	KeyBase64   []byte            `json:"key_base64,omitempty"`
	Value       *string           `json:"value"`
	ValueBase64 []byte            `json:"value_base64,omitempty"`
	Error       *ErrorInfo        `json:"error,omitempty"`
	Headers     map[string]string `json:"headers"`
}

func jsonOf(l *Letter) jsonLetter {
	j := jsonLetter{
		Topic:     l.Topic,
		Partition: l.Partition,
		Offset:    l.Offset,
		Timestamp: timestamp(l.Timestamp, ""),
		Error:     l.Error(),
		Headers:   make(map[string]string, len(l.Headers)),
	}
	j.Key, j.KeyBase64 = jsonBytes(l.Key)
	j.Value, j.ValueBase64 = jsonBytes(l.shown())
	for _, h := range l.Headers {
		j.Headers[h.Key] = string(h.Value) // the last duplicate wins, as in expressions
	}
	return j
}

func jsonBytes(b []byte) (*string, []byte) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}
