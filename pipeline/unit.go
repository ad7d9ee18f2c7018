package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as Go writes it: "500ms", "1m30s".
type Duration time.Duration

// ParseDuration parses a duration strictly: a unit is required and the value
// must not be negative.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, for example 500ms, 10s or 1m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return Duration(d), nil
}

// Rate is a number of events per second, written "50/s", "3000/m" or "2/h".
type Rate float64

// ParseRate parses "N/unit" with unit s, m or h (or a Go duration such as 100ms).
func ParseRate(s string) (Rate, error) {
	num, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	bad := func(why string) (Rate, error) {
		return 0, fmt.Errorf("invalid rate %q: %s, for example 50/s, 3000/m or 10/100ms", s, why)
	}
	if !ok {
		return bad("want N/unit")
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return bad("the count must be a positive number")
	}
	var window time.Duration
	switch per = strings.TrimSpace(per); per {
	case "s":
		window = time.Second
	case "m":
		window = time.Minute
	case "h":
		window = time.Hour
	default:
		window, err = time.ParseDuration(per)
		if err != nil || window <= 0 {
			return bad("the unit must be s, m, h or a positive duration")
		}
	}
	return Rate(n / window.Seconds()), nil
}

// Size is a number of bytes, written "512", "64KiB", "1MiB", "1MB" or "2GiB".
type Size int64

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses a byte count with an optional binary or decimal unit.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, factor = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/factor {
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes with an optional unit, for example 512, 64KiB, 1MiB or 1GB", s)
	}
	return Size(n * factor), nil
}
