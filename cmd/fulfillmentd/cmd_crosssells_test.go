package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// splitExpired separates the expired sessions (an expired event, never an
// order) from the others.
func splitExpired(t *testing.T, emu *stripeemu.Emulator, sessions []string) (completed, expired []string) {
	t.Helper()
	for _, id := range sessions {
		if status, _ := emu.SessionStatus(id); status == "expired" {
			expired = append(expired, id)
		} else {
			completed = append(completed, id)
		}
	}
	if len(expired) == 0 {
		t.Fatal("fixtures hold no expired session")
	}
	return completed, expired
}

// fixtureFile copies a fixtures.FS file into a temporary directory (settings
// are files on disk) and returns its path.
func fixtureFile(t *testing.T, name string) string {
	t.Helper()
	data, err := fixtures.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCheckoutDetails checks, on a running service that has processed every
// fixture (cs_test_unpaid settled), what issue 3 asks of orders end to end:
// every field in the order JSON, the expired session, the odd cross-sell
// quantity in the log, and the report read while serve runs.
func checkCheckoutDetails(t *testing.T, svc *service, env map[string]string) {
	t.Helper()
	order := func(id string) map[string]any {
		t.Helper()
		var o map[string]any
		if code := svc.get(t, "/v1/orders/"+id, &o); code != http.StatusOK {
			t.Fatalf("GET /v1/orders/%s = %d", id, code)
		}
		return o
	}
	lines := func(o map[string]any) []map[string]any {
		var out []map[string]any
		for _, li := range o["line_items"].([]any) {
			out = append(out, li.(map[string]any))
		}
		return out
	}
	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("%s = %s, want %s", what, g, w)
		}
	}

	sub := order("cs_test_subscription")
	same("subscription client_reference_id", sub["client_reference_id"], "acct_signup_4471")
	same("subscription metadata", sub["metadata"], map[string]string{"plan": "pro"})
	same("subscription customer", sub["customer"], map[string]any{"id": "cus_P0f3a1Yx8wUb3Z", "email": "ops@acme.example", "name": "Acme Ops", "phone": ""})
	same("subscription shipping", sub["shipping"], nil)
	same("subscription mode", sub["mode"], "subscription")
	subLines := lines(sub)
	same("plan recurring", subLines[0]["recurring"], map[string]any{"interval": "month", "interval_count": 1})
	same("setup fee recurring", subLines[1]["recurring"], nil)
	same("setup fee cross-sell", []any{subLines[1]["cross_sell"], subLines[1]["cross_sell_of"]}, []any{true, "prod_plan_pro"})

	cam := order("cs_test_camera_only")
	same("camera_only totals", []any{cam["amount_subtotal"], cam["amount_discount"], cam["amount_tax"], cam["amount_shipping"], cam["amount_total"]},
		[]int64{89900, 8990, 6978, 1500, 89388})
	camLine := lines(cam)[0]
	same("camera_only line", []any{camLine["amount_discount"], camLine["amount_tax"], camLine["amount_total"], camLine["cross_sell"], camLine["recurring"]},
		[]any{8990, 6978, 87888, false, nil})
	same("camera_only shipping", cam["shipping"].(map[string]any)["name"], "Alex Kim")

	cs := order("cs_test_crosssell")
	same("crosssell order totals", []any{cs["amount_discount"], cs["amount_tax"], cs["amount_shipping"]}, []int64{8990, 7416, 1500})
	same("crosssell client_reference_id and metadata", []any{cs["client_reference_id"], cs["metadata"]},
		[]any{"cart_8f3k2", map[string]string{"channel": "web", "order_ref": "web-1001"}})

	free := order("cs_test_free")
	same("free order", []any{free["status"], free["payment_status"], free["amount_total"], free["amount_discount"], free["shipping"], free["client_reference_id"]},
		[]any{"ready_to_ship", "no_payment_required", 0, 1900, nil, ""})
	digital := order("cs_test_digital")
	same("digital zero-amount line", lines(digital)[1]["amount_total"], 0)
	same("digital without shipping", []any{digital["status"], digital["shipping"], digital["metadata"]}, []any{"ready_to_ship", nil, nil})

	qty := lines(order("cs_test_quantity"))[1]
	same("quantity-2 cross-sell", []any{qty["product_id"], qty["quantity"], qty["cross_sell"], qty["cross_sell_of"], qty["amount_total"]},
		[]any{"prod_desk_mat", 2, true, "prod_standing_desk", 7800})
	logs := svc.stderr.String()
	if !strings.Contains(logs, `"msg":"cross-sell line with quantity other than 1"`) || !strings.Contains(logs, `"session_id":"cs_test_quantity"`) {
		t.Errorf("no log line flags the quantity-2 cross-sell of cs_test_quantity:\n%s", logs)
	}

	// Expired: accepted (200, status "expired"), never an order.
	if code := svc.get(t, "/v1/orders/cs_test_expired", nil); code != http.StatusNotFound {
		t.Errorf("expired session has an order: GET = %d", code)
	}
	body := []byte(`{"id":"evt_expired_again","object":"event","api_version":"2023-10-16","type":"checkout.session.expired",` +
		`"data":{"object":{"id":"cs_test_expired","object":"checkout.session","status":"expired"}}}`)
	req, _ := http.NewRequest(http.MethodPost, svc.url+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", stripeevent.Sign("whsec_new_e2e", time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || reply.Status != "expired" {
		t.Errorf("expired event: HTTP %d status %q, want 200 expired", resp.StatusCode, reply.Status)
	}

	// The report, read-only beside the running service.
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"cross-sells", "report", "--json"}, envFunc(env), &out, &errOut); err != nil {
		t.Fatalf("cross-sells report beside serve: %v\n%s", err, errOut.String())
	}
	var rep reportOutput
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.String())
	}
	want := []pairStats{
		{Base: "prod_camera", CrossSell: "prod_lens_cloth", Currency: "usd", OrdersWithBase: 3, OrdersWithCrossSell: 2, AttachRate: 2.0 / 3.0,
			CrossSellRevenue: 1800, OrderValueWith: 99726 + 186290, OrderValueWithout: 89388, AverageOrderValueWith: 143008, AverageOrderValueWithout: 89388},
		{Base: "prod_plan_pro", CrossSell: "prod_setup_fee", Currency: "usd", OrdersWithBase: 1, OrdersWithCrossSell: 1, AttachRate: 1,
			CrossSellRevenue: 4900, OrderValueWith: 7800, AverageOrderValueWith: 7800},
		// cs_test_unpaid settled, so both desk orders count.
		{Base: "prod_standing_desk", CrossSell: "prod_desk_mat", Currency: "usd", OrdersWithBase: 2, OrdersWithCrossSell: 2, AttachRate: 1,
			CrossSellRevenue: 3900 + 7800, OrderValueWith: 63700 + 67600, AverageOrderValueWith: 65650},
	}
	if !reflect.DeepEqual(rep.Pairs, want) {
		t.Errorf("report beside serve:\n got %+v\nwant %+v", rep.Pairs, want)
	}
}

