// Package redact keeps secrets out of messages. A driver that mis-parses a
// connection string can print part of a password (a host "SECRET@db" cut
// from the password "pw@SECRET"), so a secret is hidden whole and also in
// the pieces a parser could split it into.
package redact

import (
	"sort"
	"strings"
)

// Mark replaces what is hidden.
const Mark = "[redacted]"

// Minimum lengths: shorter secrets and pieces are left alone, since hiding
// every "ab" would garble messages and reveal little.
const (
	minSecret = 3
	minPiece  = 4
)

// separator reports the characters connection strings and property values
// are split at: URL and MySQL DSN syntax, key=value syntax, quotes,
// escapes and white space.
func separator(r rune) bool {
	switch r {
	case '@', ':', '/', '?', '#', '&', '=', ',', ';', '(', ')', '[', ']', '\'', '"', '\\', '%', '+':
		return true
	}
	return r == ' ' || r == '\t' || r == '\n' || r == '\r'
}

// Words lists what Secrets hides for the given secrets, longest first: each
// secret, and each piece of it between separators, except a piece followed
// by '=' (a key name in a value such as "clientId=a clientSecret=b").
func Words(secrets ...string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string, min int) {
		if len(w) >= min && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, s := range secrets {
		add(s, minSecret)
		start := -1
		for i, r := range s + " " {
			if !separator(r) {
				if start < 0 {
					start = i
				}
				continue
			}
			if start >= 0 && r != '=' {
				add(s[start:i], minPiece)
			}
			start = -1
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// Secrets returns s with every word of the secrets (see Words) replaced by
// Mark, in one pass, preferring the longest match.
func Secrets(s string, secrets ...string) string {
	words := Words(secrets...)
	if len(words) == 0 {
		return s
	}
	pairs := make([]string, 0, 2*len(words))
	for _, w := range words {
		pairs = append(pairs, w, Mark)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
