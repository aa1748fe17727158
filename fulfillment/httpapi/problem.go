package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Problem is an RFC 9457 problem detail: every error fulfillmentd answers
// over HTTP has this shape.
type Problem struct {
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

// writeProblem answers an error as application/problem+json. Handlers
// call it themselves only for answers that are no error code: 401 (with
// WWW-Authenticate), 415, 503 with Retry-After, an unknown path; errors go
// through writeError.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}

func notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// statusOf is the status of each refusal: the one place where an error
// code becomes an HTTP status. A refusal carries its own sentence (its
// Detail). Checked in this order.
var statusOf = [...]struct {
	code   fulfillment.Code
	status int
}{
	{fulfillment.CodeBadRequest, http.StatusBadRequest},
	{fulfillment.CodeForbidden, http.StatusForbidden},
	{fulfillment.CodeTooLarge, http.StatusRequestEntityTooLarge},
	{fulfillment.CodeConflict, http.StatusConflict},
	{fulfillment.CodeInvalid, http.StatusUnprocessableEntity},
}

// refusal reports whether err has a code statusOf answers.
func refusal(err error) bool {
	_, _, ok := refusalOf(err)
	return ok
}

// refusalOf is the status and sentence of err if it is a refusal (statusOf).
func refusalOf(err error) (status int, detail string, ok bool) {
	for _, p := range statusOf {
		if e := fulfillment.Find(err, p.code); e != nil {
			return p.status, e.Detail, true
		}
	}
	return 0, "", false
}

// writeError answers err as a problem (the webhook sends only refusals
// here, the /v1 handlers everything): a refusal with its
// status and sentence (statusOf); ErrNotFound is about the {id} of the
// path unless it carries its own sentence; anything else, CodePermanent included, is the server's trouble
// (503, logged).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if status, detail, ok := refusalOf(err); ok {
		writeProblem(w, status, detail)
		return
	}
	switch {
	case errors.Is(err, fulfillment.ErrNotFound):
		detail := "no order with id or checkout session id " + strconv.Quote(r.PathValue("id"))
		if e := fulfillment.Find(err, fulfillment.CodeNotFound); e != nil && e.Detail != "" {
			detail = e.Detail
		}
		writeProblem(w, http.StatusNotFound, detail)
	default:
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
		log.Log(r.Context(), level, "api request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "orders are unavailable right now")
	}
}