func TestCrossSellsCheck(t *testing.T) {
	t.Parallel()
	emu, srv := newEmulator(t)
	if err := emu.SeedCatalog(fixtures.FS, "catalog.json"); err != nil {
		t.Fatal(err)
	}
	fixturePairs, checkPairs := fixtureFile(t, "crosssells.json"), fixtureFile(t, "crosssells_check.json")
	env := func(crossSells string) map[string]string {
		return map[string]string{"STRIPE_SECRET_KEY": "sk_test_check", "STRIPE_API_BASE": srv.URL,
			"STRIPE_MAX_RPS": "1000", "FULFILLMENT_CROSS_SELLS": crossSells}
	}
	// Every pair of crosssells_check.json and the reasons it must get.
	reasons := map[string][]string{
		"prod_camera → prod_lens_cloth":          nil,
		"prod_desk_lamp → prod_lamp_bulb":        {fulfillment.ReasonCrossSellArchived},
		"prod_drone → prod_drone_battery":        {fulfillment.ReasonSeveralPrices},
		"prod_espresso_machine → prod_descaler":  {fulfillment.ReasonCurrencyMismatch},
		"prod_gimbal → prod_gimbal_case":         {fulfillment.ReasonCrossSellNotFound},
		"prod_headphones → prod_ear_cushions":    nil,
		"prod_plan_pro → prod_setup_fee":         nil,
		"prod_plan_team → prod_priority_support": {fulfillment.ReasonIntervalMismatch},
		"prod_printer → prod_ink_subscription":   {fulfillment.ReasonRecurringOneTime},
		"prod_standing_desk → prod_desk_mat":     nil,
		"prod_tripod → prod_tripod_bag":          {fulfillment.ReasonNoActivePrice},
	}
	withTax := map[string][]string{"prod_headphones → prod_ear_cushions": {fulfillment.ReasonTaxBehaviorMissing}}

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string   // "" means exit 0
		stdout  []string // substrings
		reasons map[string][]string
	}{
		{name: "the fixtures' pairs are all eligible", env: env(fixturePairs),
			stdout: []string{"prod_camera → prod_lens_cloth", "eligible", "3 of 3 pairs eligible, 0 ineligible", "automatic tax: off"}},
		{name: "each kind of ineligible product", env: env(checkPairs), wantErr: "7 of 11 cross-sell pairs are ineligible",
			stdout: []string{"INELIGIBLE", "4 of 11 pairs eligible, 7 ineligible"}, reasons: reasons},
		{name: "automatic tax needs a tax behavior", env: env(checkPairs), args: []string{"--automatic-tax"},
			wantErr: "8 of 11 cross-sell pairs are ineligible", stdout: []string{"automatic tax: on"}, reasons: merge(reasons, withTax)},
		{name: "json", env: env(checkPairs), args: []string{"--json"}, wantErr: "7 of 11", reasons: reasons},
		{name: "json with automatic tax", env: env(checkPairs), args: []string{"--json", "--automatic-tax"}, wantErr: "8 of 11", reasons: merge(reasons, withTax)},
		{name: "needs the key and the pairs, not the webhook secret", env: map[string]string{},
			wantErr: "STRIPE_SECRET_KEY is required"},
		{name: "Stripe refuses the key", env: merge(env(fixturePairs), map[string]string{"STRIPE_SECRET_KEY": "sk_test_"}),
			wantErr: stripeKeyProblem + ": retrieve product"},
		{name: "unknown subcommand", env: env(fixturePairs), args: []string{"--nope"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"cross-sells", "check"}, tt.args...), envFunc(tt.env), &stdout, &stderr)
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q\nstdout:\n%s", err, tt.wantErr, stdout.String())
			}
			if err != nil && strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
				t.Errorf("check asks for the webhook secret: %v", err)
			}
			if tt.name == "needs the key and the pairs, not the webhook secret" && !strings.Contains(err.Error(), "FULFILLMENT_CROSS_SELLS is required") {
				t.Errorf("missing FULFILLMENT_CROSS_SELLS not reported: %v", err)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			if tt.reasons == nil {
				return
			}
			got := map[string][]string{}
			if strings.Contains(strings.Join(tt.args, " "), "--json") {
				var out checkOutput
				if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
					t.Fatalf("JSON: %v\n%s", err, stdout.String())
				}
				for _, p := range out.Pairs {
					var codes []string
					for _, r := range p.Reasons {
						codes = append(codes, r.Code)
					}
					if p.Eligible != (len(codes) == 0) {
						t.Errorf("%s → %s: eligible %v with reasons %v", p.Base, p.CrossSell, p.Eligible, codes)
					}
					got[p.Base+" → "+p.CrossSell] = codes
				}
			} else { // the table: one row per reason, the pair on the first
				pair := ""
				for _, row := range strings.Split(stdout.String(), "\n") {
					if f := strings.Fields(row); len(f) >= 4 && f[1] == "→" && strings.HasPrefix(f[0], "prod_") {
						pair = f[0] + " → " + f[2]
						got[pair] = nil
					}
					for _, code := range reasonCodes {
						if pair != "" && strings.Contains(row, " "+code+": ") {
							got[pair] = append(got[pair], code)
						}
					}
				}
			}
			if !reflect.DeepEqual(got, tt.reasons) {
				t.Errorf("reasons per pair:\n got %v\nwant %v\nstdout:\n%s", got, tt.reasons, stdout.String())
			}
		})
	}
}

