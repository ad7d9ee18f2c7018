package pipeline

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// SchemaID is where the JSON Schema of pipeline files is published in the
// repository; example files point their editors at it.
const SchemaID = "https://github.com/conveyor-dev/conveyor/schemas/pipeline.schema.json"

// ConnectorSchema is what the JSON Schema says of one connector: its key,
// what it does and its options (from the connector's spec).
type ConnectorSchema struct {
	Name string
	Doc  string
	Keys []Key
}

// Schema is the JSON Schema (draft 2020-12) of a pipeline file with the
// given connectors, for editors (YAML language servers complete keys and
// flag mistakes while typing) and CI. It follows the decoder: what the
// schema accepts, Load decodes; Load checks more (expressions, topics,
// cross-references), which no schema can.
func Schema(sources, sinks []ConnectorSchema) ([]byte, error) {
	g := schemaGen{defs: map[string]any{}}
	g.defs["var"] = map[string]any{"type": "string", "pattern": `\$\{`, "description": "a ${VAR} or ${VAR:-default} reference, expanded when the file loads"}
	g.defs["expression"] = map[string]any{"type": []string{"string", "number", "boolean"}, "description": "an expr-lang expression over the record"}
	g.defs["duration"] = map[string]any{"type": "string", "description": "a duration such as 500ms, 5s or 1m30s"}
	g.defs["rate"] = map[string]any{"type": "string", "description": "records per time unit: 50/s, 3000/m or 10/100ms"}
	g.defs["size"] = map[string]any{"type": []string{"string", "integer"}, "description": "a size in bytes, such as 1048576 or 1MiB"}
	g.defs["topics"] = map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}, "description": "a topic name or a list of them"}
	g.defs["on_error"] = map[string]any{"oneOf": []any{
		map[string]any{"enum": []string{string(Fail), string(Drop)}},
		g.object(map[string]any{"dead_letter": map[string]any{"type": "string"}}, "dead_letter"),
		ref("var"),
	}, "description": "fail, drop, or {dead_letter: TOPIC}"}
	g.defs["step"] = g.steps()

	stage := g.structProps(reflect.TypeFor[Stage]())
	consumer := g.structProps(reflect.TypeFor[Consumer]())
	source := merge(stage, g.structProps(reflect.TypeFor[Source]()))
	transform := merge(stage, consumer, g.structProps(reflect.TypeFor[Transform]()))
	sink := merge(stage, consumer, g.structProps(reflect.TypeFor[Sink]()))
	g.defs["source"] = g.withConnectors(source, []string{"to"}, sources)
	g.defs["transform"] = g.object(transform, "from", "to")
	g.defs["sink"] = g.withConnectors(sink, []string{"from"}, sinks)

	top := g.structProps(reflect.TypeFor[Config]())
	top["sources"] = map[string]any{"type": "object", "additionalProperties": ref("source")}
	top["transforms"] = map[string]any{"type": "object", "additionalProperties": ref("transform")}
	top["sinks"] = map[string]any{"type": "object", "additionalProperties": ref("sink")}
	root := g.object(top, "pipeline")
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "conveyor pipeline file"
	root["$defs"] = g.defs
	if g.err != nil {
		return nil, g.err
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type schemaGen struct {
	defs map[string]any
	err  error
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

// object is a closed object schema: unknown keys are errors, as in Load.
func (g *schemaGen) object(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func merge(parts ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, p := range parts {
		for k, v := range p {
			out[k] = v
		}
	}
	return out
}

// withConnectors is a stage with exactly one connector key.
func (g *schemaGen) withConnectors(props map[string]any, required []string, conns []ConnectorSchema) map[string]any {
	var one []any
	for _, c := range conns {
		props[c.Name] = g.connector(c)
		one = append(one, map[string]any{"required": []string{c.Name}})
	}
	o := g.object(props, required...)
	o["oneOf"] = one
	return o
}

func (g *schemaGen) connector(c ConnectorSchema) map[string]any {
	props := map[string]any{}
	var required []string
	for _, k := range c.Keys {
		s := g.value(k.GoType)
		if len(k.Enum) > 0 {
			s = map[string]any{"anyOf": []any{map[string]any{"enum": k.Enum}, ref("var")}}
		}
		s["description"] = k.Doc
		if k.Default != "" {
			s["default"] = k.Default
		}
		props[k.Key] = s
		if k.Required {
			required = append(required, k.Key)
		}
	}
	o := g.object(props, required...)
	o["description"] = c.Doc
	return o
}

// structProps are the schemas of the keys of a struct decoded by Load.
func (g *schemaGen) structProps(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range fieldsOf(t).fields {
		sf := t.FieldByIndex(f.index)
		props[f.name] = g.value(sf.Type)
	}
	return props
}

// value is the schema of a value of type t, as the decoder reads it.
func (g *schemaGen) value(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[Expr]():
		return ref("expression")
	case reflect.TypeFor[Duration]():
		return ref("duration")
	case reflect.TypeFor[Rate]():
		return ref("rate")
	case reflect.TypeFor[Size]():
		return ref("size")
	case reflect.TypeFor[Topics]():
		return ref("topics")
	case reflect.TypeFor[OnError]():
		return ref("on_error")
	case reflect.TypeFor[Step]():
		return ref("step")
	case reflect.TypeFor[Delivery]():
		return enum(AtLeastOnce, ExactlyOnce)
	case reflect.TypeFor[Start]():
		return enum(Earliest, Latest)
	case reflect.TypeFor[Format]():
		return enum[Format](FormatJSON, FormatString, FormatBytes, FormatAvro, FormatJSONSchema, FormatProtobuf)
	case reflect.TypeFor[ListenAddr]():
		return map[string]any{"type": "string", "description": "host:port"}
	case reflect.TypeFor[TopicDecls]():
		return map[string]any{"type": "object", "additionalProperties": g.value(reflect.TypeFor[Topic]())}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.value(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, ref("var")}}
	case reflect.Float64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "number"}, ref("var")}}
	case reflect.Bool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, ref("var")}}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.value(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.value(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := g.structProps(t)
		var required []string
		for _, f := range fieldsOf(t).fields {
			if f.required {
				required = append(required, f.name)
			}
		}
		return g.object(props, required...)
	}
	if g.err == nil {
		g.err = fmt.Errorf("pipeline schema: no schema for %s", t)
	}
	return map[string]any{}
}

