package fulfillment

import "time"

// Page sizes of the order change feed.
const (
	DefaultListLimit = 100
	MaxListLimit     = 500
)

// ListParams selects a page of the order change feed.
type ListParams struct {
	// After is the cursor to continue from: a Page's NextCursor, or "" for
	// the start of the feed.
	After string
	// Limit is the page size, 1..MaxListLimit; 0 (or less) means DefaultListLimit,
	// more than MaxListLimit means MaxListLimit.
	Limit int
	// Status keeps only orders in this status; "" keeps all.
	Status Status
	// UpdatedSince keeps only orders last updated at or after this time;
	// zero keeps all.
	UpdatedSince time.Time
}

// Page is one page of the order change feed.
type Page struct {
	Orders []Order
	// NextCursor is always set: the After of the next page. On an empty page
	// it is the cursor asked for, so a consumer keeps polling with it.
	NextCursor string
}
