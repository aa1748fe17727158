package main

import (
	"context"
	"regexp"
	"testing"
)

// TestLoadtest runs the load tool, small, through run: every event accepted,
// every order recorded, one Stripe call per order, no 429s.
func TestLoadtest(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	args := []string{"loadtest", "--events", "40", "--connections", "8", "--items", "3",
		"--stripe-latency", "5ms", "--stripe-rate-limit", "200", "--stripe-max-rps", "150", "--workers", "8"}
	if err := run(context.Background(), args, envFunc(nil), &stdout, &stderr); err != nil {
		t.Fatalf("loadtest: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, re := range []string{
		`\(40 accepted in `,
		`Stripe calls per order\s+1\.00\s+\(40 calls\)`,
		`429s received\s+0\n`,
		`drain time\s+\S+\s+floor`,
		`webhook-to-order latency\s+p50 \S+\s+p99 \S+`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", re, out)
		}
	}
}
