package serde

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/conveyor-dev/conveyor/record"
)

// jsonSchemaURL is where the compiler files the schema: a scheme of its
// own, so a relative $ref never reaches the file system.
const jsonSchemaURL = "mem:///schema.json"

// jsonSchema is a compiled JSON Schema. Payloads are plain JSON documents.
type jsonSchema struct {
	text    string // the schema, compacted
	schema  *jsonschema.Schema
	typ     record.Type
	printer *message.Printer // renders validation messages
}

func parseJSONSchema(text string) (payloadSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(text)); err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	// No loader: a $ref to another document (a file, a URL, a registry
	// reference) fails here rather than reading whatever it names.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource(jsonSchemaURL, doc); err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	sch, err := c.Compile(jsonSchemaURL)
	if err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	root, err := orderedJSON(text)
	if err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	tb := typeBuilder{root: root, inProgress: map[string]bool{}}
	return &jsonSchema{
		text:    compact.String(),
		schema:  sch,
		typ:     tb.typeOf(root),
		printer: message.NewPrinter(language.English),
	}, nil
}

func (s *jsonSchema) Format() Format    { return JSONSchema }
func (s *jsonSchema) Text() string      { return s.text }
func (s *jsonSchema) Type() record.Type { return s.typ }

// decode reads the document without validating it: the writer validated
// it against the same schema id, and validation costs several times the
// decoding.
func (s *jsonSchema) decode(payload []byte) (any, error) {
	v, err := record.DecodeJSON(payload)
	if err != nil {
		return nil, &RecordError{Err: err}
	}
	return v, nil
}

// encode validates v as it will be written, then writes it as JSON.
func (s *jsonSchema) encode(v any) ([]byte, error) {
	jv, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	if err := s.schema.Validate(jv); err != nil {
		return nil, s.validationError(err, jv)
	}
	if v == nil {
		// record.JSON writes nil as a tombstone; the codec takes nil
		// before it gets here, so a null here is a JSON null.
		return []byte("null"), nil
	}
	b, err := record.JSON.Encode(v)
	if err != nil {
		return nil, &RecordError{Err: fmt.Errorf("encode json: %w", err)}
	}
	return b, nil
}

// jsonValue returns v as the validator must see it: as it reads once
// written. The validator knows JSON's values only, so time.Time becomes
// its RFC 3339 text and []byte its base64, as the JSON encoder writes
// them; a value of any other Go type becomes its JSON reading. Maps and
// lists are copied only when something inside them changes.
func jsonValue(v any) (any, error) {
	out, _, err := jsonConvert(v)
	return out, err
}

func jsonConvert(v any) (_ any, changed bool, err error) {
	switch t := v.(type) {
	case nil, bool, string, int64, json.Number, int, int32:
		return v, false, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, false, &RecordError{Err: fmt.Errorf("%v has no JSON form", t)}
		}
		return v, false, nil
	case time.Time:
		// What time.Time.MarshalJSON writes, and refuses to.
		if y := t.Year(); y < 0 || y > 9999 {
			return nil, false, &RecordError{Err: fmt.Errorf("time %s has no RFC 3339 form (years 0 to 9999)", t)}
		}
		return t.Format(time.RFC3339Nano), true, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(t), true, nil
	case map[string]any:
		var cp map[string]any
		for k, e := range t {
			x, ch, err := jsonConvert(e)
			if err != nil {
				return nil, false, withStep(err, jsonKeyPath(k))
			}
			if ch {
				if cp == nil {
					cp = make(map[string]any, len(t))
					for k2, e2 := range t {
						cp[k2] = e2
					}
				}
				cp[k] = x
			}
		}
		if cp != nil {
			return cp, true, nil
		}
		return v, false, nil
	case []any:
		var cp []any
		for i, e := range t {
			x, ch, err := jsonConvert(e)
			if err != nil {
				return nil, false, withStep(err, "["+strconv.Itoa(i)+"]")
			}
			if ch {
				if cp == nil {
					cp = slices.Clone(t)
				}
				cp[i] = x
			}
		}
		if cp != nil {
			return cp, true, nil
		}
		return v, false, nil
	}
	b, err := record.JSON.Encode(v)
	if err != nil {
		return nil, false, &RecordError{Err: fmt.Errorf("encode json: %w", err)}
	}
	x, err := record.DecodeJSON(b)
	if err != nil {
		return nil, false, &RecordError{Err: err}
	}
	return x, true, nil
}

// jsonKeyPath is a key's step in a field path.
func jsonKeyPath(k string) string { return "." + k }

