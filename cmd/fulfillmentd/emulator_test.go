package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEmulatorOnlyInDemo: the binary links the Stripe emulator and its
// fixtures on purpose, for demo and loadtest only. No other file of the
// command may import them, so serve can never talk to the emulator.
func TestEmulatorOnlyInDemo(t *testing.T) {
	t.Parallel()
	allowed := []string{"cmd_demo.go", "cmd_loadtest.go", "loadmix.go"}
	banned := []string{
		"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu",
		"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	importers := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(banned, path) {
				continue
			}
			importers++
			if !slices.Contains(allowed, name) {
				t.Errorf("%s imports %s: only the demo and loadtest files may", name, path)
			}
		}
	}
	if importers == 0 {
		t.Error("no file imports the emulator: is the test looking at the right directory?")
	}
}
