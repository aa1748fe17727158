package fulfillment

// CrossSellStats is how one cross-sell pair performed in one currency, over
// paid orders (payment settled, not canceled). Amounts are sums in the
// currency's smallest unit, so they are exact; the ratios are derived.
//
// An order refunded in part is a paid order and counts at its amount_total
// (Stripe does not say which lines a refund was for); what was refunded of
// the orders counted is in OrdersRefunded and AmountRefunded. An order
// refunded in full before it shipped is canceled and not counted.
type CrossSellStats struct {
	CrossSellPair
	Currency string
	// OrdersWithBase counts the orders that contain the base product.
	OrdersWithBase int64
	// OrdersWithCrossSell counts those of them with a line tagged as this
	// pair's cross-sell.
	OrdersWithCrossSell int64
	// CrossSellRevenue sums the cross-sell lines' amount_total (what buyers
	// paid for them: discounts deducted, exclusive tax included).
	CrossSellRevenue int64
	// OrderValueWith and OrderValueWithout sum the amount_total of the
	// orders with and without the cross-sell.
	OrderValueWith    int64
	OrderValueWithout int64
	// OrdersRefunded counts the orders with the base product that Stripe
	// refunded in part (or in full after they shipped); AmountRefunded sums
	// their amount_refunded.
	OrdersRefunded int64
	AmountRefunded int64
}

// OrdersWithoutCrossSell counts the orders with the base product but not the
// cross-sell.
func (s CrossSellStats) OrdersWithoutCrossSell() int64 {
	return s.OrdersWithBase - s.OrdersWithCrossSell
}

// AttachRate is the share of orders with the base product that also had the
// cross-sell, from 0 to 1; 0 without orders.
func (s CrossSellStats) AttachRate() float64 {
	if s.OrdersWithBase == 0 {
		return 0
	}
	return float64(s.OrdersWithCrossSell) / float64(s.OrdersWithBase)
}

// AverageOrderValueWith is the mean amount_total of the orders with the
// cross-sell, rounded to the nearest unit (halves away from zero); 0
// without such orders.
func (s CrossSellStats) AverageOrderValueWith() int64 {
	return roundedMean(s.OrderValueWith, s.OrdersWithCrossSell)
}

// AverageOrderValueWithout is the mean amount_total of the orders with the
// base product but without the cross-sell, rounded like
// AverageOrderValueWith.
func (s CrossSellStats) AverageOrderValueWithout() int64 {
	return roundedMean(s.OrderValueWithout, s.OrdersWithoutCrossSell())
}

// roundedMean is sum/n rounded to the nearest integer, halves away from
// zero, in integer arithmetic.
func roundedMean(sum, n int64) int64 {
	if n <= 0 {
		return 0
	}
	if sum < 0 {
		return -roundedMean(-sum, n)
	}
	return (2*sum + n) / (2 * n)
}
