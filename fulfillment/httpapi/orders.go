package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// OrderReader is what the warehouse API reads.
type OrderReader interface {
	Order(ctx context.Context, id string) (fulfillment.Order, error)
	ListOrders(ctx context.Context, p fulfillment.ListParams) (fulfillment.Page, error)
}

// OrderList is the feed's page as warehouses receive it.
type OrderList struct {
	Orders     []fulfillment.Order `json:"orders"`
	NextCursor string              `json:"next_cursor"`
}

func listOrders(log *slog.Logger, orders OrderReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p := fulfillment.ListParams{After: q.Get("after"), Status: fulfillment.Status(q.Get("status")), Limit: fulfillment.DefaultListLimit}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > fulfillment.MaxListLimit {
				writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeBadRequest, "limit: want a whole number from 1 to %d", fulfillment.MaxListLimit))
				return
			}
			p.Limit = n
		}
		if p.Status != "" && !p.Status.Valid() {
			writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeBadRequest, "status: unknown status %q", string(p.Status)))
			return
		}
		if s := q.Get("updated_since"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeBadRequest, "updated_since: want an RFC 3339 time such as 2025-03-14T15:09:26Z "+
					"(in a query string, write a + offset as %%2B)"))
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
		writeJSON(w, http.StatusOK, OrderList{Orders: page.Orders, NextCursor: page.NextCursor})
	})
}

func getOrder(log *slog.Logger, orders OrderReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := orders.Order(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
}
