package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// TestOpenMakesFilesPrivate: the directory Open creates is 0700, the
// database and its -wal and -shm files are 0600, and a database left 0644
// by an older version is made 0600.
func TestOpenMakesFilesPrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	check := func(t *testing.T, path string) {
		t.Helper()
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		mustRecord(t, db, "evt_perm", fulfillment.EventSessionCompleted,
			order("cs_perm", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 1))
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(p), err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s: mode %o, want 600", filepath.Base(p), perm)
			}
		}
	}
	t.Run("new", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "fulfillment.db")
		check(t, path)
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("data dir: %v, mode %o, want 700", err, fi.Mode().Perm())
		}
	})
	t.Run("existing 0644", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "fulfillment.db")
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-shm"} {
			if err := os.WriteFile(p, nil, 0o644); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		check(t, path)
	})
}
