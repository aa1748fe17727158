package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestFaultSettings covers the settings the fault tests brought in:
// defaults, valid values, and every invalid one named in the error.
func TestFaultSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
	cfg, err := loadConfig("serve", nil, envFunc(base), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATSReplicas != 1 || cfg.AckWait != 10*time.Second || cfg.StripeTimeout != 20*time.Second {
		t.Errorf("defaults: replicas %d, ack wait %s, stripe timeout %s", cfg.NATSReplicas, cfg.AckWait, cfg.StripeTimeout)
	}
	if hc := cfg.stripeHTTPClient(); hc == nil || hc.Timeout != 20*time.Second {
		t.Errorf("stripe HTTP client %+v", hc)
	}
	if hc := (config{}).stripeHTTPClient(); hc != nil {
		t.Errorf("a config built in code without a timeout gets %+v, want nil (stripeapi's default)", hc)
	}

	cfg, err = loadConfig("serve", []string{"--nats-replicas", "3", "--ack-wait", "5s", "--stripe-timeout", "1s"}, envFunc(base), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATSReplicas != 3 || cfg.AckWait != 5*time.Second || cfg.StripeTimeout != time.Second {
		t.Errorf("flags: replicas %d, ack wait %s, stripe timeout %s", cfg.NATSReplicas, cfg.AckWait, cfg.StripeTimeout)
	}

	bad := map[string]string{"FULFILLMENT_NATS_REPLICAS": "7", "FULFILLMENT_ACK_WAIT": "1s", "STRIPE_TIMEOUT": "soon"}
	for k, v := range base {
		bad[k] = v
	}
	_, err = loadConfig("serve", nil, envFunc(bad), io.Discard)
	if err == nil {
		t.Fatal("invalid settings accepted")
	}
	for k := range bad {
		if !strings.HasPrefix(k, "STRIPE_SECRET") && !strings.HasPrefix(k, "STRIPE_WEBHOOK") && !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %s:\n%v", k, err)
		}
	}
}
