package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// execEnv names the program the test binary runs instead of its tests. The
// fault tests start the test binary itself (os.Args[0]) as a child process
// with it set, so that they can SIGKILL a real fulfillmentd, nats-server or
// SQLite lock holder without a separate build step:
//
//	serve        fulfillmentd serve: run(...) with the child's args and environment
//	nats-server  a nats-server with JetStream (flags: see natsServerMain)
//	sqlite-lock  holds BEGIN EXCLUSIVE on a SQLite file (flags: see sqliteLockMain)
const execEnv = "FULFILLMENTD_TEST_EXEC"

// statsEnv, set to 1 for a serve child, adds a side listener that reports
// the child's goroutines and live heap (after a GC) at GET /stats, and
// prints "stats on http://..." on stdout before the program starts.
const statsEnv = "FULFILLMENTD_TEST_STATS"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(execEnv); mode {
	case "":
		os.Exit(m.Run())
	case "serve":
		os.Exit(serveMain(os.Args[1:]))
	case "nats-server":
		os.Exit(natsServerMain(os.Args[1:]))
	case "sqlite-lock":
		os.Exit(sqliteLockMain(os.Args[1:]))
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: unknown mode\n", execEnv, mode)
		os.Exit(2)
	}
}

// serveMain is main, as the fault tests' child process.
func serveMain(args []string) int {
	if os.Getenv(statsEnv) == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "stats listener:", err)
			return 1
		}
		go func() { _ = http.Serve(ln, http.HandlerFunc(serveStats)) }() //nolint:gosec // test-only side channel on loopback
		fmt.Fprintf(os.Stdout, "stats on http://%s\n", ln.Addr())
	}
	if err := run(context.Background(), args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fulfillmentd:", err)
		return 1
	}
	return 0
}

// processStats is what a serve child reports about itself.
type processStats struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc"`
}

func serveStats(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// This handler's own goroutine is not the program's.
	_ = json.NewEncoder(w).Encode(processStats{Goroutines: runtime.NumGoroutine() - 1, HeapAlloc: ms.HeapAlloc})
}

// natsServerMain runs a nats-server with JetStream until SIGTERM or SIGINT,
// and prints "nats-server ready nats://host:port" once it takes clients.
func natsServerMain(args []string) int {
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	name := fs.String("name", "n1", "server name (unique in a cluster)")
	port := fs.Int("port", -1, "client port on 127.0.0.1 (-1: any free port)")
	store := fs.String("store", "", "JetStream store directory (required)")
	clusterName := fs.String("cluster", "", "cluster name; empty: no cluster")
	clusterPort := fs.Int("cluster-port", 0, "route port on 127.0.0.1")
	routes := fs.String("routes", "", "comma-separated nats-route://127.0.0.1:port of the other nodes")
	syncAlways := fs.Bool("sync-always", false, "fsync every JetStream write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *store == "" {
		fmt.Fprintln(os.Stderr, "nats-server: -store is required")
		return 2
	}
	opts := &server.Options{
		ServerName: *name,
		Host:       "127.0.0.1",
		Port:       *port,
		JetStream:  true,
		StoreDir:   *store,
		SyncAlways: *syncAlways,
		NoSigs:     true,
	}
	if *clusterName != "" {
		opts.Cluster = server.ClusterOpts{Name: *clusterName, Host: "127.0.0.1", Port: *clusterPort}
		for r := range strings.SplitSeq(*routes, ",") {
			if r == "" {
				continue
			}
			u, err := url.Parse(r)
			if err != nil {
				fmt.Fprintln(os.Stderr, "nats-server: route:", err)
				return 2
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats-server:", err)
		return 1
	}
	ns.ConfigureLogger()
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats-server: not ready after 30s")
		return 1
	}
	fmt.Fprintf(os.Stdout, "nats-server ready %s\n", ns.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

// sqliteLockMain opens a SQLite file, takes its write lock with BEGIN
// EXCLUSIVE, prints "locked", holds the lock for -hold, then rolls back.
func sqliteLockMain(args []string) int {
	fs := flag.NewFlagSet("sqlite-lock", flag.ContinueOnError)
	path := fs.String("db", "", "database file (required)")
	hold := fs.Duration("hold", 8*time.Second, "how long to hold the lock")
	if err := fs.Parse(args); err != nil || *path == "" {
		return 2
	}
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: *path}).EscapedPath()+"?_busy_timeout=30000")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlite-lock:", err)
		return 1
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlite-lock:", err)
		return 1
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		fmt.Fprintln(os.Stderr, "sqlite-lock: begin exclusive:", err)
		return 1
	}
	fmt.Fprintln(os.Stdout, "locked")
	time.Sleep(*hold)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil && !errors.Is(err, sql.ErrConnDone) {
		fmt.Fprintln(os.Stderr, "sqlite-lock: rollback:", err)
		return 1
	}
	fmt.Fprintln(os.Stdout, "released")
	return 0
}
