package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// OpenReadOnly opens an existing database file for reading only, beside a
// running fulfillmentd (WAL lets readers run while it writes). It never
// creates the file nor changes its schema: a database this build would have
// to migrate first is refused, so is one from a newer build. Every write
// method of the returned DB fails.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("open store read-only: %w", err)
	}
	reader, err := sqlx.Open("sqlite3", dsn(abs, url.Values{
		"mode":             {"ro"},
		"_query_only":      {"on"},
		"_foreign_keys":    {"on"},
		"_busy_timeout":    {strconv.Itoa(int(busyTimeout / time.Millisecond))},
		"_stmt_cache_size": {strconv.Itoa(stmtCacheSize)},
	}))
	if err != nil {
		return nil, fmt.Errorf("open store read-only: %w", err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	db := &DB{writer: reader, reader: reader, outbox: make(chan struct{}, 1)}
	if err := db.checkSchema(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return db, nil
}

// checkSchema fails unless the database has exactly this build's migrations.
func (db *DB) checkSchema(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var newest sql.NullInt64
	if err := db.reader.GetContext(ctx, &newest, `SELECT max(version) FROM schema_migrations`); err != nil {
		return fmt.Errorf("read schema version (is this a fulfillmentd database?): %w", err)
	}
	var applied int
	if err := db.reader.GetContext(ctx, &applied, `SELECT count(*) FROM schema_migrations`); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := ms[len(ms)-1].version
	switch {
	case newest.Valid && int(newest.Int64) > latest:
		return fmt.Errorf("database schema version %d is newer than this build's %d", newest.Int64, latest)
	case applied < len(ms):
		return fmt.Errorf("database schema is older than this build's (version %d of %d): start fulfillmentd serve once to upgrade it", newest.Int64, latest)
	}
	return nil
}
