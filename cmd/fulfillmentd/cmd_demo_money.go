package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

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
