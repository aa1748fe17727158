package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
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

// oneLine squeezes s onto one line of at most n runes, escaped for the
// terminal.
func oneLine(s string, n int) string {
	s = printable(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// stamp is t in UTC, RFC 3339, for text output and CSV cells.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// plural is one for n == 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// decimal formats an amount in the currency's smallest unit in major units:
// 1250 eur → "12.50", 500 jpy → "500".
func decimal(amount int64, currency string) string {
	s := money(amount, currency)
	return s[strings.IndexByte(s, ' ')+1:]
}

// writeIndentedJSON writes v as JSON indented by two spaces, with a newline.
func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
