package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFaultSQLiteLocked has another process hold the database's write lock
// (BEGIN EXCLUSIVE) for longer than the 5 s busy timeout while events keep
// arriving. The receiver does not need the database and keeps answering
// 2xx; workers fail with "database is locked", retry with backoff, and
// record every order once the lock is gone: nothing lost, no dead letter.
//
// Reduced: 40 events, lock held 7 s. Full: 400 events, lock held 30 s.
func TestFaultSQLiteLocked(t *testing.T) {
	t.Parallel()
	var (
		nEvents = faultSize(40, 400)
		hold    = time.Duration(faultSize(7, 30)) * time.Second
	)
	emu, stripeSrv := newEmulator(t)
	before, beforeIDs := generatedEvents(t, emu, "prelock", 5, 2)
	events, sessions := generatedEvents(t, emu, "locked", nEvents, 2)
	env := serviceEnv(t, stripeSrv.URL)
	env["FULFILLMENT_LOG_LEVEL"] = "info" // retries are logged at info
	svc := startService(t, env)
	dbPath := filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")
	sender := newStripeSender(func() string { return svc.url }, "whsec_new_e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := sender.burst(ctx, before, 4, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitOrders(t, dbPath, beforeIDs, 30*time.Second)

	locker, _ := startProc(t, "sqlite-lock", "sqlite-lock",
		[]string{"-db", dbPath, "-hold", hold.String()}, nil, regexp.MustCompile(`^locked$`))
	began := time.Now()
	if ok, err := sender.burst(ctx, events, 8, 0.05, nil); err != nil {
		t.Fatalf("burst while locked: %d/%d got a 2xx: %v", ok, nEvents, err)
	}
	accepted := time.Since(began)
	if _, err := locker.waitLine(regexp.MustCompile(`^released$`), hold+30*time.Second); err != nil {
		t.Fatalf("lock holder: %v\n%s", err, locker.logs())
	}
	l := waitOrders(t, dbPath, append(beforeIDs, sessions...), 120*time.Second)
	lost, dups := l.tally(append(beforeIDs, sessions...), 2)
	locked := strings.Count(svc.stderr.String(), "database is locked")
	t.Logf("sqlite-lock figures: events=%d accepted_in=%s lock_held=%s locked_errors_logged=%d orders=%d duplicates=%d lost=%d dead_letters=%d",
		nEvents, accepted.Round(time.Millisecond), hold, locked, len(l.orders), dups, lost, len(l.dead))
	if lost != 0 || dups != 0 || len(l.dead) != 0 {
		t.Fatalf("lost %d, duplicated %d, dead letters %v\n%s", lost, dups, l.dead, tail(svc.stderr.String(), 4000))
	}
	if locked == 0 {
		t.Errorf("no worker met the lock: the test did not test anything\n%s", tail(svc.stderr.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("...%s", s[len(s)-n:])
}
