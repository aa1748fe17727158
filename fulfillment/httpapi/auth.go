package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// requireToken guards /v1 with bearer tokens compared in constant time, and
// puts the name of the token used in the request's context (tokenName).
// With no token configured it refuses every request. Tokens are never logged.
// refused (may be nil) learns each refusal's reason, missing_token or
// unknown_token; the log has at most a few unknown-token lines a minute.
func requireToken(log *slog.Logger, tokens []Token, refused func(reason string)) func(http.Handler) http.Handler {
	unknown := newLogSampler(log, time.Now)
	if refused == nil {
		refused = func(string) {}
	}
	match := MatchToken(tokens)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || raw == "" {
				refused("missing_token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="fulfillmentd"`)
				writeProblem(w, http.StatusUnauthorized, "missing bearer token")
				return
			}
			name, _ := match(raw)
			if name == "" {
				refused("unknown_token")
				unknown.Warn("api request with unknown token", "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="fulfillmentd", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "unknown bearer token")
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
// whether one is, comparing in constant time (hashes first, so every
// comparison has the same length, and every token is compared).
func MatchToken(tokens []Token) func(raw string) (name string, ok bool) {
	type digest struct {
		name string
		sum  [sha256.Size]byte
	}
	digests := make([]digest, len(tokens))
	for i, t := range tokens {
		digests[i] = digest{t.Name, sha256.Sum256([]byte(t.Token))}
	}
	return func(raw string) (string, bool) {
		if raw == "" {
			return "", false
		}
		sum := sha256.Sum256([]byte(raw))
		name := ""
		for _, d := range digests {
			if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
				name = d.name
			}
		}
		return name, name != ""
	}
}
