package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable is s made safe for a terminal: every rune that is not printable
// (C0 and C1 controls, DEL, format characters such as bidi overrides,
// invalid UTF-8) is written as its Go escape (\x1b, \n, \u202e), as
// strconv.Quote would, without the quotes; ordinary Unicode text is kept.
// Every text and table output passes the text it did not write itself
// (buyer, warehouse, Stripe and configuration text) through it, so no such
// text can move the cursor, recolour, retitle the terminal or forge a row.
// JSON outputs stay exact.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])>>4, 16) + strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unicode.IsPrint(r) || r == ' ':
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// printableLines is printable for text of several lines (an indented JSON
// body): the line breaks are kept, everything else is escaped.
func printableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	return strings.Join(lines, "\n")
}