// prefixField puts step in front of a *RecordError's field path; step is
// ".name" or "[i]".
func withStep(err error, step string) error {
	var re *RecordError
	if !errors.As(err, &re) {
		return err
	}
	out := *re
	switch {
	case out.Field == "":
		out.Field = step
	case strings.HasPrefix(out.Field, "["):
		out.Field = step + out.Field
	default:
		out.Field = step + "." + out.Field
	}
	out.Field = strings.TrimPrefix(out.Field, ".")
	return &out
}

// validationError turns the validator's error tree into one RecordError:
// the first of its leaves by instance location (the validator walks
// properties in map order, so its own order changes from run to run), with
// a count of the other problems. A leaf under a oneOf or anyOf is one
// alternative that failed, and is reported as such.
func (s *jsonSchema) validationError(err error, v any) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &RecordError{Err: fmt.Errorf("validate: %w", err)}
	}
	type leaf struct {
		err   *jsonschema.ValidationError
		union *jsonschema.ValidationError // the innermost oneOf or anyOf above, if any
	}
	var leaves []leaf
	var walk func(e, union *jsonschema.ValidationError)
	walk = func(e, union *jsonschema.ValidationError) {
		switch e.ErrorKind.(type) {
		case *kind.OneOf, *kind.AnyOf:
			union = e
		}
		if len(e.Causes) == 0 {
			leaves = append(leaves, leaf{e, union})
		}
		for _, c := range e.Causes {
			walk(c, union)
		}
	}
	walk(ve, nil)
	slices.SortStableFunc(leaves, func(a, b leaf) int {
		if c := slices.Compare(a.err.InstanceLocation, b.err.InstanceLocation); c != 0 {
			return c
		}
		return slices.Compare(a.err.ErrorKind.KeywordPath(), b.err.ErrorKind.KeywordPath())
	})
	first := leaves[0]
	field := fieldPath(v, first.err.InstanceLocation)
	var msg string
	switch k := first.err.ErrorKind.(type) {
	case *kind.Required:
		if len(k.Missing) == 1 {
			field = joinField(field, k.Missing[0])
			msg = "required by the schema but missing"
		}
	case *kind.AdditionalProperties:
		if len(k.Properties) == 1 {
			field = joinField(field, k.Properties[0])
			msg = "not in the schema, which allows no other fields"
		}
	}
	if msg == "" {
		msg = strings.ReplaceAll(first.err.ErrorKind.LocalizedString(s.printer), "\n", " ")
	}
	if first.union != nil && first.union != first.err {
		if uf := fieldPath(v, first.union.InstanceLocation); uf != field {
			msg = "field " + field + ": " + msg
			field = uf
		}
		msg = fmt.Sprintf("matches none of the schema's %s alternatives (the first: %s)", first.union.ErrorKind.KeywordPath()[0], msg)
	}
	others := 0
	for _, l := range leaves[1:] {
		if first.union == nil || l.union != first.union {
			others++
		}
	}
	if others == 1 {
		msg += " (and 1 more problem)"
	} else if others > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", others)
	}
	return &RecordError{Field: field, Err: fmt.Errorf("does not match the json schema: %s", msg)}
}

// fieldPath renders a JSON pointer's tokens as a field path (items[2].qty),
// following v to tell list indexes from field names.
func fieldPath(v any, tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		if l, ok := v.([]any); ok {
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(l) {
				b.WriteString("[" + tok + "]")
				v = l[i]
				continue
			}
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
		if m, ok := v.(map[string]any); ok {
			v = m[tok]
		} else {
			v = nil
		}
	}
	return b.String()
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// object is a JSON object that keeps its keys' order, so Type lists
// fields as the schema file does.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// orderedJSON decodes a document with objects as *object and numbers as
// json.Number.
func orderedJSON(text string) (any, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	return orderedValue(d)
}

func orderedValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := orderedValue(d)
				if err != nil {
					return nil, err
				}
				if _, dup := o.vals[k]; !dup {
					o.keys = append(o.keys, k)
				}
				o.vals[k] = v
			}
			_, err := d.Token() // '}'
			return o, err
		case '[':
			var l []any
			for d.More() {
				v, err := orderedValue(d)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := d.Token() // ']'
			return l, err
		}
	}
	return tok, nil
}

// typeBuilder derives a record.Type from a schema document. inProgress
// holds the local $refs being expanded, so a recursive schema ends in
// Unknown rather than looping.
type typeBuilder struct {
	root       any
	inProgress map[string]bool
}

