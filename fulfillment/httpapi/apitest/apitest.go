// Package apitest holds HTTP exchanges with fulfillmentd to its OpenAPI
// description: every request a test sends to /v1 and every answer it gets
// are validated with kin-openapi (openapi3filter), an implementation
// independent of the handlers. Imported by tests only.
package apitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Prefix is the part of the URL space the description covers whole: a
// path under it that the description lacks must be answered 404 or 405
// with a problem. Paths outside it that the description lacks (probes,
// metrics) are not checked.
const Prefix = "/v1/"

// Spec is an OpenAPI description, loaded and linted.
type Spec struct {
	doc     *openapi3.T
	router  routers.Router
	problem *openapi3.SchemaRef
}

// Load parses doc and lints it with kin-openapi's own validation
// (openapi3.T.Validate). Its servers are ignored for routing: tests talk to
// servers on random ports.
func Load(doc []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load openapi: %w", err)
	}
	if err := t.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("lint openapi: %w", err)
	}
	problem := t.Components.Schemas["Problem"]
	if problem == nil {
		return nil, errors.New("openapi: no components.schemas.Problem")
	}
	if err := lintErrors(t); err != nil {
		return nil, err
	}
	routing := *t
	routing.Servers = nil
	router, err := gorillamux.NewRouter(&routing)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &Spec{doc: t, router: router, problem: problem}, nil
}

// lintErrors holds the description to the house rules kin-openapi does
// not know: every error status answers a problem, and every operation
// that needs a token documents its 401.
func lintErrors(t *openapi3.T) error {
	var errs []error
	for path, item := range t.Paths.Map() {
		for method, op := range item.Operations() {
			security := t.Security
			if op.Security != nil {
				security = *op.Security
			}
			if len(security) > 0 && op.Responses.Status(http.StatusUnauthorized) == nil {
				errs = append(errs, fmt.Errorf("%s %s needs a token but documents no 401", method, path))
			}
			for code, r := range op.Responses.Map() {
				if code < "4" || r.Value == nil {
					continue
				}
				c := r.Value.Content
				if len(c) != 1 || c["application/problem+json"] == nil || c["application/problem+json"].Schema == nil ||
					c["application/problem+json"].Schema.Ref != "#/components/schemas/Problem" {
					errs = append(errs, fmt.Errorf("%s %s: response %s is not an application/problem+json Problem", method, path, code))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lint openapi: %w", errors.Join(errs...))
	}
	return nil
}

// MustLoad is Load for tests: a description that does not load or lint
// fails t at once.
func MustLoad(t testing.TB, doc []byte) *Spec {
	t.Helper()
	s, err := Load(doc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Client is an HTTP client whose every exchange is checked (Check); a
// mismatch fails t (Errorf: the test goes on and sees the answer too).
func (s *Spec) Client(t testing.TB) *http.Client {
	return &http.Client{Transport: s.Transport(t, nil)}
}

// Transport checks every exchange made through base (nil:
// http.DefaultTransport) and fails t on each mismatch.
func (s *Spec) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{spec: s, t: t, base: base}
}

type transport struct {
	spec *Spec
	t    testing.TB
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("apitest: read request body: %w", err)
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("apitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.spec.Check(req, reqBody, resp.StatusCode, resp.Header, body); err != nil {
		tr.t.Errorf("openapi.json mismatch: %v", err)
	}
	return resp, nil
}

// Check validates one exchange: the request req with body reqBody, and
// the answer status, header and body.
//
//   - A request the description accepts must get a documented status, with
//     a documented content type, body and headers.
//   - A request the description refuses must be refused too: 401 when its
//     security requirement is not met, another 4xx otherwise, and that
//     answer must be documented as well.
//   - A path under Prefix the description lacks must get 404 or 405 with
//     a problem (components.schemas.Problem as application/problem+json).
//   - A problem's status is the answer's.
func (s *Spec) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		if !strings.HasPrefix(req.URL.Path, Prefix) {
			return nil
		}
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s is not described (%v) yet answered %d, want 404 or 405", what, err, status)
		}
		if err := s.checkProblem(status, header, body); err != nil {
			return fmt.Errorf("%s (not described) → %d: %w", what, status, err)
		}
		return nil
	}

	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request:    vreq,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: bearer,
			MultiError:         false,
		},
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	var secErr *openapi3filter.SecurityRequirementsError
	switch {
	case reqErr == nil:
	case errors.As(reqErr, &secErr) && status != http.StatusUnauthorized:
		return fmt.Errorf("%s: the description requires a token (%v), yet it was answered %d, want 401", what, reqErr, status)
	case status < 400 || status >= 500:
		return fmt.Errorf("%s: the description refuses the request (%v), yet it was answered %d, want a 4xx", what, reqErr, status)
	}

	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s → %d: %w\nbody: %.2000s", what, status, err, body)
	}
	// ValidateResponse lets through a body of a status that documents none.
	if r := route.Operation.Responses.Status(status); r != nil && len(r.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("%s → %d: a body (%s), where the description has none", what, status, header.Get("Content-Type"))
	}
	if status >= 400 {
		if err := s.checkProblem(status, header, body); err != nil {
			return fmt.Errorf("%s → %d: %w", what, status, err)
		}
	}
	return nil
}

// checkProblem validates an error answer as a problem whose status is the
// answer's (RFC 9457 asks for the same; a schema cannot say it).
func (s *Spec) checkProblem(status int, header http.Header, body []byte) error {
	ct, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || ct != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", header.Get("Content-Type"))
	}
	v, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	opts := []openapi3.SchemaValidationOption{openapi3.VisitAsResponse(), openapi3.MultiErrors()}
	if s.doc.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.EnableJSONSchema2020())
	}
	if err := s.problem.Value.VisitJSON(v, opts...); err != nil {
		return fmt.Errorf("problem body does not match components.schemas.Problem: %w\nbody: %s", err, body)
	}
	if p, _ := v.(map[string]any); fmt.Sprint(p["status"]) != fmt.Sprint(status) {
		return fmt.Errorf("problem with status %v in an answer with status %d", p["status"], status)
	}
	return nil
}

// decodeJSON decodes one JSON value as openapi3 validates them.
func decodeJSON(b []byte) (any, error) {
	return openapi3filter.JSONBodyDecoder(bytes.NewReader(b), nil, nil, nil)
}

// bearer is the check of an http bearer security scheme that a client can
// make: an Authorization header with a token. Which token is the server's
// business (its 401 for an unknown token must be documented).
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	sc := in.SecurityScheme
	if sc == nil || sc.Type != "http" || !strings.EqualFold(sc.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q: apitest checks http bearer schemes only", in.SecuritySchemeName)
	}
	raw, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return in.NewError(errors.New("no bearer token"))
	}
	return nil
}
