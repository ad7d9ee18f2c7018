package main

import "testing"

func TestKeptOfMatchesGenerator(t *testing.T) {
	for _, n := range []int{1, voidEvery - 1, voidEvery, 3*voidEvery + 7} {
		g := newOrderGen(sizeSmall, 3)
		var kept int64
		for i := range n {
			_, o, _, err := g.next(i)
			if err != nil {
				t.Fatal(err)
			}
			if o.Qty > 0 {
				kept++
			}
		}
		if got := keptOf(int64(n)); got != kept {
			t.Errorf("keptOf(%d) = %d, generator kept %d", n, got, kept)
		}
	}
}

func TestOrderSizes(t *testing.T) {
	for _, tc := range []struct{ size, lo, hi int }{{sizeSmall, 100, 160}, {sizeLarge, 1000, 1000}} {
		g := newOrderGen(tc.size, 5)
		for i := range 200 {
			key, o, v, err := g.next(i)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) < tc.lo || len(v) > tc.hi {
				t.Fatalf("size %d: record of %d bytes: %s", tc.size, len(v), v)
			}
			if key != o.Store || len(o.OrderID) != 36 {
				t.Fatalf("size %d: key %q, order %+v", tc.size, key, o)
			}
		}
	}
}
