package stripeemu_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

func TestListEvents(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	now := time.Now()
	build := []struct {
		id, typ, session string
		age              time.Duration
	}{
		{"evt_old", "checkout.session.completed", "cs_test_digital", 31 * 24 * time.Hour}, // past Stripe's 30 days
		{"evt_1", "checkout.session.completed", "cs_test_unpaid", 3 * time.Hour},
		{"evt_2", "checkout.session.async_payment_succeeded", "cs_test_unpaid", 2 * time.Hour},
		{"evt_3", "checkout.session.completed", "cs_test_digital", time.Hour},
		{"evt_4", "checkout.session.expired", "cs_test_bulk", 30 * time.Minute},
		{"evt_5", "customer.created", "cs_test_bulk", 10 * time.Minute},
	}
	for _, b := range build {
		if _, err := emu.Event(b.id, b.typ, b.session, now.Add(-b.age)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := emu.Event("evt_3", "checkout.session.completed", "cs_test_digital", now.Add(-time.Hour)); err != nil {
		t.Fatal(err) // built twice: listed once
	}
	if emu.Events() != len(build) {
		t.Errorf("Events() = %d, want %d", emu.Events(), len(build))
	}
	since := now.Add(-150 * time.Minute).Unix()
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"evt_5", "evt_4", "evt_3", "evt_2", "evt_1"}},
		{"?type=checkout.session.*", []string{"evt_4", "evt_3", "evt_2", "evt_1"}},
		{"?type=checkout.session.completed", []string{"evt_3", "evt_1"}},
		{"?types[]=checkout.session.completed&types[]=checkout.session.async_payment_succeeded", []string{"evt_3", "evt_2", "evt_1"}},
		{"?types[0]=checkout.session.completed&types[1]=checkout.session.async_payment_succeeded&created[gte]=" + fmt.Sprint(since), []string{"evt_3", "evt_2"}},
		{"?type=checkout.session.*&limit=2", []string{"evt_4", "evt_3"}},
		{"?type=checkout.session.*&limit=2&starting_after=evt_3", []string{"evt_2", "evt_1"}},
		{"?delivery_success=false&created[lt]=" + fmt.Sprint(since), []string{"evt_1"}},
	}
	for _, tt := range tests {
		list := getOK(t, srv, "/v1/events"+tt.query)
		if got := ids(t, list); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GET /v1/events%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	page := getOK(t, srv, "/v1/events?type=checkout.session.*&limit=2")
	if page["has_more"] != true || page["url"] != "/v1/events" {
		t.Errorf("first page: has_more %v, url %v", page["has_more"], page["url"])
	}
	ev := page["data"].([]any)[0].(map[string]any)
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	if ev["object"] != "event" || ev["type"] != "checkout.session.expired" || obj["id"] != "cs_test_bulk" {
		t.Errorf("listed event: %v", ev)
	}

	bad := []struct{ query, code string }{
		{"?type=checkout.session.completed&types[]=checkout.session.completed", ""},
		{"?created[gte]=yesterday", "parameter_invalid_integer"},
		{"?starting_after=evt_nope", "resource_missing"},
		{"?object=event", "parameter_unknown"},
	}
	for _, b := range bad {
		stripeErr(t, get(t, srv, "Bearer "+key, "/v1/events"+b.query), http.StatusBadRequest, "invalid_request_error", b.code)
	}
}
