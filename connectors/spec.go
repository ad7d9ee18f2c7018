package connectors

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// Spec declares a connector once. Its options are the fields of Config,
// described by their struct tags: yaml (the key), conf:"required",
// default, enum (allowed values, comma-separated), doc and example.
// Decoding and checking (pipeline.Decode), the configuration reference in
// docs/, the JSON Schema of pipeline files and what runner plan, metrics
// and pipeline tests know of the connector all come from it.
type Spec struct {
	// Name is the connector's key in a pipeline file: sql, file, ...
	Name string
	// Doc says in a sentence or two what the connector does.
	Doc string
	// Config is a zero value of the connector's options struct.
	Config any
	// Example is the connector's block as a user would write it (YAML).
	Example string
	Caps    Capabilities
}

// Capabilities are what a connector can do, for the parts of the runner
// that plan, count and test stages without knowing connectors by name.
type Capabilities struct {
	// Cursor: the source keeps a cursor (a Resumer) in the pipeline's
	// cursor topic.
	Cursor bool
	// NoCursorWhen lists option values under which a Cursor source keeps
	// none after all (a file source reading standard input: path "-").
	NoCursorWhen map[string]string
	// NoCursorDoc says when in words, for messages: "except on standard
	// input".
	NoCursorDoc string
	// Shared: the source's input is the same for every runner process (a
	// database table), so one process at a time reads it.
	Shared bool
	// OwnOffsets: the sink keeps consumer offsets in its own store, in the
	// same transaction as its writes (an OffsetSink), which makes it
	// exactly-once without Kafka transactions.
	OwnOffsets bool
	// NoExactlyOnce, when set, says why delivery exactly_once cannot be
	// honest with the connector; runner check refuses it with this reason.
	NoExactlyOnce string
	// Rows: the connector reads or writes database rows, counted in
	// conveyor_sql_rows_total.
	Rows bool
	// EndsWith names the option that makes an otherwise endless source
	// finish (generate's count); pipeline tests require it.
	EndsWith string
	// Describe says what the connector points at, for runner plan: the
	// first listed option that is set, shown with its format (%s is the
	// value). Options holding secrets are never listed.
	Describe []Detail
}

// Detail is one way to describe a connector from one of its options.
type Detail struct {
	Option string
	Format string
}

// SourceSpec is a source connector's spec and its constructor.
type SourceSpec struct {
	Spec
	// New builds the source from its block without connecting to anything,
	// so runner check can call it offline.
	New func(c pipeline.Connector, env Env) (Source, error)
}

// SinkSpec is a sink connector's spec and its constructor.
type SinkSpec struct {
	Spec
	// New builds the sink without connecting to anything.
	New func(c pipeline.Connector, env Env) (Sink, error)
}

// Registry lists the connectors a runner knows, registered explicitly by
// the binary: nothing registers itself.
type Registry struct {
	Sources []SourceSpec
	Sinks   []SinkSpec
}

// Source returns the source connector named name.
func (r Registry) Source(name string) (SourceSpec, bool) {
	for _, s := range r.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return SourceSpec{}, false
}

// Sink returns the sink connector named name.
func (r Registry) Sink(name string) (SinkSpec, bool) {
	for _, s := range r.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return SinkSpec{}, false
}

// Spec returns the spec of the source (kind "source") or sink connector
// named name.
func (r Registry) Spec(kind, name string) (Spec, bool) {
	if kind == "source" {
		s, ok := r.Source(name)
		return s.Spec, ok
	}
	s, ok := r.Sink(name)
	return s.Spec, ok
}

// Kinds names the registered connectors, for config loading.
func (r Registry) Kinds() pipeline.Kinds {
	var k pipeline.Kinds
	for _, s := range r.Sources {
		k.Sources = append(k.Sources, s.Name)
	}
	for _, s := range r.Sinks {
		k.Sinks = append(k.Sinks, s.Name)
	}
	sort.Strings(k.Sources)
	sort.Strings(k.Sinks)
	return k
}

// Check reports a registry whose specs contradict themselves: a name
// registered twice, a spec without Config or New, an option whose default
// or enum its type cannot hold. The runner's tests call it.
func (r Registry) Check() error {
	seen := map[string]bool{}
	check := func(kind string, s Spec, hasNew bool) error {
		if seen[kind+" "+s.Name] {
			return fmt.Errorf("%s connector %q is registered twice", kind, s.Name)
		}
		seen[kind+" "+s.Name] = true
		if s.Config == nil || reflect.TypeOf(s.Config).Kind() != reflect.Struct {
			return fmt.Errorf("%s connector %q: Config must be a struct value", kind, s.Name)
		}
		if !hasNew {
			return fmt.Errorf("%s connector %q has no New", kind, s.Name)
		}
		if _, err := pipeline.Keys(reflect.TypeOf(s.Config)); err != nil {
			return fmt.Errorf("%s connector %q: %w", kind, s.Name, err)
		}
		return nil
	}
	for _, s := range r.Sources {
		if err := check("source", s.Spec, s.New != nil); err != nil {
			return err
		}
	}
	for _, s := range r.Sinks {
		if err := check("sink", s.Spec, s.New != nil); err != nil {
			return err
		}
	}
	return nil
}

// KeepsCursor reports whether source connector c keeps a cursor, from its
// spec and its options as written.
func (r Registry) KeepsCursor(c pipeline.Connector) bool {
	s, ok := r.Source(c.Kind)
	if !ok || !s.Caps.Cursor {
		return false
	}
	for key, v := range s.Caps.NoCursorWhen {
		if got, ok := written(c, key); ok && got == v {
			return false
		}
	}
	return true
}

// Describe says what connector c of a stage of kind (source or sink)
// points at, from its options as written ("" when its spec says nothing):
// runner plan shows it.
func (r Registry) Describe(kind string, c pipeline.Connector) string {
	s, ok := r.Spec(kind, c.Kind)
	if !ok {
		return ""
	}
	for _, d := range s.Caps.Describe {
		if v, ok := written(c, d.Option); ok && v != "" {
			if strings.Contains(d.Format, "%s") {
				return fmt.Sprintf(d.Format, strings.Join(strings.Fields(v), " "))
			}
			return d.Format
		}
	}
	return ""
}

// written is the scalar value of option key as the file writes it, without
// interpolation.
func written(c pipeline.Connector, key string) (string, bool) {
	if c.Node == nil {
		return "", false
	}
	for i := 0; i+1 < len(c.Node.Content); i += 2 {
		if c.Node.Content[i].Value == key {
			return c.Node.Content[i+1].Value, true
		}
	}
	return "", false
}
