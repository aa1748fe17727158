package stripeevent_test

import (
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

func TestEndpointTemplate(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/v1/checkout/sessions/cs_test_a1B2/line_items": "/v1/checkout/sessions/{cs}/line_items",
		"/v1/checkout/sessions/cs_live_x_y":             "/v1/checkout/sessions/{cs}",
		"/v1/products/prod_camera":                      "/v1/products/{prod}",
		"/v1/prices/price_1Abc":                         "/v1/prices/{price}",
		"/v1/events/evt_1":                              "/v1/events/{evt}",
		"/v1/customers/cus_9/subscriptions/sub_2":       "/v1/customers/{cus}/subscriptions/{sub}",
		"/v1/payment_intents/pi_3":                      "/v1/payment_intents/{pi}",
		"/v1/invoices/in_4":                             "/v1/invoices/{in}",
		"/v1/checkout/sessions":                         "/v1/checkout/sessions",
		"/v1/events":                                    "/v1/events",
		"/v1/charges/ch_1":                              "/v1/charges/ch_1", // not a kind fulfillmentd calls
	} {
		if got := stripeevent.EndpointTemplate(path); got != want {
			t.Errorf("EndpointTemplate(%q) = %q, want %q", path, got, want)
		}
	}
}
