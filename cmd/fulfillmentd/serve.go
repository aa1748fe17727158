package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
)

func serve(ctx context.Context, args []string, e env) error {
	cfg, err := serveConfig("serve", args, e)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.LogFormat, cfg.LogLevel)
	a, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return a.run(ctx, func(url string) {
		fmt.Fprintf(e.stdout, "fulfillmentd: listening on %s\n", url)
		if a.adminLn != nil {
			fmt.Fprintf(e.stdout, "fulfillmentd: admin endpoints (/healthz /readyz /metrics) on http://%s\n", a.adminLn.Addr())
		}
	})
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + info.GoVersion
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level)) // validated by loadConfig; "" is info
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// warnSharedDataDir logs a warning when the data directory lets other local
// users in (group or other permission bits): it holds buyers' names and
// addresses. fulfillmentd creates it 0700 and its files 0600, but keeps the
// mode of a directory that exists already: that is the operator's choice.
func warnSharedDataDir(log *slog.Logger, dir string) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("data directory is open to other local users; it holds buyers' personal data: chmod 700 it",
		"dir", dir, "mode", fi.Mode().Perm().String())
}
