package warehousehook

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// TestSignedRequestVerifies: the headers and body of a delivery verify
// with the official Standard Webhooks library, and a changed body or id
// does not.
func TestSignedRequestVerifies(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	dl := fulfillment.Delivery{ID: 7, ChangeID: "ord_abc.42", OrderID: "ord_abc", ChangeSeq: 42, Type: fulfillment.EventOrderUpdated,
		Payload: []byte(`{"id":"ord_abc","status":"ready_to_ship","metadata":{"note":"<é>"}}`), ChangedAt: changed}
	body, err := EncodeBody(dl)
	if err != nil {
		t.Fatal(err)
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "order.updated" || b.Timestamp != "2026-03-14T15:09:26.535897932Z" || string(b.Data) != string(dl.Payload) {
		t.Fatalf("body %s: %+v %v", body, b, err)
	}
	now := time.Now()
	h := http.Header{}
	SetHeaders(h, key, dl, now, body)
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("verify: %v (%v)", err, h)
	}
	for name, want := range map[string]string{"webhook-id": "ord_abc.42", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
		"Content-Type": "application/json", "Fulfillment-Order-Id": "ord_abc", "Fulfillment-Change-Seq": "42"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] ^= 1
	if err := wh.Verify(tampered, h); err == nil {
		t.Error("a changed body verifies")
	}
	h2 := h.Clone()
	h2.Set("webhook-id", "ord_abc.41")
	if err := wh.Verify(body, h2); err == nil {
		t.Error("a changed webhook-id verifies")
	}
	if _, err := EncodeBody(fulfillment.Delivery{Payload: []byte("{")}); err == nil {
		t.Error("a payload that is not JSON encodes")
	}
}
