package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
)

// Record sizes the harness knows: small is the bare order (about 130 bytes
// of JSON), large adds a customer, line items and notes padded to 1000 bytes.
const (
	sizeSmall = 100
	sizeLarge = 1000
)

// order is one donut order as JSON; the large size fills the optional fields.
type order struct {
	OrderID   string     `json:"order_id"`
	Store     string     `json:"store"`
	Donut     string     `json:"donut"`
	Qty       int        `json:"qty"`
	Price     float64    `json:"price"`
	TS        string     `json:"ts"`
	Customer  *customer  `json:"customer,omitempty"`
	LineItems []lineItem `json:"line_items,omitempty"`
	Notes     string     `json:"notes,omitempty"`
}

type customer struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Loyalty string `json:"loyalty"`
}

type lineItem struct {
	SKU   string  `json:"sku"`
	Donut string  `json:"donut"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

// Fixed vocabularies, as functions so no package state can be changed.

// stores are the record keys: 24 names, four per partition under
// librdkafka's default partitioner (CRC32 of the key mod 6), so the six
// partitions carry equal load.
func stores() []string {
	return []string{"orlando", "tampa", "miami", "jacksonville", "gainesville", "tallahassee",
		"pensacola", "sarasota", "naples", "ocala", "daytona", "key-west", "austin", "denver",
		"boston", "seattle", "portland", "chicago", "dallas", "durham", "richmond", "omaha",
		"sacramento", "oakland"}
}

// aggKeys is the cardinality of the aggregate variant's group key.
const aggKeys = 100_000

// aggKey is order i's key in the aggregate variant's input: customers
// c00000..c99999 in turn, so every key has records once n >= aggKeys.
func aggKey(i int) string { return fmt.Sprintf("c%05d", i%aggKeys) }

func donuts() []string {
	return []string{"glazed", "maple", "chocolate", "boston-cream", "jelly", "sprinkles"}
}

func prices() []float64 { return []float64{1.25, 2.5, 1.75, 2.25, 2, 1.5} } // by donut index

func customerNames() []string {
	return []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Ken Thompson"}
}

func loyaltyTiers() []string { return []string{"none", "silver", "gold"} }

// voidEvery: one order in this many has qty 0, so the typical stage's
// filter (qty > 0) has something to drop.
const voidEvery = 500

// keptOf is how many of the first n orders have qty > 0.
func keptOf(n int64) int64 { return n - n/voidEvery }

// orderGen makes repeatable orders of one size.
type orderGen struct {
	rng  *rand.Rand
	size int
	base time.Time
}

func newOrderGen(size int, seed uint64) *orderGen {
	return &orderGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), size: size,
		base: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
}

// next returns order i: its key (the store), the order and its JSON.
func (g *orderGen) next(i int) (string, order, []byte, error) {
	ss, ds, ps := stores(), donuts(), prices()
	d := g.rng.IntN(len(ds))
	o := order{
		OrderID: g.uuid(),
		Store:   ss[g.rng.IntN(len(ss))],
		Donut:   ds[d],
		Qty:     1 + g.rng.IntN(24),
		Price:   ps[d],
		TS:      g.base.Add(time.Duration(i) * 10 * time.Millisecond).Format(time.RFC3339),
	}
	if i%voidEvery == voidEvery-1 {
		o.Qty = 0
	}
	if g.size >= sizeLarge {
		g.fillLarge(&o)
	}
	v, err := json.Marshal(o)
	if err != nil {
		return "", order{}, nil, fmt.Errorf("encode order %d: %w", i, err)
	}
	if g.size >= sizeLarge && len(v) < g.size {
		// Pad to the exact size with a notes field.
		o.Notes = notes(g.size - len(v) - len(`,"notes":""`))
		if v, err = json.Marshal(o); err != nil {
			return "", order{}, nil, fmt.Errorf("encode order %d: %w", i, err)
		}
	}
	return o.Store, o, v, nil
}

func (g *orderGen) fillLarge(o *order) {
	names, tiers, ds, ps := customerNames(), loyaltyTiers(), donuts(), prices()
	name := names[g.rng.IntN(len(names))]
	o.Customer = &customer{
		ID:      g.rng.IntN(1_000_000),
		Name:    name,
		Email:   strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com",
		Loyalty: tiers[g.rng.IntN(len(tiers))],
	}
	for range 4 {
		d := g.rng.IntN(len(ds))
		o.LineItems = append(o.LineItems, lineItem{SKU: fmt.Sprintf("DN-%03d-%02d", d, g.rng.IntN(100)), Donut: ds[d], Qty: 1 + g.rng.IntN(12), Price: ps[d]})
	}
}

// uuid is a version 4 UUID from the generator, so runs are repeatable.
func (g *orderGen) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

// notes is n bytes of plain text (no JSON escapes), for padding.
func notes(n int) string {
	const text = "please box separately, extra napkins, call on arrival, side door by the loading dock. "
	if n <= 0 {
		return ""
	}
	return strings.Repeat(text, n/len(text)+1)[:n]
}

// notesFor is the notes length that brings a generated (runner generate
// source) large record to about size bytes, estimated from this generator's
// records without notes.
func notesFor(size int) int {
	g := newOrderGen(sizeLarge, 1)
	total := 0
	const samples = 200
	for range samples {
		o := order{OrderID: g.uuid(), Store: "jacksonville", Donut: "boston-cream", Qty: 12, Price: 1.25, TS: "2026-12-01T10:00:00Z"}
		g.fillLarge(&o)
		v, _ := json.Marshal(o) // plain structs: cannot fail
		total += len(v)
	}
	return max(0, size-total/samples-len(`,"notes":""`))
}
