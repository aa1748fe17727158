package store

import (
	"context"
	"crypto/rand"
	"fmt"
)

// SigningKey returns the worker's key for signing events it read from
// Stripe's API (worker.FulfillmentSigner): 32 random bytes, made at the first
// call and the same ever after, in every process on this database.
func (db *DB) SigningKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var key []byte
	if err := db.writer.GetContext(ctx, &key, `INSERT INTO signing_key (id, key) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET key = key RETURNING key`, fresh); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}
