package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// orderReader is what the warehouse API reads.
type orderReader interface {
	Order(ctx context.Context, id string) (fulfillment.Order, error)
	ListOrders(ctx context.Context, p store.ListParams) (store.Page, error)
}

// orderList is the feed's page as warehouses receive it.
type orderList struct {
	Orders     []fulfillment.Order `json:"orders"`
	NextCursor string              `json:"next_cursor"`
}

func handleListOrders(orders orderReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := store.ListParams{After: q.Get("after"), Status: fulfillment.Status(q.Get("status"))}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 500 {
				writeProblem(w, http.StatusBadRequest, "limit: want a whole number from 1 to 500")
				return
			}
			p.Limit = n
		}
		if p.Status != "" && !p.Status.Valid() {
			writeProblem(w, http.StatusBadRequest, "status: unknown status "+strconv.Quote(string(p.Status)))
			return
		}
		page, err := orders.ListOrders(r.Context(), p)
		switch {
		case errors.Is(err, store.ErrBadCursor):
			writeProblem(w, http.StatusBadRequest, "after: not a cursor this server issued")
			return
		case err != nil:
			writeProblem(w, http.StatusServiceUnavailable, "orders are unavailable right now")
			return
		}
		if page.Orders == nil {
			page.Orders = []fulfillment.Order{}
		}
		writeJSON(w, http.StatusOK, orderList{Orders: page.Orders, NextCursor: page.NextCursor})
	})
}

func handleGetOrder(orders orderReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := orders.Order(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, fulfillment.ErrNotFound):
			writeProblem(w, http.StatusNotFound, "no order with id or checkout session id "+strconv.Quote(r.PathValue("id")))
			return
		case err != nil:
			writeProblem(w, http.StatusServiceUnavailable, "orders are unavailable right now")
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
}

// requireToken guards /v1 with bearer tokens compared in constant time. With
// no token configured it refuses every request.
func requireToken(log *slog.Logger, tokens []apiToken) func(http.Handler) http.Handler {
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
				log.Warn("api request with unknown token", "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="fulfillmentd", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "unknown bearer token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
