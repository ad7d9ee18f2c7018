package pipetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Got is one record read back from a topic.
type Got struct {
	Key       []byte
	Value     []byte
	Headers   []record.Header
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
}

// canonical turns a JSON-like value into the form compared: maps, lists,
// strings, bools, nil and json.Number.
func canonical(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	out, _ := decodeJSON(b)
	return out
}

func decodeJSON(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, false
	}
	return v, true
}

// valueOf is a got value as compared: a tombstone is nil, valid JSON its
// value, anything else its text.
func valueOf(b []byte) any {
	if b == nil {
		return nil
	}
	if v, ok := decodeJSON(b); ok {
		return v
	}
	return string(b)
}

// jsonEqual compares canonical values; numbers compare by value (2 == 2.0).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numEqual(string(x), string(y))
	default:
		return a == b
	}
}

func numEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// matcher evaluates expectations against records.
type matcher struct {
	where map[*Expect]*expression.Program
	m     *expression.Machine
	env   expression.Env
}

func (mt *matcher) keyMatches(e *Expect, g *Got) bool {
	if !e.HasKey {
		return true
	}
	if e.KeyJSON != nil {
		v, ok := decodeJSON(g.Key)
		return g.Key != nil && ok && jsonEqual(e.KeyJSON, v)
	}
	if e.Key == nil || g.Key == nil {
		return e.Key == nil && g.Key == nil
	}
	return bytes.Equal(e.Key, g.Key)
}

// matches reports whether g is e; whyNot is a where expression's error.
func (mt *matcher) matches(e *Expect, g *Got) (ok bool, whyNot string) {
	if !mt.keyMatches(e, g) {
		return false, ""
	}
	if e.HasRaw && !bytes.Equal(e.Raw, g.Value) {
		return false, ""
	}
	if e.HasValue && !jsonEqual(e.Value, valueOf(g.Value)) {
		return false, ""
	}
	for name, want := range e.Headers {
		v, has := header(g.Headers, name)
		if want == nil && has || want != nil && (!has || v != *want) {
			return false, ""
		}
	}
	if prog := mt.where[e]; prog != nil {
		r := &record.Record{Key: g.Key, Raw: g.Value, Headers: g.Headers, Topic: g.Topic, Partition: g.Partition, Offset: g.Offset, Timestamp: g.Timestamp}
		if g.Value != nil {
			if v, err := record.JSON.Decode(g.Value); err == nil {
				r.Value = v
			} else {
				r.Value = string(g.Value)
			}
		}
		mt.env.Reset(r)
		ok, err := mt.m.RunBool(prog, &mt.env)
		mt.env.Reset(nil)
		if err != nil {
			return false, "where: " + err.Error()
		}
		return ok, ""
	}
	return true, ""
}

func header(hs []record.Header, name string) (string, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == name {
			return string(hs[i].Value), true
		}
	}
	return "", false
}

// Mismatch is one line of a topic's diff.
type Mismatch struct {
	Kind     string // "differs", "missing" or "unexpected"
	Expected *Expect
	Got      *Got
	Note     string
}

// compare matches got against the expectations: keyed expectations in
// order per key, the others anywhere; every record must be matched.
func (mt *matcher) compare(want []Expect, got []*Got) []Mismatch {
	used := make([]bool, len(got))
	matched := make([]bool, len(want))
	last := map[string]int{} // per expected key: the got index matched last
	notes := map[int]string{}
	try := func(i int, from int) bool {
		e := &want[i]
		for j := from; j < len(got); j++ {
			if used[j] {
				continue
			}
			ok, why := mt.matches(e, got[j])
			if why != "" && mt.keyMatches(e, got[j]) {
				notes[i] = why
			}
			if ok {
				used[j], matched[i] = true, true
				if e.HasKey {
					last[keyID(e)] = j
				}
				return true
			}
		}
		return false
	}
	for i := range want {
		if want[i].HasKey {
			from, ok := last[keyID(&want[i])]
			if ok {
				from++
			}
			try(i, from)
		}
	}
	for i := range want {
		if !want[i].HasKey {
			try(i, 0)
		}
	}
	var out []Mismatch
	// Pair what is left: an expectation with the next unused record of its
	// key (any record for unkeyed ones) differs; the rest is missing.
	for i := range want {
		if matched[i] {
			continue
		}
		e := &want[i]
		m := Mismatch{Kind: "missing", Expected: e, Note: notes[i]}
		for j := range got {
			if !used[j] && mt.keyMatches(e, got[j]) {
				used[j] = true
				m.Kind, m.Got = "differs", got[j]
				if ok, _ := mt.matches(e, got[j]); ok {
					m.Note = "out of order: the records of this key came in another order"
				}
				break
			}
		}
		out = append(out, m)
	}
	for j := range got {
		if !used[j] {
			out = append(out, Mismatch{Kind: "unexpected", Got: got[j]})
		}
	}
	return out
}

