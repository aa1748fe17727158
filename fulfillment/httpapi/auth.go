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
	type digest struct {
		name  string
		admin bool
		sum   [sha256.Size]byte
	}
	digests := make([]digest, len(tokens))
	for i, t := range tokens {
		digests[i] = digest{t.Name, t.Admin, sha256.Sum256([]byte(t.Token))}
	}
	return func(need access, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || raw == "" {
				refused("missing_token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="fulfillmentd"`)
				writeProblem(w, http.StatusUnauthorized, "missing bearer token")
				return
			}
			// Hashing first makes every comparison the same length.
			sum := sha256.Sum256([]byte(raw))
			name, admin := "", false
			for _, d := range digests {
				if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
					name, admin = d.name, d.admin
				}
			}
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