var reasonCodes = []string{
	fulfillment.ReasonCrossSellNotFound, fulfillment.ReasonBaseNotFound, fulfillment.ReasonCrossSellArchived,
	fulfillment.ReasonBaseArchived, fulfillment.ReasonNoActivePrice, fulfillment.ReasonSeveralPrices,
	fulfillment.ReasonBaseNoActivePrice, fulfillment.ReasonCurrencyMismatch, fulfillment.ReasonRecurringOneTime,
	fulfillment.ReasonIntervalMismatch, fulfillment.ReasonTaxBehaviorMissing,
}

// merge returns a copy of a with b's entries over it.
func merge[V any](a, b map[string]V) map[string]V {
	out := make(map[string]V, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// fixtureDataDir records an order for every completed fixture session, as
// the workers would (Processor, real stripe-go client, emulator, SQLite
// file), and returns the data directory. cs_test_unpaid stays unpaid.
func fixtureDataDir(t *testing.T) string {
	t.Helper()
	emu, srv := newEmulator(t)
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := fixtures.FS.ReadFile("crosssells.json")
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := fulfillment.ParseCrossSells(raw)
	if err != nil {
		t.Fatal(err)
	}
	proc := &fulfillment.Processor{
		Stripe:     stripeapi.New(stripeapi.Config{SecretKey: "sk_test_report", BaseURL: srv.URL}),
		Orders:     db,
		CrossSells: pairs,
	}
	completed, _ := splitExpired(t, emu, emu.SessionIDs())
	for i, id := range completed {
		body, err := emu.Event(fmt.Sprintf("evt_report_%d", i), fulfillment.EventSessionCompleted, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ev, err := stripeevent.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proc.Process(context.Background(), ev); err != nil {
			t.Fatalf("process %s: %v", id, err)
		}
	}
	return dir
}

func TestCrossSellsReport(t *testing.T) {
	t.Parallel()
	dir := fixtureDataDir(t)
	pairs := fixtureFile(t, "crosssells.json")
	env := map[string]string{"FULFILLMENT_DATA_DIR": dir, "FULFILLMENT_CROSS_SELLS": pairs}
	// Paid orders of the fixtures: camera with the cloth in cs_test_crosssell
	// (99726, cloth 900) and cs_test_bulk (186290, cloth 900), without it in
	// cs_test_camera_only (89388); the desk with two mats in
	// cs_test_quantity (67600, mats 7800), cs_test_unpaid not counted
	// (awaiting payment); the plan with its setup fee (7800, fee 4900).
	all := []pairStats{
		{Base: "prod_camera", CrossSell: "prod_lens_cloth", Currency: "usd", OrdersWithBase: 3, OrdersWithCrossSell: 2, AttachRate: 2.0 / 3.0,
			CrossSellRevenue: 1800, OrderValueWith: 286016, OrderValueWithout: 89388, AverageOrderValueWith: 143008, AverageOrderValueWithout: 89388},
		{Base: "prod_plan_pro", CrossSell: "prod_setup_fee", Currency: "usd", OrdersWithBase: 1, OrdersWithCrossSell: 1, AttachRate: 1,
			CrossSellRevenue: 4900, OrderValueWith: 7800, AverageOrderValueWith: 7800},
		{Base: "prod_standing_desk", CrossSell: "prod_desk_mat", Currency: "usd", OrdersWithBase: 1, OrdersWithCrossSell: 1, AttachRate: 1,
			CrossSellRevenue: 7800, OrderValueWith: 67600, AverageOrderValueWith: 67600},
	}
	none := []pairStats{{Base: "prod_camera", CrossSell: "prod_lens_cloth"}, {Base: "prod_plan_pro", CrossSell: "prod_setup_fee"},
		{Base: "prod_standing_desk", CrossSell: "prod_desk_mat"}}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		stdout  []string
		json    []pairStats
	}{
		{name: "table, last 30 days", env: env, stdout: []string{
			"paid orders only", "(30d)", "orders refunded in part count at their full amount, their refunds are in REFUNDED", "AVG ORDER WITHOUT  REFUNDED",
			"prod_camera → prod_lens_cloth", "66.7%", "USD 18.00", "USD 1430.08", "USD 893.88",
			"prod_standing_desk → prod_desk_mat", "100.0%", "USD 78.00", "USD 676.00"}},
		{name: "json", env: env, args: []string{"--json"}, json: all},
		{name: "json, all time", env: env, args: []string{"--json", "--since", "all"}, json: all},
		{name: "json, since a date before", env: env, args: []string{"--json", "--since", "2001-01-01"}, json: all},
		{name: "json, since a time after every order", env: env, args: []string{"--json", "--since", "2999-01-01T00:00:00Z"}, json: none},
		{name: "table without orders", env: env, args: []string{"--since", "2999-01-01"}, stdout: []string{"prod_camera → prod_lens_cloth", "—"}},
		{name: "bad --since", env: env, args: []string{"--since", "a while"}, wantErr: "--since"},
		{name: "no database", env: map[string]string{"FULFILLMENT_DATA_DIR": filepath.Join(dir, "nope"), "FULFILLMENT_CROSS_SELLS": pairs},
			wantErr: "FULFILLMENT_DATA_DIR"},
		{name: "needs the pairs", env: map[string]string{"FULFILLMENT_DATA_DIR": dir}, wantErr: "FULFILLMENT_CROSS_SELLS is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"cross-sells", "report"}, tt.args...), envFunc(tt.env), &stdout, &stderr)
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q\nstdout:\n%s", err, tt.wantErr, stdout.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			if tt.json != nil {
				var out reportOutput
				if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
					t.Fatalf("JSON: %v\n%s", err, stdout.String())
				}
				if !reflect.DeepEqual(out.Pairs, tt.json) {
					t.Errorf("pairs:\n got %+v\nwant %+v", out.Pairs, tt.json)
				}
			}
		})
	}
}

func TestCrossSellsUsage(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"cross-sells"}, envFunc(nil), &stdout, &stderr); err == nil ||
		!strings.Contains(stderr.String(), "cross-sells check") {
		t.Errorf("no subcommand: err %v, usage %q", err, stderr.String())
	}
	if err := run(context.Background(), []string{"cross-sells", "forecast"}, envFunc(nil), &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), `unknown subcommand "forecast"`) {
		t.Errorf("unknown subcommand: %v", err)
	}
}
