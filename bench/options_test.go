package main

import (
	"io"
	"slices"
	"testing"
)

// Each Avro variant runs right after its JSON twin whatever order -variants
// names them in, and only Avro variants need a schema registry.
func TestAvroVariantsOptions(t *testing.T) {
	o, err := parseOptions("bench", []string{"-variants", "typical-avro,raw,typical,passthrough-avro,passthrough", "-registry", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{varRaw, varPassthrough, varPassthroughAvro, varTypical, varTypicalAvro}; !slices.Equal(o.variants, want) {
		t.Fatalf("variants %v, want %v", o.variants, want)
	}
	if !o.needsRegistry() {
		t.Fatal("Avro variants selected, no registry needed")
	}
	if o, err = parseOptions("bench", []string{"-variants", "raw,typical,typical-eos"}, io.Discard); err != nil || o.needsRegistry() {
		t.Fatalf("JSON variants need a registry: %v", err)
	}
	if o, err = parseOptions("bench", nil, io.Discard); err != nil || !slices.Contains(o.variants, varTypicalAvro) || !slices.Contains(o.variants, varPassthroughAvro) {
		t.Fatalf("default variants %v lack the Avro ones (%v)", o.variants, err)
	}
	if _, err := parseOptions("bench", []string{"-variants", "typical-protobuf"}, io.Discard); err == nil {
		t.Fatal("unknown variant accepted")
	}
}
