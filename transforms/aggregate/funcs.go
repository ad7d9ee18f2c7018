package aggregate

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// fn is an aggregation function.
type fn uint8

const (
	fnCount fn = iota
	fnSum
	fnMin
	fnMax
	fnAvg
	fnFirst
	fnLast
	fnCollect
)

var fnNames = [...]string{"count", "sum", "min", "max", "avg", "first", "last", "collect"}

func (f fn) String() string { return fnNames[f] }

func parseFn(s string) (fn, bool) {
	for i, n := range fnNames {
		if n == s {
			return fn(i), true
		}
	}
	return 0, false
}

// input is one aggregation's view of one record, computed once and folded
// into every window the record falls in (several for hopping windows).
type input struct {
	skip  bool    // where was false, or the value was null
	isInt bool    // sum, avg: an integer (i), else a float (f)
	i     int64   // sum, avg
	f     float64 // sum, avg
	v     any     // min, max, first, last, collect: the value in canonical form
}

func (in *input) float() float64 {
	if in.isInt {
		return float64(in.i)
	}
	return in.f
}

// acc is one aggregation's state in one group or window. One struct serves
// every function so a window's state is a single []acc allocation.
type acc struct {
	n    int64   // inputs folded in (count's result)
	i    int64   // sum, avg: the sum while every input was an integer
	f    float64 // sum, avg: the sum once one was a float (fl)
	fl   bool
	v    any      // min, max, first, last
	q    uint64   // first, last: arrival number of v, to merge sessions
	list []any    // collect
	qs   []uint64 // collect under session windows: arrival number of each element
}

func (a *acc) floatSum() float64 {
	if a.fl {
		return a.f
	}
	return float64(a.i)
}

// prepare turns an expression result into the aggregation's input, or says
// why the value cannot be aggregated.
func prepare(f fn, v any) (input, error) {
	if v == nil {
		return input{skip: true}, nil
	}
	switch f {
	case fnCount:
		return input{}, nil
	case fnSum, fnAvg:
		return number(v)
	case fnMin, fnMax:
		c, err := canonical(v)
		if err != nil {
			return input{}, err
		}
		switch c.(type) {
		case int64, float64, string:
			return input{v: c}, nil
		}
		return input{}, fmt.Errorf("%s needs numbers or strings, got %s", f, expression.TypeName(v))
	default:
		c, err := canonical(v)
		return input{v: c}, err
	}
}

