package fulfillment

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseWebhookEndpoints(t *testing.T) {
	t.Parallel()
	const key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes
	tests := []struct {
		name, json, wantErr string
		want                int
	}{
		{"two", `[{"name":"wms","url":"https://wms.example.com/h","secret":"` + key + `"},
			{"name":"3pl","url":"http://127.0.0.1:9/x","secret":"` + key + `","statuses":["ready_to_ship","on_hold","canceled"]}]`, "", 2},
		{"empty list", `[]`, "", 0},
		{"not a list", `{"name":"wms"}`, "JSON array", 0},
		{"unknown field", `[{"name":"wms","url":"https://x","secret":"` + key + `","filter":[]}]`, "unknown field", 0},
		{"no name", `[{"url":"https://x","secret":"` + key + `"}]`, "entry 1: name is missing", 0},
		{"bad name", `[{"name":"w m s","url":"https://x","secret":"` + key + `"}]`, `entry 1 ("w m s"): name`, 0},
		{"twice", `[{"name":"a","url":"https://x","secret":"` + key + `"},{"name":"a","url":"https://y","secret":"` + key + `"}]`, `entry 2 ("a"): name used twice`, 0},
		{"ftp", `[{"name":"a","url":"ftp://x/y","secret":"` + key + `"}]`, `entry 1 ("a"): url`, 0},
		{"no host", `[{"name":"a","url":"https:///y","secret":"` + key + `"}]`, `url`, 0},
		{"no prefix", `[{"name":"a","url":"https://x","secret":"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]`, `secret: want whsec_`, 0},
		{"not base64", `[{"name":"a","url":"https://x","secret":"whsec_!!!"}]`, `not standard base64`, 0},
		{"short key", `[{"name":"a","url":"https://x","secret":"whsec_c2hvcnQ="}]`, `at least 16`, 0},
		{"bad status", `[{"name":"a","url":"https://x","secret":"` + key + `","statuses":["sent"]}]`, `unknown status "sent"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eps, err := ParseWebhookEndpoints([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "MfKQ9r8") {
					t.Errorf("error quotes the secret: %v", err)
				}
				return
			}
			if err != nil || len(eps) != tt.want {
				t.Fatalf("%d endpoints, %v; want %d", len(eps), err, tt.want)
			}
			for _, e := range eps {
				if len(e.Key) != 24 {
					t.Errorf("%s: key of %d bytes", e.Name, len(e.Key))
				}
			}
		})
	}
}

func TestEndpointTakes(t *testing.T) {
	t.Parallel()
	all := WebhookEndpoint{Name: "all"}
	some := WebhookEndpoint{Name: "some", Statuses: []Status{StatusReadyToShip, StatusCanceled}}
	for _, s := range []Status{StatusAwaitingPayment, StatusReadyToShip, StatusShipped} {
		if !all.Takes(s) {
			t.Errorf("no filter does not take %s", s)
		}
	}
	if !some.Takes(StatusCanceled) || some.Takes(StatusShipped) {
		t.Error("filter: wrong statuses taken")
	}
}

func TestDeliverySchedule(t *testing.T) {
	t.Parallel()
	var low, high time.Duration
	for a := 1; ; a++ {
		lo, ok := DeliverySchedule.Next(a, 0)
		hi, _ := DeliverySchedule.Next(a, 0.999999)
		if !ok {
			if a != len(DeliverySchedule)+1 {
				t.Fatalf("schedule ends after attempt %d, want %d", a-1, len(DeliverySchedule))
			}
			break
		}
		want := DeliverySchedule[a-1]
		if lo != time.Duration(float64(want)*0.8) || hi < time.Duration(float64(want)*1.199) || hi >= time.Duration(float64(want)*1.2) {
			t.Errorf("attempt %d: wait %s..%s, want %s ±20%%", a, lo, hi, want)
		}
		low, high = low+lo, high+hi
	}
	// 8 attempts over about 27 h 35 min.
	if total := 27*time.Hour + 35*time.Minute + 5*time.Second; low != time.Duration(float64(total)*0.8) || high > time.Duration(float64(total)*1.2) {
		t.Errorf("total %s..%s, want %s ±20%%", low, high, total)
	}
	if _, ok := DeliverySchedule.Next(0, 0.5); !ok {
		t.Error("attempt 0 counts as 1")
	}

	d := Delivery{Attempts: 6}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if a := d.Outcome(nil, now, nil, 0.5); !a.Delivered || !a.Retry.IsZero() {
		t.Errorf("success: %+v", a)
	}
	if a := d.Outcome(nil, now, errors.New("HTTP 500"), 0.5); a.Delivered || a.Retry != now.Add(10*time.Hour) || a.Error != "HTTP 500" {
		t.Errorf("7th failure: %+v, want a retry in 10 h", a)
	}
	d.Attempts = 7
	if a := d.Outcome(nil, now, errors.New("HTTP 500"), 0.5); a.Delivered || !a.Retry.IsZero() {
		t.Errorf("8th failure: %+v, want failed", a)
	}
	if a := d.Outcome(Schedule{time.Millisecond}, now, errors.New("x"), 0.5); !a.Retry.IsZero() {
		t.Errorf("own schedule of 2 attempts, 8th failure: %+v, want failed", a)
	}
	d.Attempts = 0
	if a := d.Outcome(Schedule{time.Millisecond}, now, errors.New("x"), 0.5); a.Retry != now.Add(time.Millisecond) {
		t.Errorf("own schedule, 1st failure: %+v", a)
	}
}

func TestSupersedesAndRetryable(t *testing.T) {
	t.Parallel()
	newer := Delivery{Endpoint: "wms", OrderID: "ord_a", ChangeSeq: 10, State: DeliveryPending}
	tests := []struct {
		name string
		old  Delivery
		want bool
	}{
		{"older pending", Delivery{Endpoint: "wms", OrderID: "ord_a", ChangeSeq: 9, State: DeliveryPending}, true},
		{"older delivered", Delivery{Endpoint: "wms", OrderID: "ord_a", ChangeSeq: 9, State: DeliveryDelivered}, false},
		{"older failed", Delivery{Endpoint: "wms", OrderID: "ord_a", ChangeSeq: 9, State: DeliveryFailed}, false},
		{"other endpoint", Delivery{Endpoint: "3pl", OrderID: "ord_a", ChangeSeq: 9, State: DeliveryPending}, false},
		{"other order", Delivery{Endpoint: "wms", OrderID: "ord_b", ChangeSeq: 9, State: DeliveryPending}, false},
		{"itself", newer, false},
		{"later", Delivery{Endpoint: "wms", OrderID: "ord_a", ChangeSeq: 11, State: DeliveryPending}, false},
	}
	for _, tt := range tests {
		if got := Supersedes(newer, tt.old); got != tt.want {
			t.Errorf("%s: Supersedes = %v, want %v", tt.name, got, tt.want)
		}
	}
	failed := Delivery{ChangeSeq: 5, State: DeliveryFailed}
	if why := Retryable(failed, 5); why != "" {
		t.Errorf("newest failed: %q", why)
	}
	if why := Retryable(failed, 6); !strings.Contains(why, "superseded") {
		t.Errorf("failed with a newer change: %q", why)
	}
	if why := Retryable(Delivery{ChangeSeq: 5, State: DeliveryDelivered}, 5); why == "" {
		t.Error("delivered is retryable")
	}
}
