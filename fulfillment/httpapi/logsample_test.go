package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogSampler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := time.Unix(1_800_000_000, 0)
	s := newLogSampler(slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return clock })
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if l != "" && json.Unmarshal([]byte(l), &m) == nil {
				out = append(out, m)
			}
		}
		buf.Reset()
		return out
	}
	var wg sync.WaitGroup
	for i := range 25 {
		wg.Go(func() { s.Warn("webhook rejected", "n", i) })
	}
	wg.Wait()
	if got := lines(); len(got) != SampledLines || got[0]["suppressed"] != nil {
		t.Fatalf("first minute: %d lines (%v), want %d without a suppressed count", len(got), got, SampledLines)
	}
	clock = clock.Add(30 * time.Second)
	s.Warn("webhook rejected")
	if got := lines(); len(got) != 0 {
		t.Fatalf("same minute: %v, want nothing", got)
	}
	clock = clock.Add(31 * time.Second)
	s.Warn("webhook rejected")
	s.Warn("webhook rejected")
	got := lines()
	if len(got) != 2 || got[0]["suppressed"] != float64(16) || got[1]["suppressed"] != nil {
		t.Fatalf("next minute: %v, want 2 lines, the first with suppressed=16", got)
	}
}
