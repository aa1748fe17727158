package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// TestFaultBadInput sends the receiver (fulfillmentd as a child process)
// what a hostile or broken client would: malformed JSON, bodies that are not
// events, wrong content types, unsigned bodies, huge bodies with and without
// Content-Length, bodies and headers sent too slowly (server read
// timeouts), and header floods. Each gets a clear 4xx (or, for a stalled
// client, the connection closed by the server's timeouts), the program
// still works afterwards, and its goroutines and live heap come back to
// where they were (the child reports both on a side listener).
//
// Reduced: each bad request 10 times, 10 slow clients of each kind.
// Full: 200 times, 100 slow clients.
func TestFaultBadInput(t *testing.T) {
	t.Parallel()
	var (
		reps = faultSize(10, 200)
		slow = faultSize(10, 100)
	)
	emu, stripeSrv := newEmulator(t)
	events, sessions := generatedEvents(t, emu, "input", 12, 2)
	env := serviceEnv(t, stripeSrv.URL)
	env[statsEnv] = "1"
	env["FULFILLMENT_LOG_LEVEL"] = "error" // rejected webhooks log at warn
	p, base := startServeProc(t, "fulfillmentd", env)
	m, err := p.waitLine(regexp.MustCompile(`stats on (http://\S+)`), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	statsURL := m[1]
	dbPath := filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")
	addr := strings.TrimPrefix(base, "http://")
	client := &http.Client{Timeout: 30 * time.Second}

	post := func(body io.Reader, contentLength int64, header map[string]string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", body)
		req.ContentLength = contentLength
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	signed := func(body string) map[string]string {
		return map[string]string{
			"Content-Type":     "application/json; charset=utf-8",
			"Stripe-Signature": stripeevent.Sign("whsec_new_e2e", time.Now(), []byte(body)),
		}
	}
	huge := 10 << 20
	cases := []struct {
		name string
		send func() (int, error)
		want int
	}{
		{"malformed JSON, signed", func() (int, error) {
			b := `{"id":"evt_x","object":"event",`
			return post(strings.NewReader(b), int64(len(b)), signed(b))
		}, http.StatusBadRequest},
		{"JSON that is not an event, signed", func() (int, error) {
			b := `{"id":"cus_1","object":"customer"}`
			return post(strings.NewReader(b), int64(len(b)), signed(b))
		}, http.StatusBadRequest},
		{"checkout event without a session, signed", func() (int, error) {
			b := `{"id":"evt_y","object":"event","type":"checkout.session.completed","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`
			return post(strings.NewReader(b), int64(len(b)), signed(b))
		}, http.StatusBadRequest},
		{"unsigned", func() (int, error) {
			return post(strings.NewReader(string(events[0])), int64(len(events[0])), map[string]string{"Content-Type": "application/json"})
		}, http.StatusBadRequest},
		{"form content type", func() (int, error) {
			h := signed(string(events[0]))
			h["Content-Type"] = "application/x-www-form-urlencoded"
			return post(strings.NewReader(string(events[0])), int64(len(events[0])), h)
		}, http.StatusUnsupportedMediaType},
		{"text/plain", func() (int, error) {
			h := signed(string(events[0]))
			h["Content-Type"] = "text/plain"
			return post(strings.NewReader(string(events[0])), int64(len(events[0])), h)
		}, http.StatusUnsupportedMediaType},
		{"JSON in another charset", func() (int, error) {
			h := signed(string(events[0]))
			h["Content-Type"] = "application/json; charset=iso-8859-1"
			return post(strings.NewReader(string(events[0])), int64(len(events[0])), h)
		}, http.StatusUnsupportedMediaType},
		{"10 MiB with Content-Length", func() (int, error) {
			return post(io.LimitReader(zeros{}, int64(huge)), int64(huge), signed("x"))
		}, http.StatusRequestEntityTooLarge},
		{"10 MiB chunked", func() (int, error) {
			return post(io.LimitReader(zeros{}, int64(huge)), -1, signed("x"))
		}, http.StatusRequestEntityTooLarge},
		{"2,000 headers", func() (int, error) {
			h := signed(string(events[0]))
			for i := range 2000 {
				h[fmt.Sprintf("X-Flood-%04d", i)] = strings.Repeat("f", 40)
			}
			return post(strings.NewReader(string(events[0])), int64(len(events[0])), h)
		}, http.StatusRequestHeaderFieldsTooLarge},
		{"one 100 KiB header", func() (int, error) {
			h := signed(string(events[0]))
			h["X-Big"] = strings.Repeat("b", 100<<10)
			return post(strings.NewReader(string(events[0])), int64(len(events[0])), h)
		}, http.StatusRequestHeaderFieldsTooLarge},
	}

	// Warm up: valid deliveries and one of each bad request, so that
	// whatever starts lazily is running before the baseline.
	sender := newStripeSender(func() string { return base }, "whsec_new_e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := sender.burst(ctx, events[:6], 3, 0, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if code, err := c.send(); err != nil || code != c.want {
			t.Errorf("%s: HTTP %d, %v; want %d", c.name, code, err, c.want)
		}
	}
	waitOrders(t, dbPath, sessions[:6], 30*time.Second)
	client.CloseIdleConnections()
	before := childStats(t, statsURL)

	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Go(func() {
			for range reps {
				if code, err := c.send(); err != nil || code != c.want {
					t.Errorf("%s: HTTP %d, %v; want %d", c.name, code, err, c.want)
					return
				}
			}
		})
	}
	// Stalled clients: headers cut short, and a body that never comes.
	// The server's ReadHeaderTimeout (5 s) and ReadTimeout (15 s) must
	// close them.
	partialHeaders := "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	partialBody := "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"id\":"
	for i := range 2 * slow {
		send, limit := partialHeaders, 5*time.Second
		if i%2 == 1 {
			send, limit = partialBody, 15*time.Second
		}
		wg.Go(func() {
			began := time.Now()
			status, err := stall(addr, send, limit+15*time.Second)
			took := time.Since(began)
			switch {
			case err != nil:
				t.Errorf("stalled client: %v", err)
			case took > limit+10*time.Second:
				t.Errorf("stalled client (%q...) closed after %s, server timeout %s", send[len(send)-8:], took, limit)
			case status != "" && !strings.HasPrefix(status, "HTTP/1.1 4"):
				t.Errorf("stalled client answered %q, want a 4xx or a closed connection", status)
			}
		})
	}
	wg.Wait()
	if _, err := sender.burst(ctx, events[6:], 3, 0, nil); err != nil {
		t.Fatalf("valid deliveries after the abuse: %v", err)
	}
	if l := waitOrders(t, dbPath, sessions, 30*time.Second); len(l.orders) != len(sessions) {
		t.Fatalf("%d orders after the abuse, want %d", len(l.orders), len(sessions))
	}
	client.CloseIdleConnections()
	sender.client.CloseIdleConnections()

	// Connections close asynchronously: give goroutines a moment to end.
	var after processStats
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = childStats(t, statsURL)
		if after.Goroutines <= before.Goroutines+5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("bad-input figures: requests=%d stalled_clients=%d goroutines %d → %d, live heap %.1f → %.1f MiB",
		reps*len(cases), 2*slow, before.Goroutines, after.Goroutines,
		float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20))
	if after.Goroutines > before.Goroutines+5 {
		t.Errorf("goroutines grew from %d to %d", before.Goroutines, after.Goroutines)
	}
	if after.HeapAlloc > before.HeapAlloc+16<<20 {
		t.Errorf("live heap grew from %d to %d bytes", before.HeapAlloc, after.HeapAlloc)
	}
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// stall connects, sends a request cut short, and waits for the server to
// answer or close. It returns the status line, if any.
func stall(addr, partial string, wait time.Duration) (string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, partial); err != nil {
		return "", err
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return "", fmt.Errorf("server kept a stalled connection open for %s", wait)
	}
	_, _ = io.Copy(io.Discard, conn)
	return strings.TrimSpace(line), nil
}

func childStats(t *testing.T, url string) processStats {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s processStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