// number classifies a sum or avg input: integers stay exact, floats make
// the sum a float.
func number(v any) (input, error) {
	if i, ok := expression.ExactInt(v); ok {
		return input{isInt: true, i: i}, nil
	}
	var f float64
	switch t := v.(type) {
	case float64:
		f = t
	case float32:
		f = float64(t)
	case uint, uint64:
		return input{}, fmt.Errorf("integer %v does not fit in int64", v)
	default:
		return input{}, fmt.Errorf("needs a number, got %s", expression.TypeName(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return input{}, fmt.Errorf("needs a finite number, got %v", f)
	}
	return input{f: f}, nil
}

var errIntOverflow = errors.New("sum overflows int64")

// check reports whether in can be folded into a without failing, so a
// record either changes every window it touches or none.
func check(f fn, a *acc, in *input) error {
	if in.skip {
		return nil
	}
	switch f {
	case fnSum, fnAvg:
		if in.isInt && !a.fl {
			if _, ok := addInt(a.i, in.i); ok {
				return nil
			}
			if f == fnSum {
				return fmt.Errorf("%w: %d + %d", errIntOverflow, a.i, in.i)
			}
		}
		if s := a.floatSum() + in.float(); math.IsInf(s, 0) {
			return fmt.Errorf("sum overflows float64: %v + %v", a.floatSum(), in.float())
		}
	case fnMin, fnMax:
		if a.n > 0 && isString(a.v) != isString(in.v) {
			return fmt.Errorf("%s cannot compare %s with %s", f, expression.TypeName(in.v), expression.TypeName(a.v))
		}
	}
	return nil
}

// apply folds in into a; check must have passed. seq is the record's
// arrival number; keepSeqs says collect must remember it per element.
func apply(f fn, a *acc, in *input, seq uint64, keepSeqs bool) {
	if in.skip {
		return
	}
	a.n++
	switch f {
	case fnSum, fnAvg:
		if in.isInt && !a.fl {
			if s, ok := addInt(a.i, in.i); ok {
				a.i = s
				return
			}
			// Only avg gets here (check refuses sum): its result is a float
			// anyway, so the sum continues as one.
		}
		a.f = a.floatSum() + in.float()
		a.i, a.fl = 0, true
	case fnMin:
		if a.n == 1 || compare(in.v, a.v) < 0 {
			a.v = in.v
		}
	case fnMax:
		if a.n == 1 || compare(in.v, a.v) > 0 {
			a.v = in.v
		}
	case fnFirst:
		if a.n == 1 {
			a.v, a.q = in.v, seq
		}
	case fnLast:
		a.v, a.q = in.v, seq
	case fnCollect:
		a.list = append(a.list, in.v)
		if keepSeqs {
			a.qs = append(a.qs, seq)
		}
	}
}

// merge folds src into dst, for sessions a record bridges. dst must be a
// copy the caller may discard on error.
func merge(f fn, dst, src *acc) error {
	if src.n == 0 {
		return nil
	}
	if dst.n == 0 {
		*dst = cloneAcc(src)
		return nil
	}
	switch f {
	case fnSum, fnAvg:
		if !dst.fl && !src.fl {
			if s, ok := addInt(dst.i, src.i); ok {
				dst.i = s
				break
			}
			if f == fnSum {
				return fmt.Errorf("%w: %d + %d", errIntOverflow, dst.i, src.i)
			}
		}
		s := dst.floatSum() + src.floatSum()
		if math.IsInf(s, 0) {
			return fmt.Errorf("sum overflows float64: %v + %v", dst.floatSum(), src.floatSum())
		}
		dst.f, dst.i, dst.fl = s, 0, true
	case fnMin, fnMax:
		if isString(dst.v) != isString(src.v) {
			return fmt.Errorf("%s cannot compare %s with %s", f, expression.TypeName(src.v), expression.TypeName(dst.v))
		}
		if c := compare(src.v, dst.v); f == fnMin && c < 0 || f == fnMax && c > 0 {
			dst.v = src.v
		}
	case fnFirst:
		if src.q < dst.q {
			dst.v, dst.q = src.v, src.q
		}
	case fnLast:
		if src.q > dst.q {
			dst.v, dst.q = src.v, src.q
		}
	case fnCollect:
		// Both lists are in arrival order; interleave them by arrival.
		list := make([]any, 0, len(dst.list)+len(src.list))
		qs := make([]uint64, 0, len(dst.qs)+len(src.qs))
		i, j := 0, 0
		for i < len(dst.qs) || j < len(src.qs) {
			if j == len(src.qs) || i < len(dst.qs) && dst.qs[i] < src.qs[j] {
				list, qs = append(list, dst.list[i]), append(qs, dst.qs[i])
				i++
			} else {
				list, qs = append(list, src.list[j]), append(qs, src.qs[j])
				j++
			}
		}
		dst.list, dst.qs = list, qs
	}
	dst.n += src.n
	return nil
}

// cloneAcc copies a's lists, which apply appends to in place.
func cloneAcc(a *acc) acc {
	c := *a
	c.list = slices.Clone(a.list)
	c.qs = slices.Clone(a.qs)
	return c
}

// result is the aggregation's value in a row. Aggregations that saw no
// input are null, except count and sum, which are 0.
func result(f fn, a *acc) any {
	switch f {
	case fnCount:
		return a.n
	case fnSum:
		if a.fl {
			return a.f
		}
		return a.i
	case fnAvg:
		if a.n == 0 {
			return nil
		}
		return a.floatSum() / float64(a.n)
	case fnCollect:
		if a.n == 0 {
			return nil
		}
		// A copy: the row outlives this call and apply appends in place.
		return slices.Clone(a.list)
	}
	return a.v // nil when no input
}

func addInt(a, b int64) (int64, bool) {
	s := a + b
	// Overflow iff both operands have the same sign and the sum's differs.
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, false
	}
	return s, true
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// compare orders two canonical min/max values of the same family: strings
// by bytes, numbers by value, exactly even between int64 and float64.
func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		y := b.(string)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case int64:
		switch y := b.(type) {
		case int64:
			return cmpOrdered(x, y)
		case float64:
			return cmpIntFloat(x, y)
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmpOrdered(x, y)
		case int64:
			return -cmpIntFloat(y, x)
		}
	}
	panic(fmt.Sprintf("aggregate: compare %T with %T", a, b))
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpIntFloat compares without converting i to float64, which would round
// integers beyond 2^53.
func cmpIntFloat(i int64, f float64) int {
	if f >= 0x1p63 {
		return -1
	}
	if f < -0x1p63 {
		return 1
	}
	t := math.Trunc(f)
	if c := cmpOrdered(i, int64(t)); c != 0 {
		return c
	}
	return cmpOrdered(0, f-t) // i == trunc(f): the fraction decides
}
