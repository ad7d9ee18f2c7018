package record

import (
	"sort"
	"strings"
)

// Kind is the shape of a value as decoders yield it at run time.
type Kind uint8

// The kinds, each with the Go type a decoder yields for it.
const (
	Unknown Kind = iota // anything: no schema says
	Null                // nil
	Bool                // bool
	Int                 // int64 (Avro int and long, JSON integers, SQL integers)
	Float               // float64 (Avro float and double, decimals)
	Text                // string
	Binary              // []byte
	Time                // time.Time (Avro timestamps and dates)
	List                // []any, elements of Elem
	Map                 // map[string]any, values of Elem, keys free
	Object              // map[string]any with the fields Fields
)

var kindNames = [...]string{"any", "null", "bool", "int", "float", "string", "bytes", "timestamp", "list", "map", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// Type describes values for offline checks: what a schema promises about a
// topic's records, and what each step makes of them. The zero Type is
// Unknown, which checks nothing.
type Type struct {
	Kind     Kind
	Nullable bool    // nil is also a valid value
	Elem     *Type   // List and Map
	Fields   []Field // Object, in schema order
	// Open objects may hold fields beyond Fields (a JSON Schema without
	// additionalProperties: false): unknown names are not errors there.
	Open bool
}

// Field is one named field of an Object.
type Field struct {
	Name string
	Type Type
	Doc  string
}

// Field returns the field named name, and whether there is one.
func (t Type) Field(name string) (Type, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f.Type, true
		}
	}
	return Type{}, false
}

// Names returns the field names, sorted, for messages.
func (t Type) Names() []string {
	names := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

// String renders the type compactly: {id: int, name: string?}.
func (t Type) String() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t Type) write(b *strings.Builder) {
	switch t.Kind {
	case List:
		b.WriteString("[")
		elem(t.Elem).write(b)
		b.WriteString("]")
	case Map:
		b.WriteString("map[")
		elem(t.Elem).write(b)
		b.WriteString("]")
	case Object:
		b.WriteString("{")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name)
			b.WriteString(": ")
			f.Type.write(b)
		}
		if t.Open {
			if len(t.Fields) > 0 {
				b.WriteString(", ")
			}
			b.WriteString("...")
		}
		b.WriteString("}")
	default:
		b.WriteString(t.Kind.String())
	}
	if t.Nullable && t.Kind != Null && t.Kind != Unknown {
		b.WriteString("?")
	}
}

func elem(t *Type) Type {
	if t == nil {
		return Type{}
	}
	return *t
}
