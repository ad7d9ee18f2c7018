package printable

import "testing"

func TestBytes(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                    "plain",
		"":                         "",
		"a\nb\tc\rd":               `a\nb\tc\rd`,
		"bad \xff byte":            `bad \xff byte`,
		"bell\x07":                 `bell\u0007`,
		"ünïcödé ok":               "ünïcödé ok",
		`{"json":"kept"}`:          `{"json":"kept"}`,
		"\x1b]0;owned\x07":         `\u001b]0;owned\u0007`,
		"\x1b[2J\x1b[H":            `\u001b[2J\u001b[H`,
		"del\x7f":                  `del\u007f`,
		"c1 csi \u009b31m":         `c1 csi \u009b31m`,
		"line\u2028sep":            `line\u2028sep`,
		"rtl \u202egnp.exe":        `rtl \u202egnp.exe`,
		"emoji 🍩 and nbsp\u00a0ok": `emoji 🍩 and nbsp\u00a0ok`,
	} {
		if got := Bytes([]byte(in)); got != want {
			t.Errorf("Bytes(%q) = %q, want %q", in, got, want)
		}
		if got := string(Append([]byte("> "), []byte(in))); got != "> "+want {
			t.Errorf("Append(%q) = %q, want %q", in, got, "> "+want)
		}
	}
}
