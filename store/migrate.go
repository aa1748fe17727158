package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// migrationFiles are the schema changes, applied in version order. A file is
// named NNNN_description.sql; once released, a file never changes: the next
// change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := make(map[int]string)
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 || path.Ext(name) != ".sql" {
			return nil, fmt.Errorf("migration %q: want NNNN_description.sql", name)
		}
		if prev, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, version)
		}
		seen[version] = name
		body, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: version, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations the database lacks, each in its own
// immediate transaction together with its schema_migrations row, so that
// concurrent Opens of one file (two processes) apply each exactly once.
// A database that has a version this binary does not know is refused.
func migrate(ctx context.Context, w *sqlx.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return migrateTo(ctx, w, ms)
}

// migrateTo applies ms, the migrations up to some version (tests build
// older databases with it).
func migrateTo(ctx context.Context, w *sqlx.DB, ms []migration) error {
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := w.GetContext(ctx, &newest, `SELECT max(version) FROM schema_migrations`); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if latest := ms[len(ms)-1].version; newest.Valid && int(newest.Int64) > latest {
		return fmt.Errorf("database schema version %d is newer than this build's %d", newest.Int64, latest)
	}
	for _, m := range ms {
		if err := apply(ctx, w, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, w *sqlx.DB, m migration) error {
	tx, err := w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var one int
	err = tx.GetContext(ctx, &one, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.version)
	switch {
	case err == nil:
		return nil // applied before
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("check: %w", err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
		m.version, m.name); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
