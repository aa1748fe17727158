package stripeapi

import (
	"context"
	"errors"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/price"
	"github.com/stripe/stripe-go/v76/product"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Product retrieves a product (GET /v1/products/{id}) and its active prices
// (GET /v1/prices?product={id}&active=true, every page), through the same
// rate limiter as every other request of c. A product the account does not
// have is a permanent error wrapping fulfillment.ErrNotFound.
func (c *Client) Product(ctx context.Context, productID string) (fulfillment.Product, error) {
	if productID == "" {
		return fulfillment.Product{}, fulfillment.Permanent(errors.New("retrieve product: empty product id"))
	}
	params := &stripe.ProductParams{}
	params.Context = ctx
	p, err := c.productClient().Get(productID, params)
	if err != nil {
		return fulfillment.Product{}, classify("retrieve product "+productID, err)
	}
	out := fulfillment.Product{ID: p.ID, Name: p.Name, Active: p.Active}
	if out.Prices, err = c.ActivePrices(ctx, productID); err != nil {
		return fulfillment.Product{}, err
	}
	return out, nil
}

// ActivePrices lists a product's active prices, 100 per request.
func (c *Client) ActivePrices(ctx context.Context, productID string) ([]fulfillment.Price, error) {
	if productID == "" {
		return nil, fulfillment.Permanent(errors.New("list prices: empty product id"))
	}
	params := &stripe.PriceListParams{Product: stripe.String(productID), Active: stripe.Bool(true)}
	params.Context = ctx
	params.Limit = stripe.Int64(pageSize)
	prices := []fulfillment.Price{}
	it := c.priceClient().List(params)
	for it.Next() {
		prices = append(prices, PriceFromStripe(it.Price()))
	}
	if err := it.Err(); err != nil {
		return nil, classify("list prices of "+productID, err)
	}
	return prices, nil
}

// PriceFromStripe maps a price.
func PriceFromStripe(p *stripe.Price) fulfillment.Price {
	return fulfillment.Price{
		ID:          p.ID,
		Currency:    string(p.Currency),
		UnitAmount:  p.UnitAmount,
		Recurring:   recurringFromStripe(p.Recurring),
		TaxBehavior: string(p.TaxBehavior),
	}
}

func recurringFromStripe(r *stripe.PriceRecurring) *fulfillment.Recurring {
	if r == nil || r.Interval == "" {
		return nil
	}
	return &fulfillment.Recurring{Interval: string(r.Interval), IntervalCount: r.IntervalCount}
}

// productClient and priceClient share the sessions client's backend, hence
// its throttled HTTP client and key.
func (c *Client) productClient() *product.Client {
	return &product.Client{B: c.sessions.B, Key: c.sessions.Key}
}

func (c *Client) priceClient() *price.Client {
	return &price.Client{B: c.sessions.B, Key: c.sessions.Key}
}
