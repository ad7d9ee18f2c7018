package transforms

import (
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// asValue makes a map step's result a record value: objects of other map
// types become map[string]any so later steps can edit them.
func asValue(v any, clone bool) (any, error) {
	if obj, ok := v.(map[string]any); ok {
		if clone {
			return maps.Clone(obj), nil
		}
		return obj, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return v, nil
	}
	if rv.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("map result has keys of type %s, want string keys", rv.Type().Key())
	}
	obj := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		obj[it.Key().String()] = it.Value().Interface()
	}
	return obj, nil
}

// toBytes formats a key or header value; nil stays nil (a null key).
func toBytes(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return expression.TextBytes(v)
}

// topic checks a to step's result is a name Kafka accepts and not an
// internal topic.
func topic(v any, internal map[string]string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("to needs a topic name, got %s", expression.TypeName(v))
	}
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return "", fmt.Errorf("invalid topic name %q: want 1 to 249 characters other than \".\" and \"..\"", s)
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", fmt.Errorf("invalid topic name %q: only letters, digits, '.', '_' and '-' are allowed", s)
		}
	}
	return s, InternalTopic(s, internal)
}

// InternalTopic refuses a topic that belongs to Kafka, its platform or the
// runner (internal names it, with what it is): records written there would
// corrupt consumer offsets, cursors, changelogs or dead letters.
func InternalTopic(name string, internal map[string]string) error {
	if what, ok := internal[name]; ok {
		return fmt.Errorf("%q is %s: records may not be written to the runner's internal topics", name, what)
	}
	if strings.HasPrefix(name, "_") {
		return fmt.Errorf("%q is an internal topic (names starting with \"_\" are Kafka's and its platform's, as __consumer_offsets and _schemas): records may not be written to it", name)
	}
	return nil
}