func enum[T ~string](values ...T) map[string]any {
	words := make([]string, len(values))
	for i, v := range values {
		words[i] = string(v)
	}
	return map[string]any{"anyOf": []any{map[string]any{"enum": words}, ref("var")}}
}

// steps is the schema of one entry of a steps list: a mapping with exactly
// one key, the step's kind, shaped as Step.decodeNode reads it.
func (g *schemaGen) steps() map[string]any {
	expr := ref("expression")
	fields := map[string]any{"type": "object", "minProperties": 1, "additionalProperties": expr}
	names := map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}
	joinType := func(types ...JoinType) map[string]any { return enum(types...) }
	aggregation := map[string]any{"oneOf": []any{
		map[string]any{"const": "count"},
		func() map[string]any {
			props := map[string]any{"where": expr}
			for _, f := range AggregationFuncs {
				props[f] = expr
			}
			o := g.object(props)
			o["minProperties"] = 1
			return o
		}(),
	}}
	window := g.value(reflect.TypeFor[Window]())
	body := map[string]any{
		"filter":  expr,
		"map":     expr,
		"key":     expr,
		"to":      expr,
		"set":     fields,
		"headers": fields,
		"drop":    names,
		"keep":    names,
		"rename":  map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
		"assert":  map[string]any{"oneOf": []any{expr, g.object(map[string]any{"expr": expr, "message": map[string]any{"type": "string"}}, "expr")}},
		"explode": map[string]any{"oneOf": []any{map[string]any{"type": "string"},
			g.object(map[string]any{"expr": expr, "as": map[string]any{"type": "string"}}, "expr", "as")}},
		"join":       g.object(merge(g.structProps(reflect.TypeFor[Join]()), map[string]any{"type": joinType(Inner, Left)}), "table", "as"),
		"join_table": g.object(merge(g.structProps(reflect.TypeFor[JoinTable]()), map[string]any{"type": joinType(Inner, Left, Outer)}), "with", "as"),
		"aggregate": g.object(map[string]any{
			"by":     expr,
			"values": map[string]any{"type": "object", "minProperties": 1, "additionalProperties": aggregation},
			"window": window,
			"emit":   enum(EmitChanges, EmitFinal),
		}, "values"),
	}
	var kinds []any
	for _, k := range StepKinds {
		b, ok := body[k]
		if !ok && g.err == nil {
			g.err = fmt.Errorf("pipeline schema: no schema for the step %q", k)
		}
		kinds = append(kinds, g.object(map[string]any{k: b}, k))
	}
	return map[string]any{"oneOf": kinds, "description": "one step: " + strings.Join(StepKinds, ", ")}
}
