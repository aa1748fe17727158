package stripeemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// session is one stored Checkout Session. Its fields are never mutated in
// place: SetPaymentStatus swaps in a new copy, so readers need the lock only
// to fetch the pointer.
type session struct {
	id      string
	created int64
	status  string
	// paymentIntent and subscription are the ids the session list filters on.
	paymentIntent, subscription string
	fields                      map[string]json.RawMessage // compact JSON values, without line_items
	items                       []lineItem
}

// lineItem is one item, rendered both ways Stripe renders it.
type lineItem struct {
	id        string
	expanded  json.RawMessage // price.product is the product object
	collapsed json.RawMessage // price.product is the product id
}

// Seed adds every dir/*.json of fsys, each shaped
// {"session": <checkout.session>, "line_items": [<item>, ...]}.
func (e *Emulator) Seed(fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("seed %s: %w", dir, err)
	}
	if len(names) == 0 {
		return fmt.Errorf("seed %s: no *.json fixtures", dir)
	}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		var fx struct {
			Session   json.RawMessage   `json:"session"`
			LineItems []json.RawMessage `json:"line_items"`
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
		if err := e.AddSession(fx.Session, fx.LineItems); err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
	}
	return nil
}

// AddSession stores a checkout.session object (any line_items field in it is
// ignored) with its line items, each an "item" object whose price.product is
// expanded (a product object) or not (a product id). A session with the same
// id is replaced.
func (e *Emulator) AddSession(sessionJSON json.RawMessage, lineItems []json.RawMessage) error {
	fields, err := compactObject(sessionJSON)
	if err != nil {
		return fmt.Errorf("add session: %w", err)
	}
	delete(fields, "line_items")
	var head struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal(sessionJSON, &head); err != nil {
		return fmt.Errorf("add session: %w", err)
	}
	if head.Object != "checkout.session" || !strings.HasPrefix(head.ID, "cs_") {
		return fmt.Errorf("add session %q: want a checkout.session with a cs_ id, got object %q", head.ID, head.Object)
	}
	var pay sessionPayment
	if err := json.Unmarshal(sessionJSON, &pay); err != nil {
		return fmt.Errorf("add session %s: %w", head.ID, err)
	}
	s := &session{id: head.ID, created: head.Created, status: head.Status, fields: fields,
		paymentIntent: refID(pay.PaymentIntent), subscription: refID(pay.Subscription)}
	seen := make(map[string]bool, len(lineItems))
	for i, raw := range lineItems {
		it, err := newLineItem(raw)
		if err != nil {
			return fmt.Errorf("add session %s: line item %d: %w", head.ID, i, err)
		}
		if seen[it.id] {
			return fmt.Errorf("add session %s: duplicate line item %s", head.ID, it.id)
		}
		seen[it.id] = true
		s.items = append(s.items, it)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sessions[s.id] = s
	e.addPayment(s, pay)
	return nil
}

func newLineItem(raw json.RawMessage) (lineItem, error) {
	item, err := compactObject(raw)
	if err != nil {
		return lineItem{}, err
	}
	var head struct {
		ID     string          `json:"id"`
		Object string          `json:"object"`
		Price  json.RawMessage `json:"price"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return lineItem{}, err
	}
	if head.Object != "item" || head.ID == "" {
		return lineItem{}, fmt.Errorf("want an item object with an id, got object %q id %q", head.Object, head.ID)
	}
	price, err := compactObject(head.Price)
	if err != nil {
		return lineItem{}, fmt.Errorf("item %s: price: %w", head.ID, err)
	}
	it := lineItem{id: head.ID, expanded: renderObject(item)}
	var product struct {
		ID string `json:"id"`
	}
	switch p := bytes.TrimSpace(price["product"]); {
	case len(p) > 0 && p[0] == '{':
		if err := json.Unmarshal(p, &product); err != nil || product.ID == "" {
			return lineItem{}, fmt.Errorf("item %s: price.product: want an object with an id", head.ID)
		}
		price["product"], _ = json.Marshal(product.ID)
		item["price"] = renderObject(price)
		it.collapsed = renderObject(item)
	case len(p) > 0 && p[0] == '"':
		it.collapsed = it.expanded // only the id is known: cannot expand
	default:
		return lineItem{}, fmt.Errorf("item %s: price.product missing", head.ID)
	}
	return it, nil
}

// SetPaymentStatus sets a session's payment_status ("paid", "unpaid" or
// "no_payment_required"), as when a delayed payment settles.
func (e *Emulator) SetPaymentStatus(sessionID string, ps string) error {
	switch ps {
	case "paid", "unpaid", "no_payment_required":
	default:
		return fmt.Errorf("set payment status of %s: unknown payment_status %q", sessionID, ps)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[sessionID]
	if !ok {
		return fmt.Errorf("set payment status: no such checkout.session: %q", sessionID)
	}
	next := *s
	next.fields = make(map[string]json.RawMessage, len(s.fields))
	for k, v := range s.fields {
		next.fields[k] = v
	}
	next.fields["payment_status"], _ = json.Marshal(ps)
	e.sessions[sessionID] = &next
	return nil
}

// SessionIDs lists the stored sessions' ids, sorted.
func (e *Emulator) SessionIDs() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ids := make([]string, 0, len(e.sessions))
	for id := range e.sessions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (e *Emulator) session(id string) (*session, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, ok := e.sessions[id]
	return s, ok
}

// Event returns the webhook event Stripe would send about a session: the
// envelope of API version 2023-10-16 whose data.object is the session as
// currently stored, without line items (webhooks never carry them). A zero
// created means now. The emulator keeps the event: GET /v1/events lists it.
func (e *Emulator) Event(eventID, eventType, sessionID string, created time.Time) ([]byte, error) {
	if eventID == "" || eventType == "" {
		return nil, errors.New("event: event id and type are required")
	}
	s, ok := e.session(sessionID)
	if !ok {
		return nil, fmt.Errorf("event %s: no such checkout.session: %q", eventID, sessionID)
	}
	return e.recordEvent(eventID, eventType, renderObject(s.fields), created), nil
}

// recordEvent builds the event envelope about object and keeps it for GET
// /v1/events. A zero created means now.
func (e *Emulator) recordEvent(eventID, eventType string, object json.RawMessage, created time.Time) []byte {
	if created.IsZero() {
		created = time.Now()
	}
	env := map[string]json.RawMessage{
		"id":               mustJSON(eventID),
		"object":           mustJSON("event"),
		"api_version":      mustJSON(APIVersion),
		"created":          mustJSON(created.Unix()),
		"data":             renderObject(map[string]json.RawMessage{"object": object}),
		"livemode":         mustJSON(false),
		"pending_webhooks": mustJSON(1),
		"request":          json.RawMessage(`{"id":null,"idempotency_key":null}`),
		"type":             mustJSON(eventType),
	}
	body := renderObject(env)
	e.events.record(storedEvent{id: eventID, typ: eventType, created: created.Unix(), body: body}) // for GET /v1/events
	return body
}

// GenerateSession stores a synthetic, complete payment-mode session with
// items line items (each with its own price and product), paid by card or,
// when !paid, unpaid by ACH debit. The first two lines are prod_camera and
// prod_lens_cloth (quantity 1), the cross-sell pair of the project's
// fixtures, so generated orders exercise cross-sell tagging too.
func (e *Emulator) GenerateSession(id string, items int, paid bool) error {
	if !strings.HasPrefix(id, "cs_") {
		return fmt.Errorf("generate session %q: id must start with cs_", id)
	}
	if items < 1 {
		return fmt.Errorf("generate session %s: want at least 1 line item, got %d", id, items)
	}
	now := time.Now().Unix()
	lines := make([]json.RawMessage, items)
	var subtotal int64
	for i := range items {
		prod, name, unit, qty := fmt.Sprintf("prod_gen_%04d", i+1), fmt.Sprintf("Generated item %d", i+1), int64(500+i*25), int64(1+i%3)
		switch i {
		case 0:
			prod, name, unit, qty = "prod_camera", "Mirrorless Camera X100", 89900, 1
		case 1:
			prod, name, unit, qty = "prod_lens_cloth", "Microfiber Lens Cloth", 900, 1
		}
		priceID := fmt.Sprintf("price_gen_%s_%04d", strings.TrimPrefix(id, "cs_"), i+1)
		subtotal += unit * qty
		lines[i] = renderAny(map[string]any{
			"id": fmt.Sprintf("li_gen_%s_%04d", strings.TrimPrefix(id, "cs_"), i+1), "object": "item",
			"amount_discount": 0, "amount_subtotal": unit * qty, "amount_tax": 0, "amount_total": unit * qty,
			"currency": "usd", "description": name, "quantity": qty,
			"price": map[string]any{
				"id": priceID, "object": "price", "active": true, "billing_scheme": "per_unit", "created": now,
				"currency": "usd", "custom_unit_amount": nil, "livemode": false, "lookup_key": nil,
				"metadata": map[string]any{}, "nickname": nil, "recurring": nil, "tax_behavior": "unspecified",
				"tiers_mode": nil, "transform_quantity": nil, "type": "one_time", "unit_amount": unit,
				"unit_amount_decimal": fmt.Sprint(unit),
				"product": map[string]any{
					"id": prod, "object": "product", "active": true, "attributes": []any{}, "created": now,
					"default_price": priceID, "description": nil, "features": []any{}, "images": []any{},
					"livemode": false, "metadata": map[string]any{}, "name": name, "package_dimensions": nil,
					"shippable": true, "statement_descriptor": nil, "tax_code": nil, "type": "service",
					"unit_label": nil, "updated": now, "url": nil,
				},
			},
		})
	}
	paymentStatus, method := "paid", "card"
	if !paid {
		paymentStatus, method = "unpaid", "us_bank_account"
	}
	addr := map[string]any{"city": "Portland", "country": "US", "line1": "1 Load Test Way", "line2": nil,
		"postal_code": "97201", "state": "OR"}
	sess := renderAny(map[string]any{
		"id": id, "object": "checkout.session", "after_expiration": nil, "allow_promotion_codes": nil,
		"amount_subtotal": subtotal, "amount_total": subtotal, "automatic_tax": map[string]any{"enabled": false, "status": nil},
		"billing_address_collection": nil, "cancel_url": "https://shop.example.com/cart", "client_reference_id": nil,
		"client_secret": nil, "consent": nil, "consent_collection": nil, "created": now, "currency": "usd",
		"currency_conversion": nil, "custom_fields": []any{}, "customer": nil, "customer_creation": "if_required",
		"customer_details": map[string]any{"address": addr, "email": "load@example.com", "name": "Load Test",
			"phone": nil, "tax_exempt": "none", "tax_ids": []any{}},
		"customer_email": nil, "expires_at": now + 86400, "invoice": nil, "livemode": false, "locale": nil,
		"metadata": map[string]any{"generated": "true"}, "mode": "payment",
		"payment_intent": "pi_gen_" + strings.TrimPrefix(id, "cs_"), "payment_link": nil,
		"payment_method_collection": "always", "payment_method_types": []string{method},
		"payment_status": paymentStatus, "recovered_from": nil, "setup_intent": nil,
		"shipping_address_collection": map[string]any{"allowed_countries": []string{"US"}},
		"shipping_details":            map[string]any{"address": addr, "name": "Load Test"},
		"status":                      "complete", "submit_type": nil, "subscription": nil,
		"success_url":   "https://shop.example.com/thanks",
		"total_details": map[string]any{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
		"ui_mode":       "hosted", "url": nil,
	})
	return e.AddSession(sess, lines)
}

// compactObject splits a JSON object into compact member values.
func compactObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	return m, nil
}

// renderObject writes a JSON object as Stripe does: "id" and "object"
// first, the other keys sorted. Values must be valid compact JSON.
func renderObject(m map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "id" && k != "object" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range []string{"object", "id"} {
		if _, ok := m[k]; ok {
			keys = slices.Insert(keys, 0, k)
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(k))
		b.WriteByte(':')
		b.Write(m[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// renderAny renders nested maps with renderObject's key order.
func renderAny(v any) json.RawMessage {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]json.RawMessage, len(v))
		for k, x := range v {
			m[k] = renderAny(x)
		}
		return renderObject(m)
	case []any:
		parts := make([][]byte, len(v))
		for i, x := range v {
			parts[i] = renderAny(x)
		}
		return append(append([]byte{'['}, bytes.Join(parts, []byte{','})...), ']')
	default:
		return mustJSON(v)
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("stripeemu: marshal %T: %v", v, err)) // only called with plain values
	}
	return b
}
