package store

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()

	if dls, err := db.DeadLetters(ctx); err != nil || len(dls) != 0 {
		t.Fatalf("empty store: DeadLetters = %v, %v", dls, err)
	}

	first := fulfillment.DeadLetter{
		EventID:       "evt_bad",
		EventType:     "checkout.session.completed",
		Subject:       "stripe.events.checkout.session.completed",
		Payload:       []byte("{\"id\":\"evt_bad\",\"bin\":\"\x00\xff\"}"),
		Error:         "retrieve session: no such checkout session",
		Attempts:      3,
		FirstFailedAt: at(10),
		LastFailedAt:  at(12),
	}
	other := fulfillment.DeadLetter{
		EventID:       "evt_other",
		EventType:     "charge.refunded",
		Subject:       "stripe.events.charge.refunded",
		Error:         "not a checkout event",
		Attempts:      1,
		FirstFailedAt: at(11),
		LastFailedAt:  at(11),
	}
	for _, dl := range []fulfillment.DeadLetter{first, other} {
		if err := db.RecordDeadLetter(ctx, dl); err != nil {
			t.Fatalf("RecordDeadLetter(%s): %v", dl.EventID, err)
		}
	}
	dls, err := db.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Most recent failure first; nil payload stays nil.
	if want := []fulfillment.DeadLetter{first, other}; !reflect.DeepEqual(dls, want) {
		t.Fatalf("DeadLetters:\n got %+v\nwant %+v", dls, want)
	}

	// The same event fails again later: attempts add up, first failure stays.
	again := first
	again.Error = "retrieve session: rate limited"
	again.Attempts = 2
	again.FirstFailedAt = at(20)
	again.LastFailedAt = at(21)
	if err := db.RecordDeadLetter(ctx, again); err != nil {
		t.Fatal(err)
	}
	dls, err = db.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := again
	want.Attempts = 5
	want.FirstFailedAt = first.FirstFailedAt
	if len(dls) != 2 || !reflect.DeepEqual(dls[0], want) {
		t.Fatalf("after the second failure:\n got %+v\nwant [%+v ...]", dls, want)
	}

	// Missing times and attempts are filled in; a missing id is refused.
	if err := db.RecordDeadLetter(ctx, fulfillment.DeadLetter{EventID: "evt_min", LastFailedAt: at(30)}); err != nil {
		t.Fatal(err)
	}
	dls, _ = db.DeadLetters(ctx)
	if dls[0].EventID != "evt_min" || dls[0].Attempts != 1 || !dls[0].FirstFailedAt.Equal(at(30)) {
		t.Errorf("minimal dead letter stored as %+v", dls[0])
	}
	for _, bad := range []fulfillment.DeadLetter{{LastFailedAt: at(1)}, {EventID: "evt_notime"}} {
		if err := db.RecordDeadLetter(ctx, bad); !fulfillment.IsPermanent(err) {
			t.Errorf("RecordDeadLetter(%+v) = %v, want a permanent error", bad, err)
		}
	}

	if err := db.DeleteDeadLetter(ctx, "evt_bad"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDeadLetter(ctx, "evt_bad"); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if dls, _ := db.DeadLetters(ctx); len(dls) != 2 {
		t.Errorf("%d dead letters after delete, want 2", len(dls))
	}
}
