package main

import (
	"log/slog"
	"os"
)

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
