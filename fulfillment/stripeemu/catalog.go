package stripeemu

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
)

const (
	productsPath = "/v1/products"
	pricesPath   = "/v1/prices"
)

// catalog holds products and prices (the zero value is empty and ready).
type catalog struct {
	mu       sync.RWMutex
	products map[string]map[string]json.RawMessage // id → compact fields
	prices   []*catalogPrice                       // as added
}

type catalogPrice struct {
	id       string
	product  string
	active   bool
	created  int64
	currency string
	typ      string
	fields   map[string]json.RawMessage
}

// SeedCatalog adds the products and prices of one catalog file of fsys,
// shaped {"products": [<product>, ...], "prices": [<price>, ...]} as the
// API returns them (a price's product is an id).
func (e *Emulator) SeedCatalog(fsys fs.FS, name string) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("seed catalog: %w", err)
	}
	var fx struct {
		Products []json.RawMessage `json:"products"`
		Prices   []json.RawMessage `json:"prices"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		return fmt.Errorf("seed catalog %s: %w", name, err)
	}
	for _, p := range fx.Products {
		if err := e.AddProduct(p); err != nil {
			return fmt.Errorf("seed catalog %s: %w", name, err)
		}
	}
	for _, p := range fx.Prices {
		if err := e.AddPrice(p); err != nil {
			return fmt.Errorf("seed catalog %s: %w", name, err)
		}
	}
	return nil
}

// AddProduct stores a product object; one with the same id is replaced.
func (e *Emulator) AddProduct(productJSON json.RawMessage) error {
	fields, err := compactObject(productJSON)
	if err != nil {
		return fmt.Errorf("add product: %w", err)
	}
	var head struct {
		ID     string `json:"id"`
		Object string `json:"object"`
	}
	if err := json.Unmarshal(productJSON, &head); err != nil {
		return fmt.Errorf("add product: %w", err)
	}
	if head.Object != "product" || !strings.HasPrefix(head.ID, "prod_") {
		return fmt.Errorf("add product %q: want a product with a prod_ id, got object %q", head.ID, head.Object)
	}
	c := &e.catalog
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.products == nil {
		c.products = make(map[string]map[string]json.RawMessage)
	}
	c.products[head.ID] = fields
	return nil
}

// AddPrice stores a price object whose product (an id, or an object with
// one) was added before; one with the same id is replaced.
func (e *Emulator) AddPrice(priceJSON json.RawMessage) error {
	fields, err := compactObject(priceJSON)
	if err != nil {
		return fmt.Errorf("add price: %w", err)
	}
	var head struct {
		ID       string          `json:"id"`
		Object   string          `json:"object"`
		Active   bool            `json:"active"`
		Created  int64           `json:"created"`
		Currency string          `json:"currency"`
		Type     string          `json:"type"`
		Product  json.RawMessage `json:"product"`
	}
	if err := json.Unmarshal(priceJSON, &head); err != nil {
		return fmt.Errorf("add price: %w", err)
	}
	if head.Object != "price" || !strings.HasPrefix(head.ID, "price_") {
		return fmt.Errorf("add price %q: want a price with a price_ id, got object %q", head.ID, head.Object)
	}
	var product string
	if json.Unmarshal(head.Product, &product) != nil {
		var obj struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(head.Product, &obj)
		product = obj.ID
	}
	fields["product"] = mustJSON(product)
	p := &catalogPrice{id: head.ID, product: product, active: head.Active, created: head.Created,
		currency: head.Currency, typ: head.Type, fields: fields}
	c := &e.catalog
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.products[product]; !ok {
		return fmt.Errorf("add price %s: no such product %q (add it first)", head.ID, product)
	}
	c.prices = slices.DeleteFunc(c.prices, func(x *catalogPrice) bool { return x.id == p.id })
	c.prices = append(c.prices, p)
	return nil
}

// routeCatalog answers GET /v1/products/{id}, /v1/prices and
// /v1/prices/{id}; it reports false for any other path.
func (e *Emulator) routeCatalog(w http.ResponseWriter, r *http.Request) bool {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == pricesPath:
		e.listPrices(w, r)
	case strings.HasPrefix(path, pricesPath+"/") && !strings.Contains(path[len(pricesPath)+1:], "/"):
		e.getPrice(w, r, path[len(pricesPath)+1:])
	case strings.HasPrefix(path, productsPath+"/") && !strings.Contains(path[len(productsPath)+1:], "/"):
		e.getProduct(w, r, path[len(productsPath)+1:])
	default:
		return false
	}
	return true
}

// GET /v1/products/{id}
func (e *Emulator) getProduct(w http.ResponseWriter, r *http.Request, id string) {
	q, apiErr := parseQuery(r)
	if apiErr == nil {
		apiErr = checkExpand(q.expand)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	c := &e.catalog
	c.mu.RLock()
	fields, ok := c.products[id]
	c.mu.RUnlock()
	if !ok {
		writeError(w, errNoSuch("product", id, "id"))
		return
	}
	writeJSON(w, http.StatusOK, renderObject(fields))
}

// GET /v1/prices/{id}
func (e *Emulator) getPrice(w http.ResponseWriter, r *http.Request, id string) {
	q, apiErr := parseQuery(r)
	if apiErr == nil {
		apiErr = checkExpand(q.expand)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	c := &e.catalog
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.prices {
		if p.id == id {
			writeJSON(w, http.StatusOK, renderObject(p.fields))
			return
		}
	}
	writeError(w, errNoSuch("price", id, "price"))
}

// GET /v1/prices: newest first; filters product, active, currency and type.
func (e *Emulator) listPrices(w http.ResponseWriter, r *http.Request) {
	q, apiErr := parseQuery(r, "limit", "starting_after", "ending_before", "product", "active", "currency", "type")
	if apiErr == nil {
		apiErr = checkExpand(q.expand)
	}
	var p page
	if apiErr == nil {
		p, apiErr = parsePage(q)
	}
	active := q.values.Get("active")
	if apiErr == nil && active != "" && active != "true" && active != "false" {
		apiErr = errInvalid("active", "", "Invalid boolean: %s", active)
	}
	typ := q.values.Get("type")
	if apiErr == nil && typ != "" && typ != "one_time" && typ != "recurring" {
		apiErr = errInvalid("type", "", "Invalid type: must be one of one_time or recurring")
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	product, currency := q.values.Get("product"), q.values.Get("currency")
	c := &e.catalog
	c.mu.RLock()
	var all []*catalogPrice
	for _, x := range c.prices {
		if (product == "" || x.product == product) && (active == "" || x.active == (active == "true")) &&
			(currency == "" || strings.EqualFold(x.currency, currency)) && (typ == "" || x.typ == typ) {
			all = append(all, x)
		}
	}
	c.mu.RUnlock()
	slices.SortStableFunc(all, func(a, b *catalogPrice) int {
		if c := cmp.Compare(b.created, a.created); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	lo, hi, more, apiErr := p.window(len(all), func(i int) string { return all[i].id }, "price")
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	data := make([]json.RawMessage, 0, hi-lo)
	for _, x := range all[lo:hi] {
		data = append(data, renderObject(x.fields))
	}
	writeJSON(w, http.StatusOK, listJSON(pricesPath, data, more))
}
