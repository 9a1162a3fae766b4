package instance

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLineBytes is the longest log line kept; the rest is cut off with a
// note of how much.
const MaxLineBytes = 16 << 10

// Sanitize makes one raw log line safe to store and show: ANSI escape
// sequences (colours, cursor moves, OSC titles and links) go, and so do NUL
// and every other control character but tab, including CR (which on a
// terminal would let a line overwrite itself and pass for another line),
// C1 controls and invalid UTF-8 (replaced by U+FFFD). Lines are stored as
// a JSON string field, so text that looks like JSON is only text.
func Sanitize(raw string) string {
	clean := true
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x20 && c != '\t' || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean && len(raw) <= MaxLineBytes {
		return raw
	}
	var b strings.Builder
	b.Grow(min(len(raw), MaxLineBytes))
	for i := 0; i < len(raw); {
		if b.Len() >= MaxLineBytes {
			fmt.Fprintf(&b, "… [%d bytes cut]", len(raw)-i)
			break
		}
		c := raw[i]
		if c == 0x1b {
			i = skipEscape(raw, i)
			continue
		}
		if c < 0x80 {
			if c >= 0x20 && c != 0x7f || c == '\t' {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(raw[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == 0x9b: // C1 CSI: an escape sequence in one code point
			i = skipCSI(raw, i+size)
			continue
		case r >= 0x80 && r <= 0x9f, r == '\u2028', r == '\u2029':
			// C1 controls, and the Unicode line and paragraph separators
			// some viewers break lines at.
		default:
			b.WriteString(raw[i : i+size])
		}
		i += size
	}
	return b.String()
}

// skipEscape returns the index after the escape sequence at raw[i] (an
// ESC): CSI (ESC [ … final byte), OSC, DCS, SOS, PM and APC strings (ended
// by BEL or ESC \), or a two-byte escape.
func skipEscape(raw string, i int) int {
	if i+1 >= len(raw) {
		return len(raw)
	}
	switch raw[i+1] {
	case '[':
		return skipCSI(raw, i+2)
	case ']', 'P', 'X', '^', '_':
		for j := i + 2; j < len(raw); j++ {
			if raw[j] == 0x07 {
				return j + 1
			}
			if raw[j] == 0x1b && j+1 < len(raw) && raw[j+1] == '\\' {
				return j + 2
			}
		}
		return len(raw)
	}
	return i + 2
}

// skipCSI skips parameter and intermediate bytes up to the final byte.
func skipCSI(raw string, j int) int {
	for ; j < len(raw); j++ {
		if c := raw[j]; c >= 0x40 && c <= 0x7e {
			return j + 1
		}
	}
	return len(raw)
}