// typeOf maps one (sub)schema: see docs/schemas.md. Keywords that combine
// schemas (oneOf, anyOf, allOf, not, if) make Unknown, except a oneOf or
// anyOf of null and one other schema, which is that schema, nullable, and
// an allOf of one schema, which is that schema.
func (tb *typeBuilder) typeOf(node any) record.Type {
	o, ok := node.(*object)
	if !ok {
		return record.Type{} // true, false or not a schema
	}
	if ref, ok := o.get("$ref"); ok {
		return tb.refType(ref)
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		if alts, ok := o.get(kw); ok {
			return tb.nullUnion(alts)
		}
	}
	if all, ok := o.get("allOf"); ok {
		if l, ok := all.([]any); ok && len(l) == 1 {
			return tb.typeOf(l[0])
		}
		return record.Type{}
	}
	for _, kw := range []string{"not", "if", "$dynamicRef", "$recursiveRef"} {
		if _, ok := o.get(kw); ok {
			return record.Type{}
		}
	}
	var types []string
	switch t := o.vals["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				types = append(types, s)
			}
		}
	case nil:
		// Fields without a type are an object's in practice; a schema
		// that names neither says nothing.
		if _, ok := o.get("properties"); ok {
			types = []string{"object"}
		}
	}
	nullable := slices.Contains(types, "null")
	types = slices.DeleteFunc(types, func(s string) bool { return s == "null" })
	if len(types) == 2 && slices.Contains(types, "integer") && slices.Contains(types, "number") {
		types = []string{"number"}
	}
	var t record.Type
	switch {
	case len(types) == 0 && nullable:
		return record.Type{Kind: record.Null}
	case len(types) != 1:
		return record.Type{}
	}
	switch types[0] {
	case "integer":
		t.Kind = record.Int
	case "number":
		t.Kind = record.Float
	case "string":
		t.Kind = record.Text
	case "boolean":
		t.Kind = record.Bool
	case "array":
		t = tb.arrayType(o)
	case "object":
		t = tb.objectType(o)
	default:
		return record.Type{}
	}
	t.Nullable = nullable
	return t
}

// refType follows a local $ref (#, #/$defs/x, #/definitions/x, any JSON
// pointer into the document); other references make Unknown.
func (tb *typeBuilder) refType(ref any) record.Type {
	s, ok := ref.(string)
	if !ok || (s != "#" && !strings.HasPrefix(s, "#/")) || tb.inProgress[s] {
		return record.Type{}
	}
	target, ok := pointerGet(tb.root, s[1:])
	if !ok {
		return record.Type{}
	}
	tb.inProgress[s] = true
	defer delete(tb.inProgress, s)
	return tb.typeOf(target)
}

// pointerGet follows a JSON pointer (RFC 6901, URI-fragment form) into an
// ordered document.
func pointerGet(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(unescapeFragment(tok), "~1", "/"), "~0", "~")
		switch t := v.(type) {
		case *object:
			e, ok := t.get(tok)
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// unescapeFragment undoes the percent-encoding a URI fragment may carry.
func unescapeFragment(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (tb *typeBuilder) nullUnion(alts any) record.Type {
	l, ok := alts.([]any)
	if !ok || len(l) != 2 {
		return record.Type{}
	}
	for i, a := range l {
		if isNullSchema(a) {
			t := tb.typeOf(l[1-i])
			if t.Kind != record.Unknown {
				t.Nullable = true
			}
			return t
		}
	}
	return record.Type{}
}

// isNullSchema reports a schema that admits null alone: {"type": "null"}
// (a title or description beside it changes nothing).
func isNullSchema(v any) bool {
	o, ok := v.(*object)
	if !ok {
		return false
	}
	t, _ := o.get("type")
	return t == "null"
}

func (tb *typeBuilder) arrayType(o *object) record.Type {
	t := record.Type{Kind: record.List, Elem: &record.Type{}}
	if _, ok := o.get("prefixItems"); ok {
		return t // a tuple: elements differ
	}
	if items, ok := o.get("items"); ok {
		if _, tuple := items.([]any); !tuple { // draft-07 tuples too
			e := tb.typeOf(items)
			t.Elem = &e
		}
	}
	return t
}

func (tb *typeBuilder) objectType(o *object) record.Type {
	addl, hasAddl := o.get("additionalProperties")
	closed := hasAddl && addl == false
	props, _ := o.vals["properties"].(*object)
	if props == nil && !closed {
		e := record.Type{}
		if hasAddl {
			e = tb.typeOf(addl)
		}
		return record.Type{Kind: record.Map, Elem: &e}
	}
	required := map[string]bool{}
	if l, ok := o.vals["required"].([]any); ok {
		for _, r := range l {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	t := record.Type{Kind: record.Object, Open: !closed}
	if props == nil {
		return t
	}
	for _, name := range props.keys {
		sub := props.vals[name]
		ft := tb.typeOf(sub)
		if !required[name] {
			ft.Nullable = true
		}
		f := record.Field{Name: name, Type: ft}
		if so, ok := sub.(*object); ok {
			f.Doc, _ = so.vals["description"].(string)
		}
		t.Fields = append(t.Fields, f)
	}
	return t
}
