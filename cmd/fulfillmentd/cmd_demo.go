package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// demo runs the whole pipeline offline: an in-process Stripe emulator seeded
// from fulfillment/stripeemu/fixtures, the embedded broker, a temporary database, and signed
// deliveries to its own receiver over HTTP, as Stripe would make them.
func demo(ctx context.Context, args []string, e env) error {
	stdout, stderr := e.stdout, e.stderr
	fs := newFlags("demo", "", e)
	addr := fs.String("addr", "127.0.0.1:8080", "HTTP listen address (a free port is used if it is taken)")
	exit := fs.Bool("exit", false, "exit after printing the orders instead of serving until Ctrl-C")
	verbose := fs.Bool("v", false, "show the service's own logs")
	if err := parseFlags(fs, args, e); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "fulfillmentd-demo-")
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	defer os.RemoveAll(dir)

	level := "error"
	if *verbose {
		level = "info"
	}
	log := newLogger(stderr, "text", level)

	emu := stripeemu.New(stripeemu.Options{Log: log})
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		return fmt.Errorf("seed Stripe emulator: %w", err)
	}
	emuLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the Stripe emulator: %w", err)
	}
	emuSrv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = emuSrv.Serve(emuLn) }() // ends with Close below
	defer emuSrv.Close()

	crossSellsJSON, err := fixtures.FS.ReadFile("crosssells.json")
	if err != nil {
		return err
	}
	crossSellsPath := filepath.Join(dir, "crosssells.json")
	if err := os.WriteFile(crossSellsPath, crossSellsJSON, 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	secret, token, adminToken := "whsec_demo_"+randomHex(16), "demo_"+randomHex(16), "demo_admin_"+randomHex(16)
	cfg, err := configFrom(map[string]string{
		"STRIPE_SECRET_KEY":       "sk_test_demo",
		"STRIPE_WEBHOOK_SECRET":   secret,
		"STRIPE_API_BASE":         "http://" + emuLn.Addr().String(),
		"FULFILLMENT_DATA_DIR":    dir,
		"FULFILLMENT_ADDR":        *addr,
		"FULFILLMENT_API_TOKEN":   token, // a bare token is named default
		"FULFILLMENT_ADMIN_TOKEN": "merchant:" + adminToken,
		"FULFILLMENT_WORKERS":     "8",
		"STRIPE_MAX_RPS":          "20",
		"FULFILLMENT_CROSS_SELLS": crossSellsPath,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	a, err := start(ctx, cfg, log)
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "listen" {
		cfg.Addr = "127.0.0.1:0"
		a, err = start(ctx, cfg, log)
	}
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	urls := make(chan string, 1)
	runDone := make(chan error, 1)
	go func() { runDone <- a.run(runCtx, func(u string) { urls <- u }) }()
	var base string
	select {
	case base = <-urls:
	case err := <-runDone:
		return err
	}

	d := &deliverer{url: base + "/webhooks/stripe", client: &http.Client{Timeout: 10 * time.Second}, out: stdout}
	api := &apiClient{name: "warehouse", base: base, token: token, client: d.client}
	admin := &apiClient{name: "merchant", base: base, token: adminToken, client: d.client}
	fmt.Fprintf(stdout, "fulfillmentd demo: Stripe emulator at %s, receiver at %s, data in %s\n\n", cfg.StripeAPIBase, base, dir)
	fmt.Fprintln(stdout, "Delivering signed webhooks, as Stripe would:")

	sessions := emu.SessionIDs()
	sort.Strings(sessions)
	now := time.Now()
	var first []byte
	var completed []string // sessions that become orders; an expired one does not
	for i, id := range sessions {
		typ := fulfillment.EventSessionCompleted
		if status, _ := emu.SessionStatus(id); status == "expired" {
			typ = fulfillment.EventSessionExpired
		} else {
			completed = append(completed, id)
		}
		body, err := emu.Event(fmt.Sprintf("evt_demo_%03d", i+1), typ, id, now)
		if err != nil {
			return err
		}
		if first == nil {
			first = body
		}
		if err := d.send(ctx, "", secret, body, http.StatusOK); err != nil {
			return err
		}
	}
	if err := d.send(ctx, "   ← the same event again, as Stripe retries", secret, first, http.StatusOK); err != nil {
		return err
	}
	if err := d.send(ctx, "   ← forged: signed with the wrong secret", "whsec_attacker", first, http.StatusBadRequest); err != nil {
		return err
	}

	// The delayed payment settles later: Stripe flips the session to paid and
	// sends async_payment_succeeded.
	const unpaid = "cs_test_unpaid"
	if _, err := api.waitFor(ctx, unpaid, fulfillment.StatusAwaitingPayment); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s is awaiting its bank transfer; the payment now succeeds:\n", unpaid)
	if err := emu.SetPaymentStatus(unpaid, string(fulfillment.PaymentPaid)); err != nil {
		return err
	}
	body, err := emu.Event("evt_demo_async", fulfillment.EventSessionAsyncPaymentSucceed, unpaid, time.Now())
	if err != nil {
		return err
	}
	if err := d.send(ctx, "", secret, body, http.StatusOK); err != nil {
		return err
	}

	var orders []fulfillment.Order
	for _, id := range completed {
		want := fulfillment.StatusReadyToShip
		o, err := api.waitFor(ctx, id, want)
		if err != nil {
			return err
		}
		orders = append(orders, o)
	}
	fmt.Fprintf(stdout, "\nOrders recorded (%d Stripe API requests in all):\n\n", a.stripe.Requests())
	printOrders(stdout, orders)
	if err := demoMoney(ctx, stdout, emu, d, secret, api, admin); err != nil {
		return err
	}
	if err := demoCrossSellsReport(ctx, dir, crossSellsPath, stdout, stderr); err != nil {
		return err
	}

	fmt.Fprintf(stdout, `
Query the warehouse API:
  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/v1/orders?limit=10'
  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/v1/orders/cs_test_crosssell'
  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/v1/orders?status=on_hold'
and the merchant API (admin token):
  curl -s -X POST -H 'Authorization: Bearer %[3]s' '%[1]s/v1/orders/cs_test_quantity/hold' -d '{"note":"check the address"}'
  curl -s -X POST -H 'Authorization: Bearer %[3]s' '%[1]s/v1/orders/cs_test_camera_only/release'
  curl -s -X POST -H 'Authorization: Bearer %[3]s' '%[1]s/v1/checkout/sessions/cs_test_bulk/fulfill'
or open the operator console in a browser and sign in with the admin token %[3]s:
  %[1]s/console/
`, base, token, adminToken)
	if *exit {
		stopRun()
		return <-runDone
	}
	fmt.Fprintln(stdout, "\nServing until Ctrl-C.")
	return <-runDone
}

// demoMoney is the demo's money after checkout: Stripe refunds one order in
// full (canceled), part of another (held) and opens a dispute on a third
// (held); the warehouse is refused; the merchant releases the partly
// refunded order through the merchant API.
func demoMoney(ctx context.Context, stdout io.Writer, emu *stripeemu.Emulator, d *deliverer, secret string, api, admin *apiClient) error {
	const (
		refunded = "cs_test_digital"     // refunded in full before it ships
		partly   = "cs_test_crosssell"   // the lens cloth refunded (USD 9.00)
		disputed = "cs_test_camera_only" // the buyer's bank disputes the charge
	)
	fmt.Fprintln(stdout, "\nMoney moves after checkout; fulfillmentd reads each object back from Stripe:")
	type step struct {
		event, typ, note string
		act              func() (string, error)
	}
	for _, s := range []step{
		{"evt_demo_refund", fulfillment.EventChargeRefunded, "   ← " + refunded + " refunded in full",
			func() (string, error) { return emu.Refund(refunded, 0) }},
		{"evt_demo_partial", fulfillment.EventChargeRefunded, "   ← " + partly + ": USD 9.00 of it refunded",
			func() (string, error) { return emu.Refund(partly, 900) }},
		{"evt_demo_dispute", fulfillment.EventDisputeCreated, "   ← " + disputed + " disputed (fraudulent)",
			func() (string, error) { return emu.OpenDispute(disputed, "fraudulent", false) }},
	} {
		object, err := s.act()
		if err != nil {
			return err
		}
		body, err := emu.ObjectEvent(s.event, s.typ, object, time.Now())
		if err != nil {
			return err
		}
		if err := d.send(ctx, s.note, secret, body, http.StatusOK); err != nil {
			return err
		}
	}
	var orders []fulfillment.Order
	for _, w := range []struct {
		session string
		status  fulfillment.Status
	}{{refunded, fulfillment.StatusCanceled}, {partly, fulfillment.StatusOnHold}, {disputed, fulfillment.StatusOnHold}} {
		o, err := api.waitFor(ctx, w.session, w.status)
		if err != nil {
			return err
		}
		orders = append(orders, o)
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tCHECKOUT SESSION\tSTATUS\tREASON\tREFUNDED\tRISK")
	for _, o := range orders {
		refund := "—"
		if o.AmountRefunded > 0 {
			refund = money(o.AmountRefunded, o.Currency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(o.ID), printable(o.CheckoutSessionID), printable(string(o.Status)),
			printable(orDash(statusReason(o))), printable(refund), printable(orDash(risk(o))))
	}
	_ = tw.Flush()

	fmt.Fprintln(stdout, "\nThe warehouse is refused; the merchant checks the partly refunded order and releases it (admin token):")
	for _, c := range []struct {
		who        *apiClient
		path, body string
		want       int
	}{
		{api, "/v1/orders/" + refunded + "/shipments", `{"carrier":"UPS","tracking_number":"1ZDEMO"}`, http.StatusConflict},
		{api, "/v1/orders/" + disputed + "/acknowledge", "", http.StatusConflict},
		{api, "/v1/orders/" + partly + "/release", "", http.StatusForbidden},
		{admin, "/v1/orders/" + partly + "/release", "", http.StatusOK},
	} {
		code, reply, err := c.who.post(ctx, c.path, c.body)
		if err != nil {
			return err
		}
		answer := strings.TrimSpace(string(reply))
		if code == http.StatusOK {
			var o fulfillment.Order
			if err := json.Unmarshal(reply, &o); err != nil {
				return fmt.Errorf("demo: POST %s: %w", c.path, err)
			}
			answer = "status " + string(o.Status)
		}
		fmt.Fprintf(stdout, "  POST %-42s %-9s → %d %s\n", printable(c.path), c.who.name, code, printable(answer))
		if code != c.want {
			return fmt.Errorf("demo: POST %s: HTTP %d, want %d", c.path, code, c.want)
		}
	}
	return nil
}

// deliverer posts signed events to the receiver the way Stripe does.
type deliverer struct {
	url    string
	client *http.Client
	out    io.Writer
}

func (d *deliverer) send(ctx context.Context, note, secret string, body []byte, want int) error {
	var ev struct{ ID, Type string }
	_ = json.Unmarshal(body, &ev) // our own event: always valid
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", stripeevent.Sign(secret, time.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("deliver %s: %w", ev.ID, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(d.out, "  %-16s %-42s → %d %s%s\n", printable(ev.ID), printable(ev.Type), resp.StatusCode, printable(strings.TrimSpace(string(reply))), note)
	if resp.StatusCode != want {
		return fmt.Errorf("deliver %s: got HTTP %d, want %d", ev.ID, resp.StatusCode, want)
	}
	return nil
}

// apiClient calls the warehouse API, as a warehouse would, or the
// merchant API with an admin token; name says which in the demo's output.
type apiClient struct {
	name, base, token string
	client            *http.Client
}

// post sends a POST with the JSON body ("" for none) and returns the
// status and the answer.
func (c *apiClient) post(ctx context.Context, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, reply, err
}

func (c *apiClient) order(ctx context.Context, id string) (fulfillment.Order, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/orders/"+id, nil)
	if err != nil {
		return fulfillment.Order{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		return fulfillment.Order{}, 0, err
	}
	defer resp.Body.Close()
	var o fulfillment.Order
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&o)
	}
	return o, resp.StatusCode, err
}

// waitFor polls until the session's order has the status (30 s at most).
func (c *apiClient) waitFor(ctx context.Context, sessionID string, want fulfillment.Status) (fulfillment.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		o, code, err := c.order(ctx, sessionID)
		if err == nil && code == http.StatusOK && o.Status == want {
			return o, nil
		}
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("order for %s did not reach %s (last: HTTP %d, status %q, err %v)", sessionID, want, code, o.Status, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func printOrders(w io.Writer, orders []fulfillment.Order) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tCHECKOUT SESSION\tSTATUS\tPAYMENT\tLINES\tTOTAL\tSHIP TO\tCROSS-SELLS")
	for _, o := range orders {
		var cross []string
		for _, li := range o.LineItems {
			if li.CrossSell {
				cross = append(cross, fmt.Sprintf("★ %s (with %s)", printable(li.Description), printable(li.CrossSellOf)))
			}
		}
		shipTo := "—"
		if o.Shipping != nil {
			shipTo = printable(o.Shipping.Name + ", " + o.Shipping.Address.City)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", printable(o.ID), printable(o.CheckoutSessionID), printable(string(o.Status)), printable(string(o.PaymentStatus)),
			len(o.LineItems), printable(money(o.AmountTotal, o.Currency)), shipTo, strings.Join(cross, "; "))
	}
	_ = tw.Flush()
}

// money formats an amount in the currency's smallest unit.
// money is amount in currency as people read it (fulfillment.FormatAmount).
func money(amount int64, currency string) string { return fulfillment.FormatAmount(amount, currency) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
