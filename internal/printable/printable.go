// Package printable escapes record bytes for a terminal, so that a key or
// value cannot move the cursor, set the window title, clear the screen or
// start a line that looks like a log line of its own.
//
// Control characters become \n, \r, \t or \uXXXX (C0, DEL, C1, and other
// runes unicode.IsPrint rejects: line separators, bidirectional overrides),
// and bytes that are not UTF-8 become \xNN. Everything else, spaces
// included, stays as it is. A backslash is not escaped, so the output is
// for people to read, not to decode.
package printable

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Bytes returns b escaped.
func Bytes(b []byte) string {
	if safe(b) {
		return string(b)
	}
	return string(Append(make([]byte, 0, len(b)+16), b))
}

// Append appends b, escaped, to dst.
func Append(dst, b []byte) []byte {
	if safe(b) {
		return append(dst, b...)
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\x`...)
			dst = appendHex(dst, uint32(b[0]), 2)
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case !unicode.IsPrint(r) && r != ' ':
			dst = append(dst, `\u`...)
			dst = appendHex(dst, uint32(r), 4)
		default:
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// safe reports whether b is printable ASCII only, the common case, which
// needs no escaping.
func safe(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// appendHex writes v in lower-case hex, zero-padded to at least width digits.
func appendHex(dst []byte, v uint32, width int) []byte {
	s := strconv.FormatUint(uint64(v), 16)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
