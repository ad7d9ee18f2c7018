package pipeline

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Key describes one key of a block decoded from a struct (a connector's
// options), from the struct's tags: yaml (the key), conf:"required",
// default, defaultdoc (a default worked out in code, described), enum
// (allowed values, comma-separated; enumof names them in errors, "value"
// unless set), doc and example.
type Key struct {
	Key      string
	Type     string // as a user reads it: string, integer, duration, list of string, ...
	Required bool
	Default  string
	// DefaultDoc describes a default the connector works out itself
	// (from other options), for docs.
	DefaultDoc string
	Enum       []string
	Doc        string
	Example    string
	// GoType is the field's type, for generators (the JSON Schema).
	GoType reflect.Type
}

// Keys describes the keys of struct type t, in field order, and checks
// that every default decodes into its field and is one of the enum.
func Keys(t reflect.Type) ([]Key, error) {
	var out []Key
	for _, f := range fieldsOf(t).fields {
		sf := t.FieldByIndex(f.index)
		o := Key{Key: f.name, Type: TypeName(sf.Type), Required: f.required, Default: f.def, Enum: f.enum,
			DefaultDoc: sf.Tag.Get("defaultdoc"), Doc: sf.Tag.Get("doc"), Example: sf.Tag.Get("example"), GoType: sf.Type}
		if o.Doc == "" {
			return nil, fmt.Errorf("option %s has no doc", f.name)
		}
		if f.def != "" {
			if err := decodeDefault(f.def, reflect.New(sf.Type).Elem()); err != nil {
				return nil, fmt.Errorf("option %s: default %q: %w", f.name, f.def, err)
			}
			if len(f.enum) > 0 && !contains(f.enum, f.def) {
				return nil, fmt.Errorf("option %s: default %q is not one of its values", f.name, f.def)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// decodeDefault decodes a default written as YAML into v.
func decodeDefault(def string, v reflect.Value) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(def), &doc); err != nil {
		return err
	}
	d := &decoder{}
	d.decode(doc.Content[0], "", v)
	return d.errs.Err()
}

// TypeName is how a value of type t is called in docs and errors.
func TypeName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "duration"
	case reflect.TypeFor[Rate]():
		return "rate"
	case reflect.TypeFor[Size]():
		return "size"
	case reflect.TypeFor[Expr]():
		return "expression"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return TypeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of " + TypeName(t.Elem())
	case reflect.Map:
		return "map of " + TypeName(t.Elem())
	}
	return strings.ToLower(t.Name())
}

// orList joins values as "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
