package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/fulfillmentd/fulfillmentd/store"
)

// The CLI commands' ways into the database serve keeps: none creates one.

// openExisting opens the database of cfg's data dir, which must exist: a
// CLI command never creates an empty one in a mistyped directory.
func openExisting(ctx context.Context, cfg config, readOnly bool) (*store.DB, error) {
	path := cfg.dbPath()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (is FULFILLMENT_DATA_DIR or --data-dir right?): %w", path, err)
	}
	if readOnly {
		return store.OpenReadOnly(ctx, path)
	}
	return store.Open(ctx, path)
}

// openOrders reads the settings the orders commands share (the data
// directory, with serve's flag and variable) after fs's own flags, and opens
// the database read-only.
func openOrders(ctx context.Context, fs *flag.FlagSet, args []string, e env) (*store.DB, error) {
	cfg, err := parseSettings(fs, pick(settings(), nil, "FULFILLMENT_DATA_DIR"), args, e)
	if err != nil {
		return nil, err
	}
	db, err := store.OpenReadOnly(ctx, cfg.dbPath())
	if err != nil {
		return nil, fmt.Errorf("%w (is FULFILLMENT_DATA_DIR or --data-dir the directory serve uses?)", err)
	}
	return db, nil
}
