package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func TestOpenSetsPragmasOnEveryConnection(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()

	pragma := func(q interface {
		GetContext(context.Context, any, string, ...any) error
	}, name string) string {
		t.Helper()
		var v string
		if err := q.GetContext(ctx, &v, "PRAGMA "+name); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for name, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "5000",
		"query_only":   "0",
	} {
		if got := pragma(db.writer, name); got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", name, got, want)
		}
	}

	// Hold several reader connections at once so that the checks reach more
	// than the pool's first connection.
	conns := make([]interface {
		GetContext(context.Context, any, string, ...any) error
	}, readers)
	for i := range conns {
		c, err := db.reader.Connx(ctx)
		if err != nil {
			t.Fatalf("reader conn %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		for name, want := range map[string]string{
			"journal_mode": "wal",
			"query_only":   "1",
			"foreign_keys": "1",
			"busy_timeout": "5000",
		} {
			if got := pragma(c, name); got != want {
				t.Errorf("reader conn %d PRAGMA %s = %s, want %s", i, name, got, want)
			}
		}
	}
	if _, err := conns[0].(*sqlx.Conn).ExecContext(ctx, `DELETE FROM orders`); err == nil {
		t.Error("reader pool accepted a write")
	}
}

func TestOpenCreatesDirectoryAndReopens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A path with characters that mean something in a URI.
	path := filepath.Join(t.TempDir(), "new dir", "a#b?c%20d", "orders.db")

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want, _ := mustRecord(t, db, "evt_1", fulfillment.EventSessionCompleted,
		order("cs_reopen", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, 1))
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at the path given: %v", err)
	}

	for i := range 2 {
		db, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		got, err := db.OrderBySession(ctx, "cs_reopen")
		if err != nil {
			t.Fatalf("reopen %d: OrderBySession: %v", i, err)
		}
		sameOrder(t, "after reopen", got, want)
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, `SELECT count(*) FROM schema_migrations`); n != len(ms) {
			t.Errorf("reopen %d: %d schema_migrations rows, want %d", i, n, len(ms))
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.writer.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 'x')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error does not name the version: %v", err)
	}
}

func TestOpenRejectsNoPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", ":memory:"} {
		if db, err := Open(context.Background(), p); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestMigrationsAreNumberedUniquely(t *testing.T) {
	t.Parallel()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations must start at version 1: %+v", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].version != ms[i-1].version+1 {
			t.Errorf("gap between %s and %s", ms[i-1].name, ms[i].name)
		}
	}
}

func TestPingAfterCloseFails(t *testing.T) {
	t.Parallel()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); err == nil {
		t.Error("Ping succeeded on a closed store")
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mustRecord(t, db, "evt_1", fulfillment.EventSessionCompleted,
		order("cs_present", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 1))
	if _, err := db.OrderBySession(ctx, "cs_missing"); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("OrderBySession(missing) = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"cs_missing", fulfillment.OrderID("cs_missing"), ""} {
		if _, err := db.Order(ctx, id); !errors.Is(err, fulfillment.ErrNotFound) {
			t.Errorf("Order(%q) = %v, want ErrNotFound", id, err)
		}
	}
}
