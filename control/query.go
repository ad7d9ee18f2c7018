package control

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// recordQuery reads the records route's parameters: from, partition,
// limit, where, raw.
func recordQuery(topic string, v url.Values) (RecordQuery, error) {
	q := RecordQuery{Topic: topic, Where: v.Get("where")}
	if err := parseFrom(v.Get("from"), &q); err != nil {
		return q, err
	}
	if p := v.Get("partition"); p != "" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return q, badQuery("partition %q: want a partition number", p)
		}
		part := int32(n)
		q.Partition = &part
	}
	limit, err := limitParam(v.Get("limit"))
	if err != nil {
		return q, err
	}
	q.Limit = limit
	if raw := v.Get("raw"); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return q, badQuery("raw %q: want true or false", raw)
		}
		q.Raw = b
	}
	return q, nil
}

// parseFrom reads from=beginning|end|offset:N|time:RFC3339|next:P=O,...
// (default end).
func parseFrom(from string, q *RecordQuery) error {
	kind, arg, _ := strings.Cut(from, ":")
	switch FromKind(kind) {
	case "", FromEnd:
		q.From = FromEnd
	case FromBeginning:
		q.From = FromBeginning
	case FromOffset:
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 {
			return badQuery("from %q: want offset:N with N an offset", from)
		}
		q.From, q.Offset = FromOffset, n
	case FromTime:
		t, err := time.Parse(time.RFC3339Nano, arg)
		if err != nil {
			return badQuery("from %q: want time:RFC3339, as 2025-06-01T12:00:00Z", from)
		}
		q.From, q.Time = FromTime, t
	case FromNext:
		next, err := ParseNext(arg)
		if err != nil {
			return &QueryError{Err: fmt.Errorf("from %q: %w", from, err)}
		}
		q.From, q.Next = FromNext, next
	default:
		return badQuery("from %q: want beginning, end, offset:N, time:RFC3339 or next:P=O,...", from)
	}
	if kind != string(FromOffset) && kind != string(FromTime) && kind != string(FromNext) && arg != "" {
		return badQuery("from %q: %s takes no argument", from, kind)
	}
	return nil
}

// ParseNext reads a RecordPage.Next: "partition=offset" pairs separated by
// commas ("" is none).
func ParseNext(s string) (map[int32]int64, error) {
	next := map[int32]int64{}
	if s == "" {
		return next, nil
	}
	for pair := range strings.SplitSeq(s, ",") {
		ps, os, ok := strings.Cut(pair, "=")
		p, perr := strconv.ParseInt(ps, 10, 32)
		o, oerr := strconv.ParseInt(os, 10, 64)
		if !ok || perr != nil || oerr != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("%q is not partition=offset", pair)
		}
		next[int32(p)] = o
	}
	return next, nil
}

// FormatNext writes next offsets as RecordPage.Next wants them: by
// partition, ascending.
func FormatNext(next map[int32]int64) string {
	parts := make([]string, 0, len(next))
	for _, p := range slices.Sorted(maps.Keys(next)) {
		parts = append(parts, fmt.Sprintf("%d=%d", p, next[p]))
	}
	return strings.Join(parts, ",")
}
