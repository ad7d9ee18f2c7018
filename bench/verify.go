package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"
)

// outOrder is what the smoke checks read back from an output record.
type outOrder struct {
	OrderID    string   `json:"order_id"`
	Store      string   `json:"store"`
	Qty        int      `json:"qty"`
	Price      float64  `json:"price"`
	Total      *float64 `json:"total"`
	Bulk       *bool    `json:"bulk"`
	StoreUpper *string  `json:"store_upper"`
}

// verify reads all of out (smoke runs) and checks every record: each input
// order that should pass arrived exactly once, keyed by store, with the
// typical stage's fields computed right; generated records are unique.
func (h *harness) verify(ctx context.Context, v string, in *input, out string, want int64) error {
	if v == varAggregate {
		return h.verifyAggregate(ctx, in, out)
	}
	decode, err := h.outputDecoder(v, in.size)
	if err != nil {
		return fmt.Errorf("verify %s: %w", out, err)
	}
	seen := make(map[string]int, want)
	err = h.readTopic(ctx, out, 0, func(m *kafka.Message) error {
		o, shown, err := decode(ctx, m.Value)
		if err != nil {
			return fmt.Errorf("output record %s: %w", shown, err)
		}
		if string(m.Key) != o.Store || o.OrderID == "" {
			return fmt.Errorf("output record %s has key %q", shown, m.Key)
		}
		seen[o.OrderID]++
		if v == varGenerate {
			return nil
		}
		src, ok := in.orders[o.OrderID]
		if !ok || src.Store != o.Store || src.Qty != o.Qty || src.Price != o.Price {
			return fmt.Errorf("output record %s matches no input order", shown)
		}
		return checkFields(v, o, shown)
	})
	if err != nil {
		return fmt.Errorf("verify %s: %w", out, err)
	}
	var missing, dup int
	if v == varGenerate {
		for _, n := range seen {
			dup += n - 1
		}
		missing = int(want) - len(seen)
	} else {
		for id, o := range in.orders {
			switch n := seen[id]; {
			case typical(v) && o.Qty <= 0:
				if n > 0 {
					return fmt.Errorf("verify %s: order %s with qty 0 passed the filter", out, id)
				}
			case n == 0:
				missing++
			case n > 1:
				dup += n - 1
			}
		}
	}
	if missing != 0 || dup != 0 {
		return fmt.Errorf("verify %s: %d orders missing, %d duplicated", out, missing, dup)
	}
	return nil
}

// outputDecoder reads a variant's output records for the checks: JSON, or
// Avro written with the schema the stage declares. shown is the record as
// error messages quote it.
func (h *harness) outputDecoder(v string, size int) (func(ctx context.Context, b []byte) (o outOrder, shown string, err error), error) {
	if !isAvro(v) {
		return func(_ context.Context, b []byte) (outOrder, string, error) {
			var o outOrder
			err := json.Unmarshal(b, &o)
			return o, fmt.Sprintf("%q", b), err
		}, nil
	}
	if h.avro == nil {
		return nil, fmt.Errorf("variant %s: no schema registry", v)
	}
	r, err := newAvroReader(h.avro.reg, h.avro.schema(size, typical(v)))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, b []byte) (outOrder, string, error) {
		o, m, err := r.decode(ctx, b)
		if m == nil {
			return o, fmt.Sprintf("%q", b), err
		}
		return o, fmt.Sprintf("%v", m), err
	}, nil
}

// checkFields checks the computed fields: present and right for typical,
// absent otherwise; raw is the record as errors quote it.
func checkFields(v string, o outOrder, raw string) error {
	if !typical(v) {
		if o.Total != nil || o.Bulk != nil || o.StoreUpper != nil {
			return fmt.Errorf("%s output has computed fields: %s", v, raw)
		}
		return nil
	}
	if o.Total == nil || o.Bulk == nil || o.StoreUpper == nil {
		return fmt.Errorf("typical output lacks computed fields: %s", raw)
	}
	if math.Abs(*o.Total-float64(o.Qty)*o.Price) > 1e-9 || *o.Bulk != (o.Qty >= 12) || *o.StoreUpper != strings.ToUpper(o.Store) {
		return fmt.Errorf("typical output computed wrong fields: %s", raw)
	}
	return nil
}

// aggRow is an output row of the aggregate variant.
type aggRow struct {
	Orders *int64 `json:"orders"`
	Qty    *int64 `json:"qty"`
}

// verifyAggregate reads all of out (smoke runs) and checks the aggregate's
// rows: one per input order, each key's rows counting 1, 2, 3... in order
// (nothing lost, repeated or reordered: one key's rows share an output
// partition), and each key's last row holding its orders and total qty.
func (h *harness) verifyAggregate(ctx context.Context, in *input, out string) error {
	last := make(map[string]groupTotal, len(in.groups))
	err := h.readTopic(ctx, out, 0, func(m *kafka.Message) error {
		var r aggRow
		if err := json.Unmarshal(m.Value, &r); err != nil {
			return fmt.Errorf("output record %q: %w", m.Value, err)
		}
		key := string(m.Key)
		prev := last[key]
		if r.Orders == nil || r.Qty == nil || *r.Orders != prev.orders+1 || *r.Qty < prev.qty {
			return fmt.Errorf("output row %s for key %q follows orders=%d qty=%d: lost, repeated or reordered", m.Value, key, prev.orders, prev.qty)
		}
		last[key] = groupTotal{orders: *r.Orders, qty: *r.Qty}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify %s: %w", out, err)
	}
	if len(last) != len(in.groups) {
		return fmt.Errorf("verify %s: rows for %d keys, want %d", out, len(last), len(in.groups))
	}
	for key, want := range in.groups {
		if got := last[key]; got != want {
			return fmt.Errorf("verify %s: key %s ends at orders=%d qty=%d, want orders=%d qty=%d", out, key, got.orders, got.qty, want.orders, want.qty)
		}
	}
	return nil
}
