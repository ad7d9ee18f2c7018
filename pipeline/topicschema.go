package pipeline

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
)

// loadSchemas reads the schema files the topics declare, relative to the
// pipeline file, and settles each topic's formats: a schema file without a
// format implies the file's (.avsc avro, .json json_schema, .proto
// protobuf); beside format json, any schema file types a plain JSON topic
// for checks only (nothing is registered or validated).
func (p *Config) loadSchemas(d *decoder) {
	for name, t := range p.Topics {
		path := "topics." + name
		t.Value = p.readSchema(d, path+".value_schema", t.ValueSchema, &t.Format)
		t.Key = p.readSchema(d, path+".key_schema", t.KeySchema, &t.KeyFormat)
		p.Topics[name] = t
	}
	if p.SchemaRegistry.URL == "" && !d.failed("schema_registry.url") {
		if at, set := p.Positions["schema_registry"]; set {
			d.errs.Addf(at, "schema_registry.url", "missing: the registry's URL, such as http://registry:8081")
		}
	}
}

func (p *Config) readSchema(d *decoder, path, file string, format *Format) serde.Schema {
	if file == "" || d.failed(path) {
		return nil
	}
	at := p.Positions.Of(path, Pos{File: d.file, Line: 1, Col: 1})
	full := file
	if !filepath.IsAbs(full) {
		full = filepath.Join(filepath.Dir(d.file), file)
	}
	kind, err := serde.FormatOf(file)
	if err != nil {
		d.errs.Add(at, path, err)
		return nil
	}
	want := Format(kind)
	switch {
	case *format == "":
		*format = want
	case *format == FormatJSON:
		// The schema types a plain JSON topic: checked, not registered.
	case *format != want:
		d.errs.Addf(at, path, "a %s schema does not fit format %s", kind, *format)
		return nil
	}
	s, err := serde.ReadFile(full)
	if err != nil {
		d.errs.Add(at, path, err)
		return nil
	}
	return s
}

// ValueType is what the schema declared for topic promises about its
// values; Unknown when the topic has none.
func (p *Config) ValueType(topic string) record.Type {
	if t, ok := p.Topics[topic]; ok && t.Value != nil {
		return t.Value.Type()
	}
	return p.types[topic]
}

// SetValueType types a topic that has no schema file, from a schema found
// elsewhere (a registry's latest version, for runner check --registry).
func (p *Config) SetValueType(topic string, t record.Type) {
	if p.types == nil {
		p.types = map[string]record.Type{}
	}
	p.types[topic] = t
}

// HasValueType reports whether topic has a type from a schema file or
// SetValueType.
func (p *Config) HasValueType(topic string) bool {
	_, ok := p.types[topic]
	return ok || p.Topics[topic].Value != nil
}

// TopicFormat is the format of topic's values as stage s sees it: the
// topic's declared format, else the stage's.
func (p *Config) TopicFormat(topic string, s *Stage) Format {
	if t, ok := p.Topics[topic]; ok && t.Format != "" {
		return t.Format
	}
	if s.Format == "" {
		return FormatJSON
	}
	return s.Format
}

func (p *Config) stages() []*Stage {
	var out []*Stage
	for i := range p.Sources {
		out = append(out, &p.Sources[i].Stage)
	}
	for i := range p.Transforms {
		out = append(out, &p.Transforms[i].Stage)
	}
	for i := range p.Sinks {
		out = append(out, &p.Sinks[i].Stage)
	}
	return out
}

// checkRegistry reports formats that need a registry the file lacks.
func (p *Config) checkRegistry(d *decoder) {
	if p.SchemaRegistry.URL != "" || p.Positions["schema_registry"] != (Pos{}) {
		return
	}
	for name, t := range p.Topics {
		for _, f := range []struct {
			key    string
			format Format
		}{{"format", t.Format}, {"key_format", t.KeyFormat}} {
			if f.format.Registered() {
				path := "topics." + name + "." + f.key
				d.errs.Add(p.Positions.Of(path, t.Pos), path, fmt.Errorf("format %s needs schema_registry: {url: ...} at the top of the file (mock:// for an in-process registry)", f.format))
			}
		}
	}
	for _, s := range p.stages() {
		if s.Format.Registered() {
			path := s.Path + ".format"
			d.errs.Add(p.Positions.Of(path, s.Pos), path, fmt.Errorf("format %s needs schema_registry: {url: ...} at the top of the file (mock:// for an in-process registry)", s.Format))
		}
	}
}

// SourceType is what source's records hold, as found out before compiling
// (runner check --connect asks a SQL source's database); Unknown when
// nobody did.
func (p *Config) SourceType(source string) record.Type {
	return p.sourceTypes[source]
}

// SetSourceType records what source's records hold.
func (p *Config) SetSourceType(source string, t record.Type) {
	if p.sourceTypes == nil {
		p.sourceTypes = map[string]record.Type{}
	}
	p.sourceTypes[source] = t
}

// FormatOf is the format of topic's values as the pipeline writes and
// reads it: the topic's declared format, else the format of the first
// stage that writes or reads it, else json.
func (p *Config) FormatOf(topic string) Format {
	if t, ok := p.Topics[topic]; ok && t.Format != "" {
		return t.Format
	}
	for i := range p.Sources {
		if s := &p.Sources[i]; s.To == topic && s.Format != "" {
			return s.Format
		}
	}
	for i := range p.Transforms {
		if t := &p.Transforms[i]; (t.To == topic || slices.Contains(t.From, topic)) && t.Format != "" {
			return t.Format
		}
	}
	for i := range p.Sinks {
		if s := &p.Sinks[i]; slices.Contains(s.From, topic) && s.Format != "" {
			return s.Format
		}
	}
	return FormatJSON
}
