package serde

import (
	"reflect"
	"sync"
	"testing"
)

// TestSchemasConcurrentUse: a parsed schema serves every goroutine of a
// codec at once (run with -race).
func TestSchemasConcurrentUse(t *testing.T) {
	js := readTestSchema(t, JSONSchema, "jsonschema_order.json")
	pb := orderProto(t)
	cases := []struct {
		s    payloadSchema
		good any
		bad  func() any
	}{
		{js, jsonOrderValue(), func() any { v := jsonOrderValue(); v["id"] = "x"; v["paid"] = "y"; return v }},
		{pb, protoOrderValue(), func() any { v := protoOrderValue(); v["nope"] = 1; return v }},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		want, err := c.s.encode(c.good)
		if err != nil {
			t.Fatal(err)
		}
		wantValue, err := c.s.decode(want)
		if err != nil {
			t.Fatal(err)
		}
		_, wantErr := c.s.encode(c.bad())
		for range 4 {
			wg.Go(func() {
				for range 50 {
					b, err := c.s.encode(c.good)
					if err != nil || !reflect.DeepEqual(b, want) {
						t.Errorf("%s: encode = %x, %v; want %x", c.s.Format(), b, err, want)
						return
					}
					v, err := c.s.decode(b)
					if err != nil || !reflect.DeepEqual(v, wantValue) {
						t.Errorf("%s: decode = %v, %v", c.s.Format(), v, err)
						return
					}
					if _, err := c.s.encode(c.bad()); err == nil || err.Error() != wantErr.Error() {
						t.Errorf("%s: encode error %v, want %v", c.s.Format(), err, wantErr)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}
