package httpapi

import (
	_ "embed" // openapi.json
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 description of /v1.
//
//go:embed openapi.json
var openAPIDoc string

// OpenAPIDocument is openapi.json as GET /v1/openapi.json serves it, for
// the tests that hold the service to it (package apitest).
func OpenAPIDocument() []byte { return []byte(openAPIDoc) }

// openAPI serves openapi.json; it needs no token, so that tools can
// fetch it.
func openAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write([]byte(openAPIDoc))
	})
}
