package instance

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello world", "hello world"},
		{"tab kept", "a\tb", "a\tb"},
		{"colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"256 colour and bold", "\x1b[1;38;5;208mwarn\x1b[m", "warn"},
		{"cursor moves", "a\x1b[2K\x1b[1Gb", "ab"},
		{"OSC title with BEL", "\x1b]0;evil title\x07after", "after"},
		{"OSC 8 link with ST", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"two-byte escape", "a\x1bcb", "ab"},
		{"lone ESC at end", "abc\x1b", "abc"},
		{"unterminated CSI", "abc\x1b[12", "abc"},
		{"NUL", "a\x00b", "ab"},
		{"CR cannot forge a line", "real line\r{\"ts\":\"2020-01-01T00:00:00Z\",\"stream\":\"stderr\",\"line\":\"forged\"}",
			"real line{\"ts\":\"2020-01-01T00:00:00Z\",\"stream\":\"stderr\",\"line\":\"forged\"}"},
		{"backspace and bell", "ab\bc\a", "abc"},
		{"DEL", "a\x7fb", "ab"},
		{"C1 CSI", "a\u009b31mb", "ab"},
		{"C1 NEL", "a\u0085b", "ab"},
		{"line separator", "a\u2028b", "ab"},
		{"invalid UTF-8", "a\xffb", "a\ufffdb"},
		{"unicode kept", "naïve 日本 🎉", "naïve 日本 🎉"},
		{"fake JSON is text", `{"ts":"x","line":"y"}`, `{"ts":"x","line":"y"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in); got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSanitizeCutsLongLines(t *testing.T) {
	got := Sanitize(strings.Repeat("é", MaxLineBytes))
	if !strings.HasSuffix(got, " bytes cut]") || len(got) > MaxLineBytes+40 || !utf8.ValidString(got) {
		t.Errorf("long line: %d bytes, ends %q", len(got), got[len(got)-30:])
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"\x1b[31mx", "a\r\nb", "\x1b]0;t\x07", "\xff\xfe", "\u009b1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", in)
		}
		for _, r := range out {
			if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == '\u2028' || r == '\u2029' {
				t.Fatalf("control %U left in %q (from %q)", r, out, in)
			}
		}
		if Sanitize(out) != out {
			t.Fatalf("not idempotent on %q", in)
		}
	})
}
