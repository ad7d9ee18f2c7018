package httpsource

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	for ct, want := range map[string]bodyKind{
		"application/json":                  document,
		"application/json; charset=utf-8":   document,
		"application/vnd.orders+json":       document,
		"application/x-ndjson":              lines,
		"application/jsonl":                 lines,
		"text/plain":                        sniffed,
		"":                                  sniffed,
		"application/x-www-form-urlencoded": sniffed,
	} {
		if got := kindOf(ct); got != want {
			t.Errorf("kindOf(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind bodyKind
		body string
		want []any
	}{
		{"object", document, `{"id": 1, "name": "a"}`, []any{map[string]any{"id": int64(1), "name": "a"}}},
		{"array", document, `[{"id": 1}, {"id": 2}, 3]`, []any{map[string]any{"id": int64(1)}, map[string]any{"id": int64(2)}, int64(3)}},
		{"empty array", document, ` [] `, []any{}},
		{"ndjson", lines, "{\"id\": 1}\n\n{\"id\": 2}\r\n", []any{map[string]any{"id": int64(1)}, map[string]any{"id": int64(2)}}},
		{"ndjson of one array", lines, `[1, 2]`, []any{[]any{int64(1), int64(2)}}},
		{"big integer kept", document, `{"id": 123456789012345678901234567890}`, []any{map[string]any{"id": json.Number("123456789012345678901234567890")}}},
		{"sniffed array", sniffed, "[{\"id\": 1},\n{\"id\": 2}]", []any{map[string]any{"id": int64(1)}, map[string]any{"id": int64(2)}}},
		{"sniffed one line", sniffed, `{"id": 1}`, []any{map[string]any{"id": int64(1)}}},
		{"sniffed pretty object", sniffed, "{\n  \"id\": 1\n}\n", []any{map[string]any{"id": int64(1)}}},
		{"sniffed ndjson", sniffed, "{\"id\": 1}\n{\"id\": 2}\n", []any{map[string]any{"id": int64(1)}, map[string]any{"id": int64(2)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad, err := parseBody([]byte(tc.body), tc.kind)
			if err != nil || bad != nil {
				t.Fatalf("parseBody: bad %v, error %v", bad, err)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseBodyBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind bodyKind
		body string
		want []BadRecord // reasons compared by prefix
	}{
		{"ndjson lines", lines, "{\"id\": 1}\n{\"id\": \n\n{\"id\": 3}\nnull\n{oops}\n", []BadRecord{
			{Index: 1, Line: 2, Reason: "not JSON"}, {Index: 3, Line: 5, Reason: "null is not a record"}, {Index: 4, Line: 6, Reason: "not JSON"},
		}},
		{"sniffed ndjson", sniffed, "{\"id\": 1}\n{\"id\": 2,}\n", []BadRecord{{Index: 1, Line: 2, Reason: "not JSON"}}},
		{"null element", document, `[{"id": 1}, null, {"id": 3}, null]`, []BadRecord{
			{Index: 1, Reason: "null is not a record"}, {Index: 3, Reason: "null is not a record"},
		}},
		{"broken element", document, `[{"id": 1}, {"id": 2}, {"id": 3,, }, {"id": 4}]`, []BadRecord{{Index: 2, Reason: "not JSON"}}},
		{"top-level null", document, `null`, []BadRecord{{Index: 0, Reason: "null is not a record"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, bad, err := parseBody([]byte(tc.body), tc.kind)
			if err != nil || vals != nil {
				t.Fatalf("want bad records; got values %v, error %v", vals, err)
			}
			if len(bad) != len(tc.want) {
				t.Fatalf("bad = %+v, want %+v", bad, tc.want)
			}
			for i, b := range bad {
				w := tc.want[i]
				if b.Index != w.Index || b.Line != w.Line || !strings.HasPrefix(b.Reason, w.Reason) {
					t.Errorf("bad[%d] = %+v, want %+v", i, b, w)
				}
			}
		})
	}
}

func TestParseBodyNotRecords(t *testing.T) {
	for name, tc := range map[string]struct {
		kind bodyKind
		body string
		want string
	}{
		"empty":             {document, " \n", "the body is empty"},
		"empty sniffed":     {sniffed, "", "the body is empty"},
		"not json":          {document, "hello", "the body is not JSON"},
		"unclosed array":    {document, `[{"id": 1}`, "the body is not JSON"},
		"two values as one": {document, `{"id": 1} {"id": 2}`, "the body is not JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			vals, bad, err := parseBody([]byte(tc.body), tc.kind)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || vals != nil || bad != nil {
				t.Errorf("got values %v, bad %v, error %v; want error %q", vals, bad, err, tc.want)
			}
		})
	}
}
