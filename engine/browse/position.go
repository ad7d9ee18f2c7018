package browse

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Position is where a read stopped: per partition, the offset of the next
// record to read. Its text form, "0=13,1=41", resumes a read
// (from=next:0=13,1=41).
type Position map[int32]int64

// String is "partition=offset" pairs by partition, comma separated.
func (p Position) String() string {
	var b strings.Builder
	for i, part := range slices.Sorted(maps.Keys(p)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d=%d", part, p[part])
	}
	return b.String()
}

// ParsePosition reads Position's text form; "" is an empty position.
func ParsePosition(s string) (Position, error) {
	p := Position{}
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	for pair := range strings.SplitSeq(s, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(pair), "=")
		part, perr := strconv.ParseInt(ps, 10, 32)
		off, oerr := strconv.ParseInt(os, 10, 64)
		if !ok || perr != nil || oerr != nil || part < 0 || off < 0 {
			return nil, usage("position %q: want partition=offset pairs, comma separated (0=13,1=41)", s)
		}
		if _, dup := p[int32(part)]; dup {
			return nil, usage("position %q: partition %d twice", s, part)
		}
		p[int32(part)] = off
	}
	return p, nil
}

// StartKind is how a From picks each partition's first offset.
type StartKind int

// Start kinds.
const (
	FromEnd       StartKind = iota // the end: only records written after the read starts
	FromBeginning                  // the first offset kept
	FromOffset                     // Offset, on every partition read (clamped to the ones kept)
	FromTime                       // the first record at or after Time
	FromNext                       // Next's offset per partition; a partition it lacks from its beginning
)

// From is where a read starts, parsed from beginning, end, offset:N,
// time:RFC3339 or next:POSITION.
type From struct {
	Kind   StartKind
	Offset int64
	Time   time.Time
	Next   Position
}

// ParseFrom reads a from position; "" is end.
func ParseFrom(s string) (From, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch kind {
	case "", "end":
		if arg == "" {
			return From{Kind: FromEnd}, nil
		}
	case "beginning":
		if arg == "" {
			return From{Kind: FromBeginning}, nil
		}
	case "offset":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 {
			return From{}, usage("from %q: offset:N wants a number N, 0 or more", s)
		}
		return From{Kind: FromOffset, Offset: n}, nil
	case "time":
		t, err := time.Parse(time.RFC3339, arg)
		if err != nil {
			return From{}, usage("from %q: time: wants an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		return From{Kind: FromTime, Time: t}, nil
	case "next":
		p, err := ParsePosition(arg)
		if err != nil {
			return From{}, err
		}
		return From{Kind: FromNext, Next: p}, nil
	}
	return From{}, usage("from %q: want beginning, end, offset:N, time:RFC3339 or next:0=13,1=41", s)
}

// sortedPartitions returns p's partitions in order.
func sortedPartitions(p []bounds) []bounds {
	slices.SortFunc(p, func(a, b bounds) int { return cmp.Compare(a.partition, b.partition) })
	return p
}
