package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// consoleAdmin is the console's admin token in the browser test.
const consoleAdmin = "console-admin-token-0123456789abcdef"

// chromium is the browser the console tests drive: Debian's chromium
// package. A machine without it gets it here, as .ci/run does (apt-get, as
// root or through sudo without a password), so the README's test command
// runs the browser test on a fresh machine of this kind; where no package
// manager can install it, the test skips naming the package, except under
// CI=true, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	find := func() string {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	var install []string
	if _, err := exec.LookPath("apt-get"); err == nil {
		install = []string{"apt-get"}
		if os.Geteuid() != 0 {
			install = []string{"sudo", "-n", "apt-get"}
		}
	}
	var out []byte
	err := fmt.Errorf("no apt-get")
	if install != nil {
		t.Log("installing Debian's chromium package for the console's browser test")
		for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "chromium"}} {
			cmd := exec.Command(install[0], append(slices.Clone(install[1:]), args...)...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err = cmd.CombinedOutput(); err != nil {
				break
			}
		}
	}
	if p := find(); p != "" {
		return p
	}
	msg := fmt.Sprintf("no Chromium, and installing it failed (%v %s): install Debian's chromium package (apt-get install -y chromium) to run the console's browser tests", err, out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestConsoleInBrowser drives the console in a real browser (headless
// Chromium) against serve started through run, on the Stripe emulator:
// sign in, find an order by email and by tracking number, see its
// cross-sell marked, release a hold, retry a dead letter and see it
// processed; CSRF and cookie attributes; readable at 320 px. With
// UPDATE_SCREENSHOTS=1 it rewrites the README's screenshots in
// testdata/console/.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	env["FULFILLMENT_ADMIN_TOKEN"] = "ops:" + consoleAdmin
	svc := startService(t, env)
	svc.token = e2eToken

	sessions, _ := splitExpired(t, emu, emu.SessionIDs())
	for i, id := range sessions {
		body, err := emu.Event(fmt.Sprintf("evt_console_%d", i), fulfillment.EventSessionCompleted, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		svc.send(t, body)
	}
	const cross, shipped = "cs_test_crosssell", "cs_test_bulk"
	crossOrder := waitOrder(t, svc, cross, fulfillment.StatusReadyToShip)
	waitOrder(t, svc, shipped, fulfillment.StatusReadyToShip)
	if code, body := svc.request(t, http.MethodPost, "/v1/orders/"+shipped+"/shipments",
		`{"carrier":"UPS","tracking_number":"1ZCONSOLE0001","tracking_url":"https://www.ups.com/track?tracknum=1ZCONSOLE0001"}`); code != http.StatusCreated {
		t.Fatalf("shipment: %d %s", code, body)
	}
	// Stripe warns of fraud: the order is held.
	warning, err := emu.WarnFraud(cross, "made_with_stolen_card", true)
	if err != nil {
		t.Fatal(err)
	}
	body, err := emu.ObjectEvent("evt_console_efw", fulfillment.EventEarlyFraudWarningCreated, warning, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	svc.send(t, body)
	waitOrder(t, svc, cross, fulfillment.StatusOnHold)
	// A session Stripe does not know yet: a dead letter, until it does.
	const late = "cs_test_console_late"
	svc.send(t, eventFor(t, "evt_console_late", late))
	waitFor(t, "a dead letter", func() bool { return len(deadLetterIDs(t, env)) == 1 })
	if err := emu.GenerateSession(late, 2, true); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1200, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(what string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		if os.Getenv("UPDATE_SCREENSHOTS") == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "testdata", "console", name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := svc.url + "/console/"
	submit := chromedp.CSS("main form button[type=submit]")

	// Sign in: a warehouse token is refused, the admin token is not.
	do("sign-in page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("token")))
	do("warehouse token", chromedp.SendKeys(chromedp.ID("token"), e2eToken), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	if s := text("refused"); !strings.Contains(s, "Warehouse API tokens cannot sign in") {
		t.Errorf("warehouse token: %s", s)
	}
	do("admin token", chromedp.SendKeys(chromedp.ID("token"), consoleAdmin), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("q")))
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	jsCookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cookies.Cookies {
		if c.Name == "fulfillmentd_console" {
			found = true
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/console/" || c.Secure {
				t.Errorf("session cookie %+v", c)
			}
		}
	}
	if !found || strings.Contains(jsCookies, "fulfillmentd_console") {
		t.Errorf("session cookie: found %v, visible to scripts: %q", found, jsCookies)
	}
	if s := text("orders"); !strings.Contains(s, "on hold 1") || !strings.Contains(s, cross) {
		t.Errorf("orders page:\n%s", s)
	}
	shot("orders")

	// Find orders by email and by tracking number.
	search := func(q string) string {
		t.Helper()
		do("search "+q, chromedp.SetValue(chromedp.ID("q"), q), chromedp.Submit(chromedp.ID("q")),
			chromedp.WaitVisible(chromedp.Search(`//caption[contains(., "`+q+`")] | //p[@class="empty"]`)))
		return text("results of " + q)
	}
	if s := search(strings.ToUpper(crossOrder.Customer.Email)); !strings.Contains(s, cross) {
		t.Errorf("by email %s:\n%s", crossOrder.Customer.Email, s)
	}
	if s := search("1ZCONSOLE0001"); !strings.Contains(s, shipped) || strings.Contains(s, cross) {
		t.Errorf("by tracking number:\n%s", s)
	}

	// The held order: its cross-sell marked, the fraud warning, release.
	do("open order", chromedp.Navigate(url+"orders/"+cross), chromedp.WaitVisible(chromedp.ID("lines")))
	s := text("order")
	for _, want := range []string{"★", "cross-sell of", "Early fraud warning", "fraud_warning", "by stripe event evt_console_efw"} {
		if !strings.Contains(s, want) {
			t.Errorf("order page lacks %q:\n%s", want, s)
		}
	}
	shot("order")
	// A form whose CSRF token was tampered with is refused.
	do("confirm release", chromedp.Click(chromedp.CSS(`a[href$="/release"]`)), chromedp.WaitVisible(submit))
	do("forged CSRF", chromedp.Evaluate[chromedp.Void](`document.querySelector('main input[name=csrf]').value = 'forged'`),
		chromedp.Click(submit), chromedp.WaitVisible(chromedp.CSS(".error")))
	if s := text("forged"); !strings.Contains(s, "CSRF") {
		t.Errorf("forged CSRF token: %s", s)
	}
	if o := waitOrder(t, svc, cross, fulfillment.StatusOnHold); o.Status != fulfillment.StatusOnHold {
		t.Fatal("a forged form released the order")
	}
	do("release", chromedp.Navigate(url+"orders/"+cross+"/release"), chromedp.WaitVisible(submit),
		chromedp.Click(submit), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text("released"); !strings.Contains(s, "is ready to ship") || !strings.Contains(s, "by admin ops") {
		t.Errorf("after release:\n%s", s)
	}
	waitOrder(t, svc, cross, fulfillment.StatusReadyToShip)

	// The dead letter retried through the replay queue, then processed.
	retry := chromedp.CSS(`button[aria-label="Retry evt_console_late"]`)
	do("dead letters", chromedp.Navigate(url+"dead-letters"), chromedp.WaitVisible(retry),
		chromedp.Click(retry), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text("retried"); !strings.Contains(s, "1 queued for replay") {
		t.Errorf("after retry:\n%s", s)
	}
	waitOrder(t, svc, late, fulfillment.StatusReadyToShip)
	waitFor(t, "the dead letter gone", func() bool { return len(deadLetterIDs(t, env)) == 0 })
	do("dead letters again", chromedp.Navigate(url+"dead-letters"), chromedp.WaitVisible(chromedp.CSS("p.empty")))
	do("orders", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("q")))
	if s := search(late); !strings.Contains(s, "ready to ship") {
		t.Errorf("the retried event's order:\n%s", s)
	}

	do("overview", chromedp.Navigate(url+"overview"), chromedp.WaitVisible(chromedp.CSS("figure.chart svg")))
	if s := text("overview"); !strings.Contains(s, "Consumer backlog") || !strings.Contains(s, "of 100 (STRIPE_MAX_RPS)") {
		t.Errorf("overview:\n%s", s)
	}
	shot("overview")

	// 320 px wide: nothing wider than the screen.
	do("320 px", chromedp.EmulateViewport(320, 640))
	for _, page := range []struct{ path, ready string }{{"orders/" + cross, "lines"}, {"overview", "pipe"}, {"dead-letters", "main"}, {"", "q"}} {
		do("320 px "+page.path, chromedp.Navigate(url+page.path), chromedp.WaitVisible(chromedp.ID(page.ready)))
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
		if err != nil || width > 320 {
			t.Errorf("/console/%s is %d px wide at 320 px (%v)", page.path, width, err)
		}
	}
	shot("orders-320")

	do("sign out", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(".signout button")),
		chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.ID("token")))
	do("after sign out", chromedp.Navigate(url+"overview"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "/console/sign-in") {
		t.Errorf("after sign out: %s %v", loc, err)
	}
}

// TestConsoleThroughRun: the console as serve wires it, without a browser:
// off (404) without admin tokens; with them, the overview's figures from
// the process, the cross-sells report and check (Stripe reads of the
// emulator's catalog through the process's client) and the deliveries
// page without warehouse webhooks.
func TestConsoleThroughRun(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	off := startService(t, env)
	if code, _ := off.request(t, http.MethodGet, "/console/", ""); code != http.StatusNotFound {
		t.Errorf("/console/ without FULFILLMENT_ADMIN_TOKEN: %d", code)
	}
	off.stop(t)

	env["FULFILLMENT_ADMIN_TOKEN"] = "ops:" + consoleAdmin
	svc := startService(t, env)
	body, err := emu.Event("evt_console_run", fulfillment.EventSessionCompleted, "cs_test_crosssell", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc.send(t, body)
	svc.token = e2eToken
	waitOrder(t, svc, "cs_test_crosssell", fulfillment.StatusReadyToShip)

	get, _ := consoleClient(t, svc)
	for path, wants := range map[string][]string{
		"/console/overview":                     {"of 100 (STRIPE_MAX_RPS)", "periodic reconcile is off", "0 waiting", `ready to ship</a></th><td class="num">1</td>`},
		"/console/cross-sells?since=all":        {"prod_camera → prod_lens_cloth", "100.0%"},
		"/console/cross-sells?since=7d&check=1": {"eligible", "pairs,"},
		"/console/deliveries":                   {"No warehouse webhooks configured."},
	} {
		page := get(path)
		for _, w := range wants {
			if !strings.Contains(page, w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
	}
}

// consoleClient signs in to svc's console with consoleAdmin and returns
// how to GET a page (200 expected) and POST a form with the session's
// CSRF token (the page it leads to).
func consoleClient(t *testing.T, svc *service) (get func(path string) string, post func(path string, form neturl.Values) string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	csrfField := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrf := ""
	read := func(what string, resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d\n%s", what, resp.StatusCode, b)
		}
		if m := csrfField.FindSubmatch(b); m != nil {
			csrf = string(m[1])
		}
		return string(b)
	}
	get = func(path string) string {
		t.Helper()
		resp, err := client.Get(svc.url + path)
		return read("GET "+path, resp, err)
	}
	post = func(path string, form neturl.Values) string {
		t.Helper()
		if form == nil {
			form = neturl.Values{}
		}
		form.Set("csrf", csrf)
		resp, err := client.PostForm(svc.url+path, form)
		return read("POST "+path, resp, err)
	}
	get("/console/sign-in")
	if page := post("/console/sign-in", neturl.Values{"token": {consoleAdmin}}); !strings.Contains(page, "Sign out") {
		t.Fatalf("sign in:\n%s", page)
	}
	return get, post
}

// TestConsoleDeliveries: with warehouse webhooks configured, the
// deliveries page lists an endpoint's pending delivery with the error of
// its failed attempt, and its retry answers as `deliveries retry` does.
func TestConsoleDeliveries(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	down := newHookReceiver(t, "wms", hookSecret("wms"), func(string, int) bool { return true })
	env["FULFILLMENT_WAREHOUSE_WEBHOOKS"] = hooksFile(t, map[string]any{"name": "wms", "url": down.srv.URL, "secret": hookSecret("wms")})
	env["FULFILLMENT_ADMIN_TOKEN"] = "ops:" + consoleAdmin
	svc := startService(t, env)
	body, err := emu.Event("evt_console_hook", fulfillment.EventSessionCompleted, "cs_test_crosssell", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc.send(t, body)
	get, post := consoleClient(t, svc)
	var page string
	waitFor(t, "a failed attempt on the deliveries page", func() bool {
		page = get("/console/deliveries")
		return strings.Contains(page, "pending") && strings.Contains(page, "HTTP 5")
	})
	for _, want := range []string{"<h2>wms <small>0 failed · 1 pending</small>", fulfillment.OrderID("cs_test_crosssell"), "order.created"} {
		if !strings.Contains(page, want) {
			t.Errorf("deliveries page lacks %q:\n%s", want, page)
		}
	}
	id := regexp.MustCompile(`name="id" value="(\d+)"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no retry form:\n%s", page)
	}
	if page := post("/console/deliveries/retry", neturl.Values{"id": {id[1]}}); !strings.Contains(page, "was not retried") {
		t.Errorf("retry of a pending delivery:\n%s", page)
	}
}
