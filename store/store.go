// Package store keeps fulfillmentd's orders, processed events and dead
// letters in SQLite. It owns all SQL.
//
// One DB holds two connection pools on the same file: a writer with a single
// connection whose transactions start with BEGIN IMMEDIATE, so writes are
// serialised in commit order, and a pool of query-only readers that WAL mode
// lets run beside the writer.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// busyTimeout is how long a connection waits for another one's lock (another
// process on the same file, a WAL checkpoint) before failing with
// "database is locked".
const busyTimeout = 5 * time.Second

// readers is the size of the reader pool.
const readers = 4

// stmtCacheSize is the number of prepared statements go-sqlite3 keeps per
// connection: every query of this package fits.
const stmtCacheSize = 32

// DB is the SQLite database of fulfillmentd. It is safe for concurrent use.
type DB struct {
	writer *sqlx.DB // MaxOpenConns 1, BEGIN IMMEDIATE; the reader pool for OpenReadOnly
	reader *sqlx.DB // query_only pool
	outbox chan struct{}
}

// DB is the store the domain's use cases take: the Processor's and the
// Reconciler's (the worker runtime's and the broker's interfaces are
// checked where cmd wires them).
var (
	_ fulfillment.OrderStore     = (*DB)(nil)
	_ fulfillment.ReconcileStore = (*DB)(nil)
)

// openMode says how open opens a database file.
type openMode uint8

const (
	// readWrite creates the file if missing, makes it private, brings its
	// schema up to date, and opens the writer and the reader pool.
	readWrite openMode = iota
	// readOnly opens an existing file with mode=ro, checks that its schema is
	// this build's, and opens the reader pool only (it serves as writer too,
	// so every write fails).
	readOnly
)

// Open opens (creating it and its parent directory if missing) the database
// file at path and brings its schema up to date.
//
// Pragmas are set in the DSN so that every connection of both pools gets
// them: WAL, synchronous=FULL (a committed order survives power loss),
// foreign keys, a busy timeout, and immediate transactions on the writer.
func Open(ctx context.Context, path string) (*DB, error) { return open(ctx, path, readWrite) }

// OpenReadOnly opens an existing database file for reading only, beside a
// running fulfillmentd (WAL lets readers run while it writes). It never
// creates the file nor changes its schema: a database this build would have
// to migrate first is refused, so is one from a newer build. Every write
// method of the returned DB fails.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) { return open(ctx, path, readOnly) }

// open is Open and OpenReadOnly: the file at path, in mode.
func open(ctx context.Context, path string, mode openMode) (*DB, error) {
	abs, err := mode.prepare(path)
	if err != nil {
		return nil, err
	}
	db := &DB{outbox: make(chan struct{}, 1)}
	readerParams := url.Values{"_query_only": {"on"}}
	readerErr := "open store reader: %w"
	if mode == readOnly {
		readerParams.Set("mode", "ro")
		readerErr = "open store read-only: %w"
	} else {
		db.writer, err = pool(abs, 1, url.Values{
			"_journal_mode": {"WAL"},
			"_synchronous":  {"FULL"},
			"_txlock":       {"immediate"},
		})
		if err != nil {
			return nil, fmt.Errorf("open store writer: %w", err)
		}
		// The writer's first connection sets WAL mode (persistent in the file)
		// and creates the schema before any reader connects.
		if err := migrate(ctx, db.writer); err != nil {
			_ = db.writer.Close()
			return nil, fmt.Errorf("open store %s: %w", abs, err)
		}
	}
	if db.reader, err = pool(abs, readers, readerParams); err != nil {
		if db.writer != nil {
			_ = db.writer.Close()
		}
		return nil, fmt.Errorf(readerErr, err)
	}
	check := db.Ping
	if mode == readOnly {
		db.writer = db.reader
		check = db.checkSchema
	}
	if err := check(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return db, nil
}

// prepare returns the absolute path of the database file at path. For
// readWrite it creates the file's directory (0700) and makes the file
// private; for readOnly the file must exist.
func (mode openMode) prepare(path string) (string, error) {
	if mode == readWrite && (path == "" || path == ":memory:") {
		return "", fmt.Errorf("open store: need a database file path, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("open store: %w", err)
	}
	if mode == readOnly {
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("open store read-only: %w", err)
		}
		return abs, nil
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("open store: create directory: %w", err)
	}
	if err := private(abs); err != nil {
		return "", fmt.Errorf("open store: %w", err)
	}
	return abs, nil
}

// pool opens a pool of n connections on the file abs, with the DSN
// parameters every connection gets (foreign keys, busy timeout, statement
// cache) and params. Its connections live as long as the pool.
func pool(abs string, n int, params url.Values) (*sqlx.DB, error) {
	params.Set("_foreign_keys", "on")
	params.Set("_busy_timeout", strconv.Itoa(int(busyTimeout/time.Millisecond)))
	// go-sqlite3 names it _stmt_cache_size; 0 disables.
	params.Set("_stmt_cache_size", strconv.Itoa(stmtCacheSize))
	p, err := sqlx.Open("sqlite3", dsn(abs, params))
	if err != nil {
		return nil, err
	}
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(n)
	p.SetConnMaxLifetime(0)
	p.SetConnMaxIdleTime(0)
	return p, nil
}

// private creates the database file at abs 0600 if it is missing, and takes
// group and other permissions away from it and its -wal and -shm files if
// they exist: they hold buyers' names and addresses. SQLite creates -wal and
// -shm with the database file's mode, so they are 0600 too.
func private(abs string) error {
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o600); err != nil {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	return nil
}

// dsn is a go-sqlite3 DSN for the file at the absolute path abs: a file: URI,
// so that any character may appear in the path.
func dsn(abs string, params url.Values) string {
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + params.Encode()
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.writer == db.reader {
		return db.reader.Close()
	}
	return errors.Join(db.reader.Close(), db.writer.Close())
}

// Ping reports whether both pools can run a query: for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.writer.GetContext(ctx, &n, `SELECT count(*) FROM schema_migrations`); err != nil {
		return fmt.Errorf("ping store writer: %w", err)
	}
	if err := db.reader.GetContext(ctx, &n, `SELECT count(*) FROM schema_migrations`); err != nil {
		return fmt.Errorf("ping store reader: %w", err)
	}
	return nil
}

// timeLayout is how times are stored: UTC, fixed width, so that text order is
// time order. It parses back with time.RFC3339Nano.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}
