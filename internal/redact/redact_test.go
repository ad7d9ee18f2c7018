package redact

import (
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	for _, tc := range []struct {
		secrets []string
		in      string
		want    string
	}{
		// Whole, and the piece a parser split off at '@'.
		{[]string{"PW@SECRET2"}, "auth PW@SECRET2; lookup SECRET2@127.0.0.1", "auth [redacted]; lookup [redacted]@127.0.0.1"},
		// Quoted and escaped forms, as drivers echo them.
		{[]string{`'it''s SECRET6'`, "it's SECRET6"}, "password=xxxxx SECRET6' dbname=db", "password=xxxxx [redacted]' dbname=db"},
		// Key names inside a value stay; their values go.
		{[]string{"clientId=app clientSecret=SECRETK2"}, "bad clientSecret: SECRETK2", "bad clientSecret: [redacted]"},
		// Short secrets and pieces are left alone.
		{[]string{"ab", "x@abc"}, "ab abc x@abc", "ab abc [redacted]"},
		{nil, "nothing", "nothing"},
	} {
		if got := Secrets(tc.in, tc.secrets...); got != tc.want {
			t.Errorf("Secrets(%q, %q) = %q, want %q", tc.in, tc.secrets, got, tc.want)
		}
	}
	if w := strings.Join(Words("a:bcde@fghij"), ","); w != "a:bcde@fghij,fghij,bcde" {
		t.Errorf("Words = %s", w)
	}
}
