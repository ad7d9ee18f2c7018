package pipeline

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"500ms", 500 * time.Millisecond, true},
		{"1m30s", 90 * time.Second, true},
		{" 2h ", 2 * time.Hour, true},
		{"30", 0, false},
		{"-1s", 0, false},
		{"fast", 0, false},
		{"", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && time.Duration(got) != tc.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tc.in, time.Duration(got), err, tc.want, tc.ok)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"50/s", 50, true},
		{"3000/m", 50, true},
		{"7200/h", 2, true},
		{"10/100ms", 100, true},
		{"0.5/s", 0.5, true},
		{"50", 0, false},
		{"0/s", 0, false},
		{"-5/s", 0, false},
		{"50/sec", 0, false},
		{"x/s", 0, false},
		{"5/0s", 0, false},
	} {
		got, err := ParseRate(tc.in)
		if (err == nil) != tc.ok || (tc.ok && float64(got) != tc.want) {
			t.Errorf("ParseRate(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true},
		{"64KiB", 64 << 10, true},
		{"1MiB", 1 << 20, true},
		{"1MB", 1000000, true},
		{"2GiB", 2 << 30, true},
		{"10B", 10, true},
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"1TB", 0, false},
		{"big", 0, false},
		{"99999999999GiB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int64(got) != tc.want) {
			t.Errorf("ParseSize(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"HOST": "kafka:9092", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"${HOST}", "kafka:9092", ""},
		{"a ${HOST} b", "a kafka:9092 b", ""},
		{"${MISSING:-embedded}", "embedded", ""},
		{"${EMPTY:-fallback}", "fallback", ""},
		{"${EMPTY}", "", ""},
		{"${MISSING:-}", "", ""},
		{"cost $$5 and $x", "cost $5 and $x", ""},
		{"${MISSING}", "", "environment variable MISSING is not set (write ${MISSING:-default} to give a default)"},
		{"${HOST", "", `unclosed ${ in "${HOST"`},
		{"${1BAD}", "", `invalid variable name "1BAD" in ${1BAD}`},
	} {
		got, err := interpolate(tc.in, lookup)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("interpolate(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
