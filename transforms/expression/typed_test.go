package expression

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

func kind(k record.Kind) record.Type { return record.Type{Kind: k} }

func nullable(k record.Kind) record.Type { return record.Type{Kind: k, Nullable: true} }

func listOf(t record.Type) record.Type { return record.Type{Kind: record.List, Elem: &t} }

func object(fields ...record.Field) record.Type {
	return record.Type{Kind: record.Object, Fields: fields}
}

// orderType is what a schema would say of typedOrder's value.
func orderType() record.Type {
	address := object(record.Field{Name: "city", Type: kind(record.Text)}, record.Field{Name: "zip", Type: kind(record.Text)})
	customer := object(record.Field{Name: "name", Type: kind(record.Text)}, record.Field{Name: "address", Type: address})
	customer.Nullable = true
	item := object(record.Field{Name: "sku", Type: kind(record.Text)}, record.Field{Name: "qty", Type: kind(record.Int)})
	text := kind(record.Text)
	extra := object(record.Field{Name: "a", Type: kind(record.Int)})
	extra.Open = true
	return object(
		record.Field{Name: "order_id", Type: kind(record.Text)},
		record.Field{Name: "points", Type: kind(record.Int)},
		record.Field{Name: "price", Type: kind(record.Float)},
		record.Field{Name: "note", Type: nullable(record.Text)},
		record.Field{Name: "bonus", Type: nullable(record.Int)},
		record.Field{Name: "vip", Type: kind(record.Bool)},
		record.Field{Name: "created", Type: kind(record.Time)},
		record.Field{Name: "blob", Type: kind(record.Binary)},
		record.Field{Name: "tags", Type: listOf(text)},
		record.Field{Name: "items", Type: listOf(item)},
		record.Field{Name: "attrs", Type: record.Type{Kind: record.Map, Elem: &text}},
		record.Field{Name: "extra", Type: extra},
		record.Field{Name: "customer", Type: customer},
		record.Field{Name: "anything", Type: record.Type{}},
	)
}

// typedOrder is a record as a decoder yields it for orderType: int64 for
// integers, []any and map[string]any for lists and objects, nil for the
// null fields.
func typedOrder() *record.Record {
	return &record.Record{
		Key: []byte("k1"),
		Value: map[string]any{
			"order_id": "A1",
			"points":   int64(3),
			"price":    2.5,
			"note":     nil,
			"bonus":    nil,
			"vip":      true,
			"created":  time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
			"blob":     []byte("abc"),
			"tags":     []any{"a", "b"},
			"items":    []any{map[string]any{"sku": "s1", "qty": int64(2)}, map[string]any{"sku": "s2", "qty": int64(5)}},
			"attrs":    map[string]any{"color": "red"},
			"extra":    map[string]any{"a": int64(1), "more": "yes"},
			"customer": map[string]any{"name": "Ann", "address": map[string]any{"city": "Oslo", "zip": "0150"}},
			"anything": map[string]any{"foo": map[string]any{"bar": int64(7)}},
		},
		Headers:   []record.Header{{Key: "trace", Value: []byte("t1")}},
		Topic:     "orders",
		Partition: 2,
		Offset:    77,
		Timestamp: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	}
}

func typedVars() map[string]any {
	return map[string]any{"prices": map[string]any{"A1": 1.25}, "limit": 2}
}

func TestTypedCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		kind Kind
		want string
	}{
		{"misspelt field", "pionts > 0", Bool,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: unknown field "pionts" (did you mean "points"?)`},
		{"misspelt field later in the source", "vip && pionts > 0", Bool,
			`configs/x.yaml:12:23: transforms.price.steps[1].set.total: unknown field "pionts" (did you mean "points"?)`},
		{"type mismatch", "order_id > 5", Bool,
			`configs/x.yaml:12:25: transforms.price.steps[1].set.total: invalid operation: > (mismatched types string and int)`},
		{"type mismatch between fields", "price + order_id", Any,
			`configs/x.yaml:12:22: transforms.price.steps[1].set.total: invalid operation: + (mismatched types float and string)`},
		{"time against text", `created > "2026-01-01"`, Bool,
			`configs/x.yaml:12:24: transforms.price.steps[1].set.total: invalid operation: > (mismatched types timestamp and string)`},
		{"nested typo", "customer.adress.city", Any,
			`configs/x.yaml:12:25: transforms.price.steps[1].set.total: unknown field "adress" in customer (did you mean "address"?)`},
		{"typo two levels down", "customer.address.ctiy == 'Oslo'", Bool,
			`configs/x.yaml:12:33: transforms.price.steps[1].set.total: unknown field "ctiy" in customer.address (did you mean "city"?)`},
		{"typo after optional chaining", "customer?.adress?.city", Any,
			`configs/x.yaml:12:26: transforms.price.steps[1].set.total: unknown field "adress" in customer (did you mean "address"?)`},
		{"typo in list elements", "filter(items, .qtty > 1)", Any,
			`configs/x.yaml:12:31: transforms.price.steps[1].set.total: unknown field "qtty" (did you mean "qty"?)`},
		{"typo in an indexed element", "items[0].skuu", Any,
			`configs/x.yaml:12:25: transforms.price.steps[1].set.total: unknown field "skuu" (did you mean "sku"?)`},
		{"typo under _value", "_value.pionts", Any,
			`configs/x.yaml:12:23: transforms.price.steps[1].set.total: unknown field "pionts" in _value (did you mean "points"?)`},
		{"typo in _value by string", `_value["pionts"]`, Any,
			`configs/x.yaml:12:23: transforms.price.steps[1].set.total: unknown field "pionts" in _value (did you mean "points"?)`},
		{"nothing close lists the fields", "customer.address.street", Any,
			`configs/x.yaml:12:33: transforms.price.steps[1].set.total: unknown field "street" in customer.address (fields: city, zip)`},
		{"nothing close among many", "zzz", Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: unknown field "zzz"`},
		{"misspelt var", "points > limt", Bool,
			`configs/x.yaml:12:25: transforms.price.steps[1].set.total: unknown field "limt" (did you mean "limit"?)`},
		{"misspelt metadata", "_timestmp", Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: unknown field "_timestmp" (did you mean "_timestamp"?)`},
		{"filter on a number", "points", Bool,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: expected bool, but got int`},
		{"built-in on the wrong type", "upper(points)", Any,
			`configs/x.yaml:12:22: transforms.price.steps[1].set.total: cannot use int as argument (type string) to call upper`},
		{"field of a scalar", "points.value", Any,
			`configs/x.yaml:12:23: transforms.price.steps[1].set.total: type int has no field value`},
		{"unknown function still first", "qtty(points) + pionts", Any,
			`configs/x.yaml:12:16: transforms.price.steps[1].set.total: unknown function "qtty"`},
		{"key metadata is text", "_key + 1", Any,
			`configs/x.yaml:12:21: transforms.price.steps[1].set.total: invalid operation: + (mismatched types string and int)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileTyped(at(tt.src), Options{Vars: typedVars()}, tt.kind, orderType())
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			var ce *pipeline.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *pipeline.Error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// The same mistakes compile without a type, as before schemas.
func TestUntypedAcceptsWhatTypesReject(t *testing.T) {
	for _, src := range []string{"pionts > 0", "order_id > 5", "customer.adress.city == 'x'"} {
		for _, in := range []record.Type{{}, {Kind: record.Map}, {Kind: record.Text}} {
			p, err := CompileTyped(at(src), Options{}, Bool, in)
			if err != nil {
				t.Errorf("%s for %s: %v", src, in, err)
				continue
			}
			if got := p.Type(); got.Kind != record.Unknown {
				t.Errorf("%s for %s: type %s, want unknown", src, in, got)
			}
		}
	}
}

// Typed programs run on the plain map the Machine fills, with the values
// decoders yield (int64 included), and give what untyped ones give.
func TestTypedRun(t *testing.T) {
	tests := []struct {
		src    string
		want   any
		result record.Type
	}{
		{"points > 0 && vip", true, kind(record.Bool)},
		{"points == 3", true, kind(record.Bool)},
		{"points in [1, 2, 3]", true, kind(record.Bool)},
		{"points in 1..5", true, kind(record.Bool)},
		{"points + 1", 4, kind(record.Int)},
		{"points * price", 7.5, kind(record.Float)},
		{"order_id == 'A1'", true, kind(record.Bool)},
		{"customer.address.city", "Oslo", kind(record.Text)},
		{"customer?.address?.city ?? 'none'", "Oslo", kind(record.Text)},
		{"note == nil", true, kind(record.Bool)},
		{"note == 'x'", false, kind(record.Bool)},
		{"note != 'x'", true, kind(record.Bool)},
		{"note ?? 'none'", "none", kind(record.Text)},
		{"bonus ?? 0", 0, record.Type{}},
		{"(bonus ?? 0) + points", 3, record.Type{}},
		{"coalesce(note, order_id)", "A1", record.Type{}},
		{"extra.a + 1", 2, kind(record.Int)},
		{"extra.more", "yes", record.Type{}},
		{"attrs.color", "red", kind(record.Text)},
		{"attrs['size'] ?? 'M'", "M", kind(record.Text)},
		{"anything.foo.bar", int64(7), record.Type{}},
		{"prices[order_id]", 1.25, record.Type{}},
		{"points > limit", true, kind(record.Bool)},
		{"_key", "k1", kind(record.Text)},
		{"_topic == 'orders' && _partition == 2 && _offset == 77", true, kind(record.Bool)},
		{"_timestamp.Year()", 2026, kind(record.Int)},
		{"_headers.trace ?? 'none'", "t1", record.Type{}},
		{"_value.points", int64(3), kind(record.Int)},
		{"created.Year() == 2026 && int(created.Month()) == 3", true, kind(record.Bool)},
		{"format_time(created, 'DateOnly')", "2026-03-04", record.Type{}},
		{"hash(order_id) % 16 >= 0", true, kind(record.Bool)},
		{"to_string(points)", "3", record.Type{}},
		{"round_to(price, 0)", 3.0, record.Type{}},
		{"len(uuid())", 36, kind(record.Int)},
		{"len(blob)", 3, kind(record.Int)},
		{"len(tags) > 1 && 'b' in tags", true, kind(record.Bool)},
		{"all(items, .qty > 0)", true, kind(record.Bool)},
		{"sum(items, .qty)", 7, kind(record.Int)},
		{"map(items, .sku)", []any{"s1", "s2"}, listOf(kind(record.Text))},
		{"let x = points * 2; x > 4", true, kind(record.Bool)},
		{"upper(order_id)", "A1", kind(record.Text)},
		{"tags", []any{"a", "b"}, listOf(kind(record.Text))},
		{"note", nil, nullable(record.Text)},
		{"customer?.name", "Ann", nullable(record.Text)},
		{"customer", typedOrder().Value.(map[string]any)["customer"], orderType().Fields[12].Type},
		{"nil", nil, record.Type{Kind: record.Null, Nullable: true}},
		{"{id: order_id, n: points + 1, who: {name: customer.name}}",
			map[string]any{"id": "A1", "n": 4, "who": map[string]any{"name": "Ann"}},
			object(record.Field{Name: "id", Type: kind(record.Text)}, record.Field{Name: "n", Type: kind(record.Int)},
				record.Field{Name: "who", Type: object(record.Field{Name: "name", Type: kind(record.Text)})})},
		{"customer.address", map[string]any{"city": "Oslo", "zip": "0150"},
			object(record.Field{Name: "city", Type: kind(record.Text)}, record.Field{Name: "zip", Type: kind(record.Text)})},
		{"attrs", map[string]any{"color": "red"}, record.Type{Kind: record.Map, Elem: &record.Type{Kind: record.Text}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			opts := Options{Vars: typedVars(), Rand: rand.New(rand.NewPCG(1, 2))}
			p, err := CompileTyped(at(tt.src), opts, Any, orderType())
			if err != nil {
				t.Fatal(err)
			}
			var env Env
			r := typedOrder()
			env.Reset(r)
			got, err := opts.NewMachine().Run(p, &env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if !reflect.DeepEqual(p.Type(), tt.result) {
				t.Errorf("type %s, want %s", p.Type(), tt.result)
			}
			if !reflect.DeepEqual(r.Value, typedOrder().Value) {
				t.Errorf("the run changed the value: %v", r.Value)
			}
		})
	}
}

// A record that lacks fields its schema lists (a nullable field left out,
// a tombstone) gives nulls, as an untyped program does, not errors.
func TestTypedRunOnMissingFields(t *testing.T) {
	for _, tt := range []struct {
		src   string
		value any
		want  any
	}{
		{"order_id == 'A1'", map[string]any{}, false},
		{"order_id != 'A1'", map[string]any{}, true},
		{"points == 3", map[string]any{}, false},
		{"customer?.address?.city ?? 'none'", map[string]any{"customer": nil}, "none"},
		{"order_id == nil && _value == nil", nil, true},
		{"note ?? order_id", map[string]any{"order_id": "A2"}, "A2"},
	} {
		p, err := CompileTyped(at(tt.src), Options{}, Any, orderType())
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		r := typedOrder()
		r.Value = tt.value
		var env Env
		env.Reset(r)
		got, err := Options{}.NewMachine().Run(p, &env)
		if err != nil {
			t.Errorf("%s on %v: %v", tt.src, tt.value, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s on %v: got %#v, want %#v", tt.src, tt.value, got, tt.want)
		}
	}
}

// An open object allows fields beyond those its schema names; its known
// fields keep their types.
func TestTypedOpenObject(t *testing.T) {
	in := orderType()
	in.Open = true
	if _, err := CompileTyped(at("whatever ?? points"), Options{}, Any, in); err != nil {
		t.Errorf("unknown name in an open object: %v", err)
	}
	if _, err := CompileTyped(at("order_id > 5"), Options{}, Bool, in); err == nil {
		t.Error("order_id > 5 compiled on an open object, want the type mismatch")
	}
	if _, err := CompileTyped(at("extra.more.deep"), Options{}, Any, orderType()); err != nil {
		t.Errorf("unknown field of an open nested object: %v", err)
	}
}

// A field named like a var hides the var, and takes the field's type; a
// field named like metadata is hidden by it.
func TestTypedPrecedence(t *testing.T) {
	in := object(record.Field{Name: "limit", Type: kind(record.Text)}, record.Field{Name: "_topic", Type: kind(record.Int)})
	if _, err := CompileTyped(at("limit + 1"), Options{Vars: typedVars()}, Any, in); err == nil {
		t.Error("limit + 1 compiled: the field limit is text")
	}
	if _, err := CompileTyped(at("_topic + 1"), Options{}, Any, in); err == nil {
		t.Error("_topic + 1 compiled: _topic is the topic's name")
	}
}

// Fields named like functions: a bare name is the field, a call the
// function, even in one expression.
func TestTypedFieldNamedLikeFunction(t *testing.T) {
	in := object(record.Field{Name: "date", Type: kind(record.Text)}, record.Field{Name: "len", Type: kind(record.Int)},
		record.Field{Name: "type", Type: kind(record.Text)}, record.Field{Name: "hash", Type: kind(record.Text)},
		record.Field{Name: "count", Type: kind(record.Int)}, record.Field{Name: "filter", Type: kind(record.Text)})
	value := map[string]any{"date": "d", "len": int64(4), "type": "t", "hash": "h", "count": int64(41), "filter": "f"}
	for _, tt := range []struct {
		src  string
		want any
	}{
		{"[date, len, type, hash]", []any{"d", int64(4), "t", "h"}},
		{`date("2026-01-02").Year()`, 2026},
		{"len(type) + 1", 2},
		{"upper(date) + type", "Dt"},
		{"hash(hash) > 0", true},
		// count and filter are predicate built-ins, which expr would take
		// the bare names for.
		{"count + 1", 42},
		{`filter + "!"`, "f!"},
	} {
		p, err := CompileTyped(at(tt.src), Options{}, Any, in)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		var env Env
		env.Reset(&record.Record{Value: value})
		got, err := Options{}.NewMachine().Run(p, &env)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.src, got, tt.want)
		}
	}
	if _, err := CompileTyped(at("len + 'a'"), Options{}, Any, in); err == nil {
		t.Error("len + 'a' compiled: the field len is an int")
	}
}
