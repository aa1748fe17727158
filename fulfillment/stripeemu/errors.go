package stripeemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// apiError is Stripe's error object: {"error": {...}} with an HTTP status.
type apiError struct {
	status  int
	Code    string `json:"code,omitempty"`
	DocURL  string `json:"doc_url,omitempty"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	Type    string `json:"type"`

	// limitedReason is sent as Stripe-Rate-Limited-Reason (rate limits only).
	limitedReason string
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Code != "" && e.DocURL == "" {
		e.DocURL = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(e.Code, "_", "-")
	}
	if e.limitedReason != "" {
		w.Header().Set("Stripe-Rate-Limited-Reason", e.limitedReason)
	}
	body, _ := json.Marshal(struct {
		Error *apiError `json:"error"`
	}{e})
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errRateLimit() *apiError {
	return &apiError{status: http.StatusTooManyRequests, Type: "invalid_request_error", Code: "rate_limit",
		Message:       "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
		limitedReason: "global-rate"}
}

// errLockTimeout is the 429 Stripe answers when another request holds a lock
// on the same object: not a rate limit (no Stripe-Rate-Limited-Reason), and
// stripe-go retries it by itself.
func errLockTimeout() *apiError {
	return &apiError{status: http.StatusTooManyRequests, Type: "invalid_request_error", Code: "lock_timeout",
		Message: "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request."}
}

func errNoSuch(object, id, param string) *apiError {
	return &apiError{status: http.StatusNotFound, Type: "invalid_request_error", Code: "resource_missing",
		Param: param, Message: fmt.Sprintf("No such %s: '%s'", object, id)}
}

func errInvalid(param, code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Type: "invalid_request_error", Code: code,
		Param: param, Message: fmt.Sprintf(format, args...)}
}

func errUnrecognizedURL(r *http.Request) *apiError {
	return &apiError{status: http.StatusNotFound, Type: "invalid_request_error",
		Message: fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", r.Method, r.URL.Path)}
}

// injected is the error FailNext asks for, shaped as Stripe answers with
// that status.
func injected(status int) *apiError {
	switch {
	case status == http.StatusTooManyRequests:
		return errRateLimit()
	case status == http.StatusNotFound:
		return &apiError{status: status, Type: "invalid_request_error", Code: "resource_missing",
			Message: "No such checkout.session (injected failure)"}
	case status == http.StatusUnauthorized:
		return &apiError{status: status, Type: "invalid_request_error", Message: "Invalid API Key provided (injected failure)"}
	case status == http.StatusForbidden:
		return &apiError{status: status, Type: "invalid_request_error",
			Message: "The provided key does not have the required permissions for this endpoint (injected failure)."}
	case status == http.StatusConflict:
		return &apiError{status: status, Type: "invalid_request_error", Code: "lock_timeout",
			Message: "This object cannot be accessed right now because another API request or Stripe process is currently accessing it (injected failure)."}
	case status >= 500:
		return &apiError{status: status, Type: "api_error",
			Message: "An unknown error occurred (injected failure)."}
	default:
		return &apiError{status: status, Type: "invalid_request_error", Message: "Invalid request (injected failure)."}
	}
}
