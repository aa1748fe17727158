package main

import (
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSecretFiles: each secret setting can come from a file named by its
// _FILE variable or --...-file flag, without its trailing newline; both
// ways at once, or a file that cannot be read, is an error naming the
// setting and the file and never the secret.
func TestSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("key", "sk_test_from_file_51Hx\n")
	hooks := write("hooks", "whsec_new_from_file,whsec_old_from_file\r\n")
	tokens := write("tokens", "wms:tok:with:colons-0123456789\n")
	empty := write("empty", "\n")

	cfg, err := loadConfig("serve", nil, envFunc(map[string]string{
		"STRIPE_SECRET_KEY_FILE": key, "STRIPE_WEBHOOK_SECRET_FILE": hooks, "FULFILLMENT_API_TOKEN_FILE": tokens,
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StripeSecretKey != "sk_test_from_file_51Hx" || !slices.Equal(cfg.WebhookSecrets, []string{"whsec_new_from_file", "whsec_old_from_file"}) ||
		len(cfg.APITokens) != 1 || cfg.APITokens[0] != (apiToken{Name: "wms", Token: "tok:with:colons-0123456789"}) {
		t.Errorf("from files: key %q, webhook secrets %q, tokens %+v", cfg.StripeSecretKey, cfg.WebhookSecrets, cfg.APITokens)
	}
	cfg, err = loadConfig("serve", []string{"--stripe-secret-key-file", key}, envFunc(map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_x"}), io.Discard)
	if err != nil || cfg.StripeSecretKey != "sk_test_from_file_51Hx" {
		t.Errorf("--stripe-secret-key-file: %v, key %q", err, cfg.StripeSecretKey)
	}

	missing := filepath.Join(dir, "nope")
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"both ways", map[string]string{"STRIPE_SECRET_KEY": "sk_test_env_secret", "STRIPE_SECRET_KEY_FILE": key, "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			[]string{"STRIPE_SECRET_KEY and STRIPE_SECRET_KEY_FILE are both set"}},
		{"unreadable", map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET_FILE": missing},
			[]string{"STRIPE_WEBHOOK_SECRET_FILE", missing, "no such file"}},
		{"empty", map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "FULFILLMENT_API_TOKEN_FILE": empty},
			[]string{"FULFILLMENT_API_TOKEN_FILE", "is empty"}},
		{"invalid content", map[string]string{"STRIPE_SECRET_KEY_FILE": tokens, "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			[]string{"STRIPE_SECRET_KEY_FILE (" + tokens + "): want a Stripe secret"}},
	}
	for _, tt := range tests {
		_, err := loadConfig("serve", nil, envFunc(tt.env), io.Discard)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not mention %q:\n%v", tt.name, w, err)
			}
		}
		for _, secret := range []string{"sk_test_from_file", "sk_test_env_secret", "colons-0123456789"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows a secret:\n%v", tt.name, err)
			}
		}
	}
}

func TestParseTokens(t *testing.T) {
	t.Parallel()
	got, err := parseTokens("wms:a:b:c-0123456789abcdef, shipbob:0123456789abcdef0, 0123456789abcdefgh", "default")
	want := []apiToken{{Name: "wms", Token: "a:b:c-0123456789abcdef"}, {Name: "shipbob", Token: "0123456789abcdef0"}, {Name: "default", Token: "0123456789abcdefgh"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("parseTokens: %+v, %v; want %+v", got, err, want)
	}
	for _, tt := range []struct{ in, want string }{
		{":0123456789abcdef", "entry 1 of 1 has no name before its ':'"},
		{"wms:0123456789abcdef,shipbob:", "entry 2 of 2 (shipbob) has no token after its ':'"},
		{"wms:short", "shorter than 16 characters"},
		{"wms:0123456789abcdef,,x", "entry 2 of 3 is empty"},
		{"w\x1b[31m:0123456789abcdef", "control characters"},
		{"wms:0123456789abcdef,wms:0123456789abcdefX", `"wms" used twice`},
	} {
		_, err := parseTokens(tt.in, "default")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseTokens(%q): %v, want an error mentioning %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("parseTokens(%q): the error shows a token: %v", tt.in, err)
		}
	}
}

func TestSafeRow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"Ada Lovelace", "Ada Lovelace"},
		{"=HYPERLINK(\"http://evil.example\")", "'=HYPERLINK(\"http://evil.example\")"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"-2+3", "'-2+3"},
		{"+1-1", "'+1-1"},
		{"-1/2", "'-1/2"},
		{"+1-555-0100", "'+1-555-0100"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"+44 20 7946 0958", "+44 20 7946 0958"},
		{"+1 (555) 010 0100", "+1 (555) 010 0100"},
		{"-1", "-1"},
		{"-12.50", "-12.50"},
		{"\nline", "'\nline"},
		{"", ""},
	} {
		if got := safeRow(tt.in)[0]; got != tt.want {
			t.Errorf("safeRow(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAdminTokens: FULFILLMENT_ADMIN_TOKEN (--admin-token, _FILE) reads
// like FULFILLMENT_API_TOKEN, its tokens marked admin; a token or a name
// that is both an admin's and a warehouse's is refused at start-up, naming
// the names and never the tokens.
func TestAdminTokens(t *testing.T) {
	t.Parallel()
	base := map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "FULFILLMENT_API_TOKEN": "wms:wms-token-0123456789"}
	with := func(k, v string) map[string]string {
		m := maps.Clone(base)
		m[k] = v
		return m
	}
	file := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(file, []byte("ops:ops-token-0123456789,0123456789abcdefgh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []apiToken{{Name: "ops", Token: "ops-token-0123456789", Admin: true}, {Name: "admin", Token: "0123456789abcdefgh", Admin: true}}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"env", with("FULFILLMENT_ADMIN_TOKEN", "ops:ops-token-0123456789, 0123456789abcdefgh"), nil},
		{"file", with("FULFILLMENT_ADMIN_TOKEN_FILE", file), nil},
		{"flag", base, []string{"--admin-token", "ops:ops-token-0123456789,0123456789abcdefgh"}},
	} {
		cfg, err := loadConfig("serve", tt.args, envFunc(tt.env), io.Discard)
		if err != nil || !slices.Equal(cfg.AdminTokens, want) || len(cfg.APITokens) != 1 || cfg.APITokens[0].Admin {
			t.Errorf("%s: admin %+v, warehouse %+v, %v; want admin %+v", tt.name, cfg.AdminTokens, cfg.APITokens, err, want)
		}
	}
	for _, tt := range []struct{ name, admin, want string }{
		{"same token", "ops:wms-token-0123456789", "FULFILLMENT_ADMIN_TOKEN (ops) and FULFILLMENT_API_TOKEN (wms) hold the same token"},
		{"same name", "wms:ops-token-0123456789", `token name "wms" is both an admin's`},
		{"short", "ops:short", "FULFILLMENT_ADMIN_TOKEN: entry 1 of 1 (ops): the token is shorter than 16 characters"},
	} {
		_, err := loadConfig("serve", nil, envFunc(with("FULFILLMENT_ADMIN_TOKEN", tt.admin)), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "token-0123456789") {
			t.Errorf("%s: the error shows a token: %v", tt.name, err)
		}
	}
}
