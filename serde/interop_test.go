package serde

import (
	"context"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
)

// Bytes written by confluent-kafka-go's own Avro serializer decode with our
// codec, and ours deserialize with its deserializer: the wire format and
// the payload are the ones other clients use.
func TestAvroInteropWithConfluent(t *testing.T) {
	ctx := context.Background()
	r := mockRegistry(t)
	schema := readAvro(t, "testdata/all_types.avsc")
	id, err := r.Register(ctx, "topic-value", schema)
	if err != nil {
		t.Fatal(err)
	}

	conf := avrov2.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	ser, err := avrov2.NewSerializer(r.client, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	msg := hambaAllTypes()
	theirs, err := ser.Serialize("topic", &msg)
	if err != nil {
		t.Fatal(err)
	}

	c, err := NewCodec(Avro, CodecOptions{Registry: r, Subject: "topic-value", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(ctx, theirs)
	if err != nil {
		t.Fatal(err)
	}
	if want := allTypesValue(); !reflect.DeepEqual(got, want) {
		t.Errorf("decoding the serializer's bytes:\n got %#v\nwant %#v", got, want)
	}

	ours, err := c.Encode(ctx, allTypesValue())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ours[:5], theirs[:5]) {
		t.Errorf("headers differ: ours %x, theirs %x (id %d)", ours[:5], theirs[:5], id)
	}
	deser, err := avrov2.NewDeserializer(r.client, serde.ValueSerde, avrov2.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := deser.DeserializeInto("topic", ours, &back); err != nil {
		t.Fatalf("the deserializer cannot read ours: %v", err)
	}
	// It yields hamba's types: compare a few, each kind once.
	for k, want := range map[string]any{
		"i": -7, "l": int64(1) << 40, "f": float32(1.5), "s": "héllo", "e": "GREEN",
		"fx": [4]byte{1, 2, 3, 4}, "opt": "x", "u": map[string]any{"long": int64(5)}, "withdef": int64(42),
		"tsus": time.Date(2024, 1, 2, 3, 4, 5, 6007e3, time.UTC), "tus": time.Hour + time.Microsecond,
		"dec": big.NewRat(1234567, 100),
	} {
		g := back[k]
		if tm, ok := g.(time.Time); ok {
			g = tm.UTC()
		}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s: the deserializer read %#v, want %#v", k, back[k], want)
		}
	}
}