func keyID(e *Expect) string {
	switch {
	case e.KeyJSON != nil:
		b, _ := json.Marshal(e.KeyJSON)
		return "j" + string(b)
	case e.Key == nil:
		return "n"
	}
	return "s" + string(e.Key)
}

// formatExpect renders an expectation as one line of JSON.
func formatExpect(e *Expect) string {
	var parts []string
	if e.HasKey {
		switch {
		case e.KeyJSON != nil:
			parts = append(parts, `"key":`+compactJSON(e.KeyJSON))
		case e.Key == nil:
			parts = append(parts, `"key":null`)
		default:
			parts = append(parts, `"key":`+quote(string(e.Key)))
		}
	}
	if e.HasValue {
		parts = append(parts, `"value":`+compactJSON(e.Value))
	}
	if e.HasRaw {
		parts = append(parts, `"raw":`+quote(string(e.Raw)))
	}
	if e.Headers != nil {
		parts = append(parts, `"headers":`+compactJSON(headerMap(e.Headers)))
	}
	if e.Where != nil {
		parts = append(parts, `"where":`+quote(strings.TrimSpace(e.Where.Src)))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func headerMap(h map[string]*string) map[string]any {
	m := make(map[string]any, len(h))
	for k, v := range h {
		if v == nil {
			m[k] = nil
		} else {
			m[k] = *v
		}
	}
	return m
}

// formatGot renders a record as one line of JSON. With e set and listing
// headers, only those headers are shown; with e comparing key and value
// only, none; otherwise all of them.
func formatGot(g *Got, e *Expect) string {
	parts := []string{`"key":null`}
	if g.Key != nil {
		parts[0] = `"key":` + quote(string(g.Key))
	}
	switch {
	case g.Value == nil:
		parts = append(parts, `"value":null`)
	case json.Valid(g.Value):
		var b bytes.Buffer
		_ = json.Compact(&b, g.Value)
		parts = append(parts, `"value":`+b.String())
	default:
		parts = append(parts, `"raw":`+quote(string(g.Value)))
	}
	hs := map[string]any{}
	switch {
	case e != nil && e.Headers != nil:
		for name := range e.Headers {
			if v, ok := header(g.Headers, name); ok {
				hs[name] = v
			}
		}
	case e != nil && e.Where == nil:
		hs = nil
	default:
		for _, h := range g.Headers {
			hs[h.Key] = string(h.Value)
		}
	}
	if len(hs) > 0 {
		parts = append(parts, `"headers":`+compactJSON(hs))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func quote(s string) string { return compactJSON(s) }

// cellEqual compares a SQL cell with an expected one: null only equals
// null, numbers (and numeric text) compare by value, the rest as text.
func cellEqual(want, got any) bool {
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	a, b := cellText(want), cellText(got)
	return a == b || numEqual(a, b)
}

func cellText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case json.Number:
		return string(x)
	}
	return fmt.Sprint(v)
}

func formatRow(row []any) string {
	cells := make([]any, len(row))
	for i, c := range row {
		switch x := c.(type) {
		case []byte:
			cells[i] = string(x)
		case time.Time:
			cells[i] = x.UTC().Format(time.RFC3339Nano)
		default:
			cells[i] = c
		}
	}
	return compactJSON(cells)
}
