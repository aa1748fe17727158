// Package testdata holds fulfillmentd's fixtures: Checkout Sessions shaped as
// Stripe's API (version 2023-10-16) returns them, and the merchant's
// cross-sell settings that match them.
//
// Each stripe/<session id>.json is
//
//	{"session": <checkout.session, without line_items>,
//	 "line_items": [<item, price and price.product expanded>, ...]}
//
// Sessions: cs_test_crosssell (paid, shipping, camera + lens-cloth
// cross-sell + an unrelated line, discount and tax on one line),
// cs_test_unpaid (ACH, payment_status unpaid), cs_test_bulk (120 lines: more
// than one 100-item page; real Checkout caps payment mode at 100),
// cs_test_digital (no shipping, a zero-amount line) and cs_test_subscription
// (a recurring price with a one-time setup-fee cross-sell).
package testdata

import "embed"

// FS holds stripe/*.json and crosssells.json.
//
//go:embed stripe/*.json crosssells.json
var FS embed.FS
