package main

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// dockerIgnored reports whether the build context path p (slash-separated,
// relative to the context root) is left out by the .dockerignore patterns,
// as Docker reads them for the patterns this repository uses: a pattern
// matching a directory leaves out everything under it, "**/" matches any
// number of directories, a leading "/" is the root. (No "!" exceptions.)
func dockerIgnored(patterns []string, p string) bool {
	segs := strings.Split(p, "/")
	for _, pat := range patterns {
		pat = strings.TrimPrefix(path.Clean(pat), "/")
		anyDepth := strings.HasPrefix(pat, "**/")
		pat = strings.TrimPrefix(pat, "**/")
		n := strings.Count(pat, "/") + 1
		for end := 1; end <= len(segs); end++ { // p itself or a directory above it
			starts := []int{0}
			if anyDepth {
				starts = starts[:0]
				for s := 0; s+n <= end; s++ {
					starts = append(starts, s)
				}
			}
			for _, s := range starts {
				if end-s != n {
					continue
				}
				if ok, _ := path.Match(pat, strings.Join(segs[s:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// TestDockerignore: the image build never sees the repository's history,
// data directories, databases or secret files, and sees every source file.
// The image's /data is created 0700.
func TestDockerignore(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, p := range []string{
		".git/config", "data", "data/fulfillment.db", "data/nats/jetstream/FULFILLMENT/msgs/1.blk", "cmd/fulfillmentd/data/x",
		"fulfillment.db", "fulfillment.db-wal", "fulfillment.db-shm", "old/orders.db", "secrets/worker.creds", "seed.nk", ".env",
	} {
		if !dockerIgnored(patterns, p) {
			t.Errorf("%s enters the image build", p)
		}
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && (rel == ".git" || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if ext := path.Ext(rel); ext == ".go" || ext == ".json" || rel == "go.mod" || rel == "go.sum" || rel == "Dockerfile" {
			if dockerIgnored(patterns, rel) {
				t.Errorf("%s is left out of the image build", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil || !strings.Contains(string(dockerfile), "install -d -m 0700 /out/data") {
		t.Errorf("the Dockerfile does not create /data 0700 (%v)", err)
	}
}
