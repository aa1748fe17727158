package main

import (
	"net/http"
	"strings"
)

// servesRole answers the routes a role does not serve with a 404 that says
// where they are served.
func servesRole(role string, h http.Handler) http.Handler {
	var prefix, msg string
	switch role {
	case roleReceiver:
		prefix, msg = "/v1/", "this process is a receiver (--role receiver): the warehouse API /v1 is served by the worker role"
	case roleWorker:
		prefix, msg = "/webhooks/", "this process is a worker (--role worker): Stripe webhooks go to the receiver role"
	default:
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			writeProblem(w, http.StatusNotFound, msg)
			return
		}
		h.ServeHTTP(w, r)
	})
}
