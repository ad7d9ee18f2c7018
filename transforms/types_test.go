package transforms

import (
	"reflect"
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

func typeOf(k record.Kind) record.Type { return record.Type{Kind: k} }

func listType(t record.Type) record.Type { return record.Type{Kind: record.List, Elem: &t} }

func objectType(fields ...record.Field) record.Type {
	return record.Type{Kind: record.Object, Fields: fields}
}

func fieldOf(name string, t record.Type) record.Field { return record.Field{Name: name, Type: t} }

// orderType is what a schema could say of typedOrder's values.
func orderType() record.Type {
	return objectType(
		fieldOf("order_id", typeOf(record.Text)),
		fieldOf("points", typeOf(record.Int)),
		fieldOf("price", typeOf(record.Float)),
		fieldOf("note", record.Type{Kind: record.Text, Nullable: true}),
		fieldOf("tags", listType(typeOf(record.Text))),
		fieldOf("items", listType(objectType(fieldOf("sku", typeOf(record.Text)), fieldOf("qty", typeOf(record.Int))))),
	)
}

// typedOrder is a record of orderType as a decoder yields it.
func typedOrder() *record.Record {
	return &record.Record{
		Key: []byte("o1"),
		Value: map[string]any{
			"order_id": "A1", "points": int64(3), "price": 2.5, "note": nil,
			"tags":  []any{"x", "y"},
			"items": []any{map[string]any{"sku": "s1", "qty": int64(1)}, map[string]any{"sku": "s2", "qty": int64(4)}},
		},
		Topic: "orders",
	}
}

func TestChainTypeFlow(t *testing.T) {
	tests := []struct {
		name  string
		steps []pipeline.Step
		want  string
	}{
		{"no steps", nil,
			"{order_id: string, points: int, price: float, note: string?, tags: [string], items: [{sku: string, qty: int}]}"},
		{"filter, assert, key, headers and to leave the type",
			[]pipeline.Step{filter("points > 0"), assert("price > 0", ""), key("order_id"), headers("h", "order_id"), to("'out'")},
			"{order_id: string, points: int, price: float, note: string?, tags: [string], items: [{sku: string, qty: int}]}"},
		{"set adds and replaces; later fields see earlier ones",
			[]pipeline.Step{set("total", "points * price", "points", "points > 1", "big", "total > 10 && points")},
			"{order_id: string, points: bool, price: float, note: string?, tags: [string], items: [{sku: string, qty: int}], total: float, big: bool}"},
		{"set of an unknown result",
			[]pipeline.Step{set("j", "fromJSON(order_id)")},
			"{order_id: string, points: int, price: float, note: string?, tags: [string], items: [{sku: string, qty: int}], j: any}"},
		{"map to an object literal",
			[]pipeline.Step{mapTo("{id: order_id, n: points + 1, first: items[0]}")},
			"{id: string, n: int, first: {qty: int, sku: string}}"},
		{"map to a scalar", []pipeline.Step{mapTo("upper(order_id)")}, "string"},
		{"map to something unknown", []pipeline.Step{mapTo("fromJSON(order_id)")}, "any"},
		{"drop", []pipeline.Step{drop("points", "tags")},
			"{order_id: string, price: float, note: string?, items: [{sku: string, qty: int}]}"},
		{"keep, in the value's order", []pipeline.Step{keep("price", "order_id")}, "{order_id: string, price: float}"},
		{"rename, onto an existing field too", []pipeline.Step{rename("points", "score", "note", "price")},
			"{order_id: string, price: string?, tags: [string], items: [{sku: string, qty: int}], score: int}"},
		{"explode adds the element", []pipeline.Step{explode("items", "item"), keep("order_id", "item")},
			"{order_id: string, item: {sku: string, qty: int}}"},
		{"explode of a computed list", []pipeline.Step{explode("map(items, .qty)", "qty"), keep("qty")}, "{qty: int}"},
		{"explode of an unknown list", []pipeline.Step{explode("fromJSON(order_id)", "e"), keep("e")}, "{e: any}"},
		{"steps after an unknown map check nothing",
			[]pipeline.Step{mapTo("fromJSON(order_id)"), filter("pionts > 0"), set("x", "nope.deep")}, "any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(tt.steps, expression.Options{}, InputType(orderType()))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.OutputType().String(); got != tt.want {
				t.Errorf("output type\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestChainTypeErrors(t *testing.T) {
	tests := []struct {
		name  string
		steps []pipeline.Step
		want  string
	}{
		{"misspelt field", []pipeline.Step{filter("pionts > 0")},
			`unknown field "pionts" (did you mean "points"?)`},
		{"type mismatch", []pipeline.Step{filter("order_id > 5")},
			`invalid operation: > (mismatched types string and int)`},
		{"a set field misspelt later", []pipeline.Step{set("total", "points * price"), filter("totl > 1")},
			`unknown field "totl" (did you mean "total"?)`},
		{"a set field's type", []pipeline.Step{set("total", "points * price"), filter("total == 'x'")},
			`invalid operation: == (mismatched types float and string)`},
		{"a dropped field", []pipeline.Step{drop("points"), filter("points > 0")},
			`unknown field "points"`},
		{"drop of an unknown field", []pipeline.Step{drop("pionts")},
			`.drop: unknown field "pionts" (did you mean "points"?)`},
		{"keep of an unknown field", []pipeline.Step{keep("order_id", "prise")},
			`.keep: unknown field "prise" (did you mean "price"?)`},
		{"a field keep removed", []pipeline.Step{keep("order_id"), set("x", "price * 2")},
			`unknown field "price" (fields: order_id)`},
		{"rename of an unknown field", []pipeline.Step{rename("pionts", "score")},
			`.rename.pionts: unknown field "pionts" (did you mean "points"?)`},
		{"a renamed field's old name", []pipeline.Step{rename("points", "score"), filter("points > 1")},
			`unknown field "points"`},
		{"a field the map left out", []pipeline.Step{mapTo("{id: order_id}"), key("order_id")},
			`unknown field "order_id" (fields: id)`},
		{"a misspelt field of an exploded element", []pipeline.Step{explode("items", "item"), filter("item.qtty > 1")},
			`unknown field "qtty" in item (did you mean "qty"?)`},
		{"explode of a misspelt list", []pipeline.Step{explode("itmes", "item")},
			`unknown field "itmes" (did you mean "items"?)`},
		{"headers", []pipeline.Step{headers("h", "ordr_id")},
			`unknown field "ordr_id" (did you mean "order_id"?)`},
		{"the second of two errors", []pipeline.Step{filter("points > 0"), key("prise")},
			`unknown field "prise" (did you mean "price"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.steps, expression.Options{}, InputType(orderType()))
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n got: %v\nwant it to contain: %s", err, tt.want)
			}
		})
	}
}

// Without a type, or with one that is not an object, the same steps
// compile as they always did.
func TestChainWithoutTypeChecksAsBefore(t *testing.T) {
	steps := []pipeline.Step{filter("pionts > 0"), drop("pionts"), keep("order_id", "prise"), rename("pionts", "score"), set("x", "nope.deep")}
	for _, options := range [][]Option{nil, {InputType(record.Type{})}, {InputType(typeOf(record.Text))}} {
		c, err := Compile(steps, expression.Options{}, options...)
		if err != nil {
			t.Fatalf("%d options: %v", len(options), err)
		}
		if got := c.OutputType(); got.Kind != record.Unknown && got.Kind != record.Text {
			t.Errorf("output type %s, want the input's", got)
		}
	}
}

// An open object may hold fields its schema does not name: drop, keep and
// rename of those are not errors, and keep closes the object.
func TestChainOpenObject(t *testing.T) {
	in := orderType()
	in.Open = true
	c, err := Compile([]pipeline.Step{filter("whatever != nil"), drop("extra"), rename("other", "renamed"), keep("order_id", "renamed", "more")}, expression.Options{}, InputType(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.OutputType().String(), "{order_id: string, renamed: any, more: any}"; got != want {
		t.Errorf("output type %s, want %s", got, want)
	}
}

// A typed chain gives what the untyped one gives, on values as decoders
// yield them.
func TestTypedChainRuns(t *testing.T) {
	steps := []pipeline.Step{
		filter("points > 2 && note == nil && order_id == 'A1'"),
		set("total", "points * price", "label", "note ?? order_id"),
		explode("items", "item"),
		filter("item.qty in [1, 4] && item.sku != 'none'"),
		set("n", "item.qty + points"),
		drop("items", "tags"),
		rename("order_id", "id"),
		key("id + '-' + item.sku"),
	}
	run := func(options ...Option) []result {
		c, err := Compile(steps, expression.Options{}, options...)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.NewWorker().Apply(typedOrder(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []result
		for _, r := range out {
			got = append(got, result{Value: r.Value, Key: r.Key})
		}
		return got
	}
	typed, untyped := run(InputType(orderType())), run()
	if len(typed) != 2 {
		t.Fatalf("%d records out, want 2: %v", len(typed), typed)
	}
	if !reflect.DeepEqual(typed, untyped) {
		t.Errorf("typed chain gave\n%v\nuntyped\n%v", typed, untyped)
	}
}

func TestTopicsType(t *testing.T) {
	documented := orderType()
	documented.Fields[0].Doc = "the order's id"
	nullable := orderType()
	nullable.Fields[1].Type.Nullable = true
	nested := orderType()
	nested.Fields[5].Type.Elem.Fields[1].Type.Kind = record.Float
	types := map[string]record.Type{"a": orderType(), "b": documented, "c": typeOf(record.Text), "d": nullable, "e": nested}
	typeOf := func(topic string) record.Type { return types[topic] }
	for _, tt := range []struct {
		topics []string
		want   string
	}{
		{nil, "any"},
		{[]string{"a"}, orderType().String()},
		{[]string{"a", "b"}, orderType().String()},
		{[]string{"a", "c"}, "any"},
		{[]string{"a", "none"}, "any"},
		{[]string{"a", "d"}, "any"},
		{[]string{"a", "e"}, "any"},
		{[]string{"a", "a", "b"}, orderType().String()},
	} {
		if got := TopicsType(tt.topics, typeOf).String(); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.topics, got, tt.want)
		}
	}
}

func TestOptionTypes(t *testing.T) {
	in, topic := OptionTypes(InternalTopics(nil))
	if in.Kind != record.Unknown || topic("x").Kind != record.Unknown {
		t.Errorf("no type options: %s, %s", in, topic("x"))
	}
	in, topic = OptionTypes(InputType(orderType()), TopicTypes(func(string) record.Type { return typeOf(record.Int) }), InputType(typeOf(record.Text)))
	if in.Kind != record.Text || topic("x").Kind != record.Int {
		t.Errorf("got %s, %s; want the last input type and the topic's", in, topic("x"))
	}
}
