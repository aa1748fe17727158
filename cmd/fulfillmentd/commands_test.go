package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpExitsZero: every command's and subcommand's -h and --help print
// its usage, with each flag's default, on stdout and succeed.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"Usage:", "fulfillmentd serve"}},
		{[]string{"serve"}, []string{"Usage of serve:", `-data-dir string`, `(default "./data")`, `(default ":8080")`, `(default "8")`, `(default "https://api.stripe.com")`}},
		{[]string{"demo"}, []string{"Usage of demo:", `(default "127.0.0.1:8080")`}},
		{[]string{"loadtest"}, []string{"Usage of loadtest:", "(default 2000)", "(default 32)", `(default "whsec_loadtest")`, "(default 15m0s)"}},
		{[]string{"cross-sells"}, []string{"Usage:", "cross-sells check"}},
		{[]string{"cross-sells", "check"}, []string{"Usage of cross-sells check:", "-automatic-tax", `(default "https://api.stripe.com")`, `(default "20")`}},
		{[]string{"cross-sells", "report"}, []string{"Usage of cross-sells report:", `(default "30d")`, `(default "./data")`}},
		{[]string{"orders"}, []string{"Usage:", "orders export"}},
		{[]string{"orders", "list"}, []string{"Usage of orders list:", `(default "table")`, `(default "./data")`}},
		{[]string{"orders", "show"}, []string{"Usage:", "orders show <id>", `(default "text")`, `(default "./data")`}},
		{[]string{"orders", "export"}, []string{"Usage of orders export:", "-format", `(default "./data")`}},
		{[]string{"dlq"}, []string{"Usage:", "dlq purge"}},
		{[]string{"dlq", "list"}, []string{"Usage of dlq list:", "-json", `(default "./data")`}},
		{[]string{"dlq", "show"}, []string{"Usage of dlq show:", "-json", `(default "./data")`}},
		{[]string{"dlq", "retry"}, []string{"Usage of dlq retry:", "-all", `(default "./data")`}},
		{[]string{"dlq", "purge"}, []string{"Usage of dlq purge:", "-before", `(default "./data")`}},
		{[]string{"reconcile"}, []string{"Usage:", "fulfillmentd reconcile", `(default "72h")`, `(default "./data")`}},
	}
	for _, tt := range tests {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, tt.args...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				var stdout, stderr bytes.Buffer
				if err := run(context.Background(), args, envFunc(nil), &stdout, &stderr); err != nil {
					t.Fatalf("run: %v (stderr %q)", err, stderr.String())
				}
				for _, w := range tt.want {
					if !strings.Contains(stdout.String(), w) {
						t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
					}
				}
				if stderr.Len() != 0 {
					t.Errorf("stderr: %q", stderr.String())
				}
			})
		}
	}
}

// TestFlagErrorsStillFail: a bad flag is an error, its usage on stderr.
func TestFlagErrorsStillFail(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve", "--nope"}, {"demo", "--nope"}, {"dlq", "list", "--nope"}, {"orders", "list", "--nope"}, {"cross-sells", "report", "--nope"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, envFunc(nil), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "flag provided but not defined") {
			t.Errorf("%v: err %v", args, err)
		}
		if !strings.Contains(stderr.String(), "Usage of ") || stdout.Len() != 0 {
			t.Errorf("%v: stdout %q, stderr %q", args, stdout.String(), stderr.String())
		}
	}
}

// TestInProcessConfigValidated: demo and loadtest build their in-process
// instance's config through serve's settings, so a bad override fails as
// it would for serve.
func TestInProcessConfigValidated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"loadtest", "--events", "1", "--webhook-secret", "not-a-secret"}, "each secret must start with whsec_"},
		{[]string{"loadtest", "--events", "1", "--stripe-max-rps", "-1"}, "STRIPE_MAX_RPS"},
		{[]string{"demo", "--exit", "--addr", "nope"}, "FULFILLMENT_ADDR: want host:port"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tt.args, envFunc(nil), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
	}
}
