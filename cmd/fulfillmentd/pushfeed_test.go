package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// TestPushFeedEndToEnd runs serve against a NATS server on TCP (as an
// external cluster would be) and follows one order through the warehouse
// API, reading the FULFILLMENT stream with a durable consumer on
// fulfillment.orders.> as the README shows.
func TestPushFeedEndToEnd(t *testing.T) {
	t.Parallel()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	env["NATS_URL"] = ns.ClientURL()
	svc := startService(t, env)
	const token = "e2e-token-0123456789abcdef" // named wms in serviceEnv
	const session = "cs_test_crosssell"
	body, err := emu.Event("evt_feed_1", fulfillment.EventSessionCompleted, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code := svc.deliver(t, body, stripeevent.Sign("whsec_new_e2e", time.Now(), body)); code != http.StatusOK {
		t.Fatalf("deliver: HTTP %d", code)
	}
	svc.token = token
	o := waitOrder(t, svc, session, fulfillment.StatusReadyToShip)

	if status, body := svc.request(t, "POST", "/v1/orders/"+session+"/acknowledge", ""); status != 200 {
		t.Fatalf("acknowledge: HTTP %d %s", status, body)
	}
	first := fmt.Sprintf(`{"carrier":"UPS","tracking_number":"1Z-E2E-1","line_items":[{"id":%q,"quantity":1}]}`, o.LineItems[0].ID)
	if status, body := svc.request(t, "POST", "/v1/orders/"+session+"/shipments", first); status != 201 {
		t.Fatalf("first shipment: HTTP %d %s", status, body)
	}
	if status, body := svc.request(t, "POST", "/v1/orders/"+session+"/shipments", `{"carrier":"UPS","tracking_number":"1Z-E2E-2"}`); status != 201 {
		t.Fatalf("second shipment: HTTP %d %s", status, body)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, "FULFILLMENT", jetstream.ConsumerConfig{
		Durable: "wms", FilterSubject: "fulfillment.orders.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var last fulfillment.Order
	for len(got) < 4 {
		batch, err := cons.Fetch(4-len(got), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var mo fulfillment.Order
			if err := json.Unmarshal(m.Data(), &mo); err != nil {
				t.Fatal(err)
			}
			if m.Headers().Get(nats.MsgIdHdr) == "" || mo.ID != o.ID || m.Subject() != "fulfillment.orders."+string(mo.Status) {
				t.Errorf("message %s %v for order %s", m.Subject(), m.Headers(), mo.ID)
			}
			got = append(got, string(mo.Status))
			last = mo
			_ = m.Ack()
		}
		if ctx.Err() != nil {
			t.Fatalf("only %v on the stream", got)
		}
	}
	if fmt.Sprint(got) != "[ready_to_ship in_fulfillment partially_shipped shipped]" {
		t.Errorf("push feed: %v", got)
	}
	if len(last.Shipments) != 2 || last.Shipments[1].CreatedBy != "wms" || last.Acknowledgement.By != "wms" || len(last.LineItems) != len(o.LineItems) {
		t.Errorf("last message's order: %+v", last)
	}
	svc.stop(t)
}
