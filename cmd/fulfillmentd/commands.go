package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// env is what a command reads and writes besides its arguments.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time
}

// subcommand is one entry of a command table: "fulfillmentd <name>" or
// "fulfillmentd <group> <name>".
type subcommand struct {
	name string
	run  func(ctx context.Context, args []string, e env) error
}

// dispatch runs the command args[0] names from cmds. "help", "-h" and
// "--help" print usage on stdout and succeed; a missing or unknown command
// prints it on stderr and fails. group is "" for the top level.
func dispatch(ctx context.Context, group, usage string, cmds []subcommand, args []string, e env) error {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		if group == "" {
			return errors.New("missing command")
		}
		return fmt.Errorf("%s: missing subcommand (%s)", group, want)
	}
	name, rest := args[0], args[1:]
	if isHelp(name) || name == "help" {
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	for _, c := range cmds {
		if c.name == name {
			return c.run(ctx, rest, e)
		}
	}
	fmt.Fprint(e.stderr, usage)
	if group == "" {
		return fmt.Errorf("unknown command %q", name)
	}
	return fmt.Errorf("%s: unknown subcommand %q (want %s)", group, name, want)
}

// isHelp reports whether a is a flag asking for help.
func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "--h" }

// newFlags is the flag set of one command: usage (may be "") and then every
// flag with its default. Parse it with parseFlags.
func newFlags(name, usage string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		if usage == "" {
			fmt.Fprintf(w, "Usage of %s:\n", name)
		} else {
			fmt.Fprint(w, usage)
		}
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. -h or --help prints the usage on stdout
// and returns flag.ErrHelp, which run turns into success (exit 0); any other
// flag error prints it and the usage on stderr, as the flag package does.
func parseFlags(fs *flag.FlagSet, args []string, e env) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		out := fs.Output()
		fs.SetOutput(e.stdout)
		fs.Usage()
		fs.SetOutput(out)
	case err != nil:
		fs.Usage()
	}
	return err
}
