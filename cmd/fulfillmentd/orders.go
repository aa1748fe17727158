package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// orderReader is what the warehouse API reads.
type orderReader interface {
	Order(ctx context.Context, id string) (fulfillment.Order, error)
	ListOrders(ctx context.Context, p fulfillment.ListParams) (fulfillment.Page, error)
}

// orderList is the feed's page as warehouses receive it.
type orderList struct {
	Orders     []fulfillment.Order `json:"orders"`
	NextCursor string              `json:"next_cursor"`
}

func handleListOrders(log *slog.Logger, orders orderReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := fulfillment.ListParams{After: q.Get("after"), Status: fulfillment.Status(q.Get("status")), Limit: fulfillment.DefaultListLimit}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > fulfillment.MaxListLimit {
				writeProblem(w, http.StatusBadRequest, fmt.Sprintf("limit: want a whole number from 1 to %d", fulfillment.MaxListLimit))
				return
			}
			p.Limit = n
		}
		if p.Status != "" && !p.Status.Valid() {
			writeProblem(w, http.StatusBadRequest, "status: unknown status "+strconv.Quote(string(p.Status)))
			return
		}
		if s := q.Get("updated_since"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeProblem(w, http.StatusBadRequest, "updated_since: want an RFC 3339 time such as 2025-03-14T15:09:26Z "+
					"(in a query string, write a + offset as %2B)")
				return
			}
			p.UpdatedSince = t
		}
		page, err := orders.ListOrders(r.Context(), p)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if page.Orders == nil {
			page.Orders = []fulfillment.Order{}
		}
		writeJSON(w, http.StatusOK, orderList{Orders: page.Orders, NextCursor: page.NextCursor})
	})
}

func handleGetOrder(log *slog.Logger, orders orderReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := orders.Order(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
}

// requireToken guards /v1 with bearer tokens compared in constant time, and
// puts the name of the token used in the request's context (tokenName).
// With no token configured it refuses every request. Tokens are never logged.
// refused (may be nil) learns each refusal's reason, missing_token or
// unknown_token; the log has at most a few unknown-token lines a minute.
func requireToken(log *slog.Logger, tokens []apiToken, refused func(reason string)) func(http.Handler) http.Handler {
	unknown := newLogSampler(log, time.Now)
	if refused == nil {
		refused = func(string) {}
	}
	type digest struct {
		name string
		sum  [sha256.Size]byte
	}
	digests := make([]digest, len(tokens))
	for i, t := range tokens {
		digests[i] = digest{t.Name, sha256.Sum256([]byte(t.Token))}
	}
	return func(next http.Handler) http.Handler {
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
			name := ""
			for _, d := range digests {
				if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
					name = d.name
				}
			}
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
