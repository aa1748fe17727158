// Package testdata holds fulfillmentd's fixtures: Checkout Sessions shaped as
// Stripe's API (version 2023-10-16) returns them, a product catalog, and the
// merchant's cross-sell settings that match them.
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
// cs_test_digital (no shipping, a zero-amount line), cs_test_subscription
// (a monthly price with a one-time setup-fee cross-sell, a Stripe customer),
// cs_test_camera_only (the camera without its cross-sell: automatic tax and a
// promotion code, order-level discount, tax and shipping), cs_test_quantity
// (a cross-sell line of quantity 2), cs_test_free (a 100% promotion:
// amount_total 0, payment_status no_payment_required, no shipping) and
// cs_test_expired (status expired: never an order).
//
// catalog.json is {"products": [...], "prices": [...]} as GET
// /v1/products/{id} and GET /v1/prices return them: the fixtures' products
// and one product of each kind Checkout will not offer as a cross-sell.
// crosssells.json maps the fixtures' pairs (all eligible);
// crosssells_check.json adds a pair for each kind of ineligible product.
package testdata

import "embed"

// FS holds stripe/*.json, catalog.json, crosssells.json and
// crosssells_check.json.
//
//go:embed stripe/*.json catalog.json crosssells.json crosssells_check.json
var FS embed.FS
