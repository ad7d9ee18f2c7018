// Package pipeline is the pipeline file's model. It loads pipeline files:
// YAML with ${VAR} interpolation, strict keys and units, and errors that
// name file, line, column and the YAML path of every problem found.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Kinds lists the connector keys that sources and sinks accept. The caller
// passes the registered connectors so that a misspelt one is reported with
// everything else.
type Kinds struct {
	Sources []string
	Sinks   []string
}

// Options control loading.
type Options struct {
	Lookup LookupFunc // environment; os.LookupEnv when nil
	Kinds  Kinds
}

// DefaultShutdownTimeout is how long a stage drains on SIGTERM unless set.
const DefaultShutdownTimeout = 30 * time.Second

// An exactly-once stage commits a transaction every DefaultCommitInterval
// or DefaultCommitRecords records, whichever comes first (Kafka Streams
// commits every 100ms under exactly-once too).
const (
	DefaultCommitInterval = 100 * time.Millisecond
	DefaultCommitRecords  = 5000
)

// Files expands paths: a folder stands for the *.yaml and *.yml files
// directly in it, in name order. Test files (*.test.yaml) are left out.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		var found []string
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml") {
				continue
			}
			if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
				found = append(found, filepath.Join(p, name))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("config: no *.yaml files in %s", p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Load reads every file (see Files for folders) and returns the pipelines,
// or an Errors value listing every problem in every file.
func Load(paths []string, opts Options) ([]*Config, error) {
	files, err := Files(paths)
	if err != nil {
		return nil, err
	}
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	var errs Errors
	var out []*Config
	names := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		p, err := Parse(f, src, opts)
		errs.Add(Pos{File: f}, "", err)
		if p == nil {
			continue
		}
		if other, dup := names[p.Name]; dup && p.Name != "" {
			errs.Addf(p.namePos, "pipeline", "pipeline %q is also defined in %s", p.Name, other)
		}
		names[p.Name] = f
		out = append(out, p)
	}
	if err := errs.Err(); err != nil {
		return out, err
	}
	return out, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes one pipeline file. It returns the pipeline even when there
// are errors, so callers can keep checking it; nil only when the YAML itself
// does not parse.
func Parse(file string, src []byte, opts Options) (*Config, error) {
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	docs, err := documents(src)
	if err != nil {
		return nil, yamlError(file, err)
	}
	if len(docs) == 0 {
		return nil, Errorf(Pos{File: file, Line: 1, Col: 1}, "", "the file is empty")
	}
	d := &decoder{file: file, lookup: opts.Lookup, connectorKinds: map[reflect.Type][]string{
		reflect.TypeFor[Source](): opts.Kinds.Sources,
		reflect.TypeFor[Sink]():   opts.Kinds.Sinks,
	}, positions: Positions{}, lines: strings.Split(string(src), "\n")}
	for _, extra := range docs[1:] {
		d.errorf(extra, "", "a second YAML document (after ---): a file holds one pipeline, put each in its own file")
	}
	root := docs[0]
	d.duplicateKeys(root, "")
	p := &Config{File: file, Positions: d.positions}
	d.decode(root, "", reflect.ValueOf(p).Elem())
	p.locate(d, root)
	p.validate(d)
	p.loadSchemas(d)
	p.checkRegistry(d)
	p.failed = map[string]bool{}
	for _, e := range d.errs {
		p.failed[e.Path] = true
	}
	return p, d.errs.Err()
}

// Failed reports whether loading found a problem at path, so later checks
// (of the values that could not be read) need not report it again.
func (p *Config) Failed(path string) bool {
	return p.failed[path]
}

// documents parses every YAML document of src and returns the roots of
// those that hold something: a stray "---" at the end is no document.
func documents(src []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var out []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 {
			continue
		}
		if root := doc.Content[0]; root.Kind != yaml.ScalarNode || root.Tag != "!!null" {
			out = append(out, root)
		}
	}
}

// duplicateKeys reports a key given twice in one mapping, anywhere in the
// file: YAML readers differ on which one counts (this one would take the
// last), so neither should.
func (d *decoder) duplicateKeys(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			if f, dup := first[k.Value]; dup {
				d.errorf(k, join(path, k.Value), "duplicate key %q: first at line %d, column %d (YAML readers differ on which counts)", k.Value, f.Line, f.Column)
			} else {
				first[k.Value] = k
			}
			d.duplicateKeys(v, join(path, k.Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.duplicateKeys(c, index(path, i))
		}
	}
}

func yamlError(file string, err error) error {
	msg := err.Error()
	pos := Pos{File: file, Line: 1, Col: 1}
	var te *yaml.TypeError
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else if ok := asTypeError(err, &te); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	return &Error{Pos: pos, Err: fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))}
}

func asTypeError(err error, te **yaml.TypeError) bool {
	t, ok := err.(*yaml.TypeError)
	*te = t
	return ok
}

