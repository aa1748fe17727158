package stripeevent

import "regexp"

// objectID matches an object id in a Stripe API path, such as /cs_test_a1,
// by the prefix of its kind.
var objectID = regexp.MustCompile(`/(cs|prod|price|evt|pi|cus|sub|in)_[A-Za-z0-9_]+`)

// EndpointTemplate folds the object ids out of a Stripe API path, so that
// paths name few endpoints: /v1/checkout/sessions/cs_x/line_items becomes
// /v1/checkout/sessions/{cs}/line_items.
func EndpointTemplate(path string) string { return objectID.ReplaceAllString(path, "/{$1}") }
