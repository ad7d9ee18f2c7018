package transforms

import (
	"errors"
	"slices"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// The steps' effect on the type of the values they pass on. Only objects
// are reshaped: any other type (Unknown above all) passes as it is, so
// that after it later steps check nothing new.

// WithField is t with field name set to a value of type ft: replaced in
// place when t has it, else added last. Types other than Object are
// returned as they are.
func WithField(t record.Type, name string, ft record.Type) record.Type {
	if t.Kind != record.Object {
		return t
	}
	fields := slices.Clone(t.Fields)
	if i := slices.IndexFunc(fields, func(f record.Field) bool { return f.Name == name }); i >= 0 {
		fields[i] = record.Field{Name: name, Type: ft}
	} else {
		fields = append(fields, record.Field{Name: name, Type: ft})
	}
	t.Fields = fields
	return t
}

// withoutFields is t without the fields drop says.
func withoutFields(t record.Type, drop func(name string) bool) record.Type {
	if t.Kind != record.Object {
		return t
	}
	t.Fields = slices.DeleteFunc(slices.Clone(t.Fields), func(f record.Field) bool { return drop(f.Name) })
	return t
}

// kept is t after keep: names, in t's order. An open object's unlisted
// fields are gone too, so the result is closed; a kept name it does not
// list may be there, of any type.
func kept(t record.Type, names []string) record.Type {
	if t.Kind != record.Object {
		return t
	}
	open := t.Open
	t = withoutFields(t, func(name string) bool { return !slices.Contains(names, name) })
	if open {
		for _, n := range names {
			if _, ok := t.Field(n); !ok && n != "" {
				t.Fields = append(t.Fields, record.Field{Name: n})
			}
		}
		t.Open = false
	}
	return t
}

// renamed is t after one rename, from to to; renaming a field a closed
// object lacks is an error. An open object may have it: to becomes a
// field of any type.
func renamed(t record.Type, from, to string) (record.Type, error) {
	if t.Kind != record.Object || from == to {
		return t, nil
	}
	ft, ok := t.Field(from)
	if !ok && !t.Open {
		return t, errors.New(expression.UnknownField(from, t.Names()))
	}
	t = withoutFields(t, func(name string) bool { return name == from })
	return WithField(t, to, ft), nil
}

// resultType is what p yields; Unknown for a program that did not compile.
func resultType(p *expression.Program) record.Type {
	if p == nil {
		return record.Type{}
	}
	return p.Type()
}

// sameType reports whether a and b describe the same values: equal but for
// the fields' docs.
func sameType(a, b record.Type) bool {
	if a.Kind != b.Kind || a.Nullable != b.Nullable || a.Open != b.Open || len(a.Fields) != len(b.Fields) || (a.Elem == nil) != (b.Elem == nil) {
		return false
	}
	if a.Elem != nil && !sameType(*a.Elem, *b.Elem) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || !sameType(a.Fields[i].Type, b.Fields[i].Type) {
			return false
		}
	}
	return true
}