// locate remembers positions of top-level keys for later messages.
func (p *Config) locate(d *decoder, root *yaml.Node) {
	p.namePos = d.pos(root)
	kv, _ := d.pairs(root, "")
	for _, e := range kv {
		switch e[0].Value {
		case "pipeline":
			p.namePos = d.pos(e[1])
		case "vars":
			p.VarsPos = d.pos(e[1])
		}
	}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validate applies defaults and checks what single keys cannot.
func (p *Config) validate(d *decoder) {
	errf := d.errs.Addf
	if p.Name != "" && !nameRE.MatchString(p.Name) {
		errf(p.namePos, "pipeline", "invalid pipeline name %q: use letters, digits, '.', '_' and '-'", p.Name)
	}
	p.deliverySet = p.Delivery != ""
	if p.Delivery == "" {
		p.Delivery = AtLeastOnce
	}
	if p.ShutdownTimeout == 0 {
		p.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if p.Kafka.Brokers == "" && !d.failed("kafka.brokers") {
		at := p.Kafka.Pos
		if at.Line == 0 { // no kafka section at all
			at = Pos{File: d.file, Line: 1, Col: 1}
		}
		errf(at, "kafka.brokers", "missing: set a broker list such as host:9092, or embedded for an in-process broker")
	}
	for name, t := range p.Topics {
		path := "topics." + name
		if !validTopic(name) {
			errf(t.Pos, path, "invalid topic name %q: use up to 249 letters, digits, '.', '_' and '-'", name)
		}
		if at, set := p.Positions[path+".partitions"]; set && !d.failed(path+".partitions") && (t.Partitions < 1 || t.Partitions > math.MaxInt32) {
			errf(at, path+".partitions", "must be from 1 to %d (Kafka counts partitions in 32 bits), got %d", math.MaxInt32, t.Partitions)
		}
		if t.Partitions == 0 {
			t.Partitions = 1
		}
		// -1 (the broker's default) is what the file means without the key.
		if at, set := p.Positions[path+".replication_factor"]; set && !d.failed(path+".replication_factor") && (t.ReplicationFactor < 1 || t.ReplicationFactor > math.MaxInt16) && t.ReplicationFactor != -1 {
			errf(at, path+".replication_factor", "must be from 1 to %d (Kafka counts replicas in 16 bits), or -1 for the broker's default, got %d", math.MaxInt16, t.ReplicationFactor)
		}
		if t.ReplicationFactor == 0 {
			t.ReplicationFactor = -1 // the broker's default
		}
		p.Topics[name] = t
	}
	seen := map[string]*Stage{}
	stage := func(s *Stage, transform bool) {
		if !nameRE.MatchString(s.Name) && !strings.Contains(s.Name, "${") { // ${ in a key is reported as such
			errf(s.Pos, s.Path, "invalid stage name %q: use letters, digits, '.', '_' and '-'", s.Name)
		}
		if other, dup := seen[s.Name]; dup && other.Path != s.Path { // within a section: a duplicate key, reported as such
			errf(s.Pos, s.Path, "duplicate stage name %q: also used by %s at line %d", s.Name, other.Path, other.Pos.Line)
		}
		seen[s.Name] = s
		if s.OnError.Action == "" {
			s.OnError.Action = Fail
		}
		if s.Format == "" {
			s.Format = "json"
		}
		if s.Delivery == "" {
			s.Delivery = p.Delivery
			if transform && stateful(s.Steps) && !p.deliverySet {
				// State without transactions would double-count after a
				// crash: stateful stages are exactly-once unless told.
				s.Delivery = ExactlyOnce
			}
		}
		if transform && stateful(s.Steps) && s.Delivery != ExactlyOnce {
			errf(s.Pos, s.Path+".delivery", "stateful steps (join, join_table, aggregate) need exactly_once: their state and outputs must commit together")
		}
		if s.CommitInterval < 0 {
			errf(s.Pos, s.Path+".commit_interval", "must not be negative")
		}
		if s.CommitInterval == 0 {
			s.CommitInterval = Duration(DefaultCommitInterval)
		}
		if s.CommitRecords < 0 {
			errf(s.Pos, s.Path+".commit_records", "must not be negative")
		}
		if s.CommitRecords == 0 {
			s.CommitRecords = DefaultCommitRecords
		}
	}
	consumer := func(s *Stage, c *Consumer) {
		for _, t := range c.From {
			if !validTopic(t) {
				errf(s.Pos, s.Path+".from", "invalid topic name %q", t)
			}
		}
		if c.Group == "" {
			c.Group = p.Name + "." + s.Name
		}
		if c.Start == "" {
			c.Start = Earliest
		}
	}
	to := func(s *Stage, t string) {
		if t != "" && !validTopic(t) {
			errf(s.Pos, s.Path+".to", "invalid topic name %q", t)
		}
	}
	if p.CursorTopic != "" && !validTopic(p.CursorTopic) {
		errf(p.namePos, "cursor_topic", "invalid topic name %q", p.CursorTopic)
	}
	for i := range p.Sources {
		s := &p.Sources[i]
		stage(&s.Stage, false)
		to(&s.Stage, s.To)
	}
	for i := range p.Transforms {
		t := &p.Transforms[i]
		stage(&t.Stage, true)
		consumer(&t.Stage, &t.Consumer)
		to(&t.Stage, t.To)
	}
	for i := range p.Sinks {
		s := &p.Sinks[i]
		stage(&s.Stage, false)
		consumer(&s.Stage, &s.Consumer)
	}
	if len(p.Sources)+len(p.Transforms)+len(p.Sinks) == 0 && p.Name != "" {
		errf(p.namePos, "", "the pipeline has no stages: add sources, transforms or sinks")
	}
}

func stateful(steps []Step) bool {
	for i := range steps {
		if steps[i].Stateful() {
			return true
		}
	}
	return false
}
