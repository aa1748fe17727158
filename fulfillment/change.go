package fulfillment

import "time"

// OrderChange is one change of one order as the push feed carries it: the
// order as it was right after the change. Stores write one in the same
// transaction as the change itself (an outbox), so no change is ever lost
// between the database and the broker.
type OrderChange struct {
	Seq       int64  // the change's position in the order feed: larger is later
	ID        string // stable id of the change, used to deduplicate publishes
	OrderID   string
	Status    Status
	Payload   []byte // the order as JSON
	CreatedAt time.Time
}
