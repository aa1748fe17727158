package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// access is who may call a /v1 route.
type access uint8

const (
	anyToken   access = iota // a warehouse's token or an admin's
	adminToken               // an admin's only: the merchant API
)

// requireToken guards /v1 with bearer tokens compared in constant time, and
// puts the name of the token used in the request's context (tokenName).
// The guard it returns lets a request through when its token may call the
// route (need): any token for anyToken routes, an admin token for
// adminToken routes (a warehouse token gets 403). With no token configured
// it refuses every request. Tokens are never logged. refused (may be nil)
// learns each refusal's reason, missing_token, unknown_token or forbidden;
// the log has at most a few unknown-token lines a minute.
func requireToken(log *slog.Logger, tokens []Token, refused func(reason string)) func(need access, next http.Handler) http.Handler {
	unknown := newLogSampler(log, time.Now)
	if refused == nil {
		refused = func(string) {}
	}
	match := matchToken(tokens)
	return func(need access, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || raw == "" {
				refused("missing_token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="fulfillmentd"`)
				writeProblem(w, http.StatusUnauthorized, "missing bearer token")
				return
			}
			t, _ := match(raw)
			name, admin := t.Name, t.Admin
			switch {
			case name == "":
				refused("unknown_token")
				unknown.Warn("api request with unknown token", "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="fulfillmentd", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "unknown bearer token")
				return
			case need == adminToken && !admin:
				refused("forbidden")
				writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeForbidden,
					"%s %s takes an admin token (FULFILLMENT_ADMIN_TOKEN); %s is a warehouse token", r.Method, r.URL.Path, name))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenNameKey{}, name)))
		})
	}
}

type tokenNameKey struct{}

// tokenName is the name of the API token that authenticated the request
// ("" outside requireToken).
func tokenName(ctx context.Context) string {
	name, _ := ctx.Value(tokenNameKey{}).(string)
	return name
}

// MatchToken returns the name of the token among tokens that raw is, and
// whether one is (matchToken): the console's sign-in.
func MatchToken(tokens []Token) func(raw string) (name string, ok bool) {
	match := matchToken(tokens)
	return func(raw string) (string, bool) {
		t, ok := match(raw)
		return t.Name, ok
	}
}

// matchToken returns the token among tokens that raw is, comparing in
// constant time: hashes first, so every comparison has the same length,
// and every token is compared.
func matchToken(tokens []Token) func(raw string) (Token, bool) {
	type digest struct {
		token Token
		sum   [sha256.Size]byte
	}
	digests := make([]digest, len(tokens))
	for i, t := range tokens {
		digests[i] = digest{t, sha256.Sum256([]byte(t.Token))}
	}
	return func(raw string) (Token, bool) {
		if raw == "" {
			return Token{}, false
		}
		sum := sha256.Sum256([]byte(raw))
		var found Token
		for _, d := range digests {
			if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
				found = d.token
			}
		}
		return found, found.Name != ""
	}
}
