package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// problem is an RFC 9457 problem detail: every error fulfillmentd answers
// over HTTP has this shape.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing left to tell it
}

// writeProblem answers an error as application/problem+json.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}

func handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// requestError is a request the handler refuses before any work: a body
// that is not the JSON it takes (400) or too large (413).
type requestError struct {
	status int
	detail string
}

func (e *requestError) Error() string { return e.detail }

// writeError answers err as a problem: the one place where errors become
// HTTP statuses for the /v1 API. Domain refusals carry their own sentence
// (409 ErrConflict, 422 ErrInvalid); ErrNotFound is about the {id} of the
// path; anything else is the server's trouble (503, logged).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var (
		reqErr  *requestError
		refusal *fulfillment.TransitionError
	)
	switch {
	case errors.As(err, &reqErr):
		writeProblem(w, reqErr.status, reqErr.detail)
	case errors.As(err, &refusal) && errors.Is(err, fulfillment.ErrConflict):
		writeProblem(w, http.StatusConflict, refusal.Detail)
	case errors.As(err, &refusal) && errors.Is(err, fulfillment.ErrInvalid):
		writeProblem(w, http.StatusUnprocessableEntity, refusal.Detail)
	case errors.Is(err, fulfillment.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "no order with id or checkout session id "+strconv.Quote(r.PathValue("id")))
	case errors.Is(err, store.ErrBadCursor):
		writeProblem(w, http.StatusBadRequest, "after: not a cursor this server issued")
	default:
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
		log.Log(r.Context(), level, "api request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "orders are unavailable right now")
	}
}
