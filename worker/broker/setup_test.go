package broker_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

const completed = "checkout.session.completed"

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }

func TestSetupIsIdempotentAndApplies(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Embedded(t, t.TempDir(), 0))
	ctx := context.Background()

	for i := range 2 {
		if _, err := broker.Setup(ctx, js, broker.StreamConfig{}); err != nil {
			t.Fatalf("Setup #%d: %v", i+1, err)
		}
	}
	stream, err := js.Stream(ctx, worker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	sc := stream.CachedInfo().Config
	if sc.Storage != jetstream.FileStorage || sc.Retention != jetstream.LimitsPolicy {
		t.Errorf("storage %v retention %v, want file storage, limits", sc.Storage, sc.Retention)
	}
	if sc.Duplicates < time.Hour || sc.Duplicates != broker.DefaultDuplicates {
		t.Errorf("duplicates window %s, want %s (≥ 1h)", sc.Duplicates, broker.DefaultDuplicates)
	}
	if sc.MaxAge != 7*24*time.Hour || sc.Replicas != 1 {
		t.Errorf("max age %s replicas %d, want 168h, 1", sc.MaxAge, sc.Replicas)
	}
	if len(sc.Subjects) != 1 || sc.Subjects[0] != "stripe.events.>" {
		t.Errorf("subjects %v", sc.Subjects)
	}

	// A second Setup with new sizes updates the consumer in place.
	cons, err := broker.Setup(ctx, js, broker.StreamConfig{Workers: 20, MaxDeliver: 5, AckWait: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cc := cons.CachedInfo().Config
	if cc.Durable != worker.ConsumerName || cc.AckPolicy != jetstream.AckExplicitPolicy ||
		cc.DeliverPolicy != jetstream.DeliverAllPolicy || cc.FilterSubject != "stripe.events.>" {
		t.Errorf("consumer config %+v", cc)
	}
	if cc.MaxDeliver != 5 || cc.AckWait != 2*time.Minute || cc.MaxAckPending != 64*20 {
		t.Errorf("max deliver %d ack wait %s max ack pending %d, want 5, 2m, 1280", cc.MaxDeliver, cc.AckWait, cc.MaxAckPending)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 1 {
		t.Errorf("%d consumers, want 1", info.State.Consumers)
	}
}

func TestSetupDefaults(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{})
	cc := e.Cons.CachedInfo().Config
	if cc.MaxDeliver != broker.DefaultMaxDeliver || cc.MaxDeliver <= 0 {
		t.Errorf("max deliver %d, want %d (finite)", cc.MaxDeliver, broker.DefaultMaxDeliver)
	}
	if cc.AckWait != worker.DefaultAckWait || cc.AckWait > 15*time.Second || cc.MaxAckPending != broker.MinMaxAckPending {
		t.Errorf("ack wait %s max ack pending %d, want %s (≤ 15s), %d", cc.AckWait, cc.MaxAckPending, worker.DefaultAckWait, broker.MinMaxAckPending)
	}
}

// A consumer left by an older release (AckWait 60 s, MaxAckPending 16)
// with 16 deliveries to a process that died is updated in place by Setup:
// the live process gets the next message at once, and the dead deliveries
// come back after the new AckWait, not the old one.
func TestSetupUpdatesAnOldConsumerInPlace(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Embedded(t, t.TempDir(), 0))
	ctx := context.Background()
	if err := broker.SetupStream(ctx, js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	old, err := js.CreateConsumer(ctx, worker.StreamName, jetstream.ConsumerConfig{
		Durable:       worker.ConsumerName,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxDeliver:    42,
		MaxAckPending: 16,
		FilterSubject: worker.SubjectPrefix + ">",
	})
	if err != nil {
		t.Fatal(err)
	}
	pub := broker.NewPublisher(js)
	for i := range 17 {
		if _, err := pub.Publish(ctx, completed, fmt.Sprintf("evt_%02d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// The dead process took 16 and never settled them: the old consumer
	// is full and has nothing for anyone for a minute.
	dead, err := old.FetchNoWait(17)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range dead.Messages() {
		n++
	}
	if n != 16 {
		t.Fatalf("old consumer delivered %d, want its MaxAckPending 16", n)
	}

	cons, err := broker.Setup(ctx, js, broker.StreamConfig{MaxDeliver: 42, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cc := cons.CachedInfo().Config
	if cc.AckWait != time.Second || cc.MaxAckPending != broker.MinMaxAckPending || cc.MaxDeliver != 42 {
		t.Fatalf("after Setup: ack wait %s max ack pending %d max deliver %d, want 1s, %d, 42",
			cc.AckWait, cc.MaxAckPending, cc.MaxDeliver, broker.MinMaxAckPending)
	}
	live := fetch(t, cons, 1, 2*time.Second)
	if len(live) != 1 || live[0] != 17 {
		t.Fatalf("live fetch got stream seqs %v, want [17] at once", live)
	}
	// The 16 dead deliveries come back after the new AckWait (1 s).
	start := time.Now()
	var back []uint64
	for len(back) < 16 && time.Since(start) < 20*time.Second {
		back = append(back, fetch(t, cons, 16-len(back), time.Second)...)
	}
	if len(back) != 16 {
		t.Fatalf("redelivered %d of the 16 dead deliveries within %s, want all (old AckWait: 1m)", len(back), time.Since(start))
	}
	t.Logf("16 dead deliveries redelivered %s after the update", time.Since(start).Round(time.Millisecond))
}

// fetch pulls up to n messages within wait, acks them, and returns their
// stream sequences.
func fetch(t *testing.T, cons jetstream.Consumer, n int, wait time.Duration) []uint64 {
	t.Helper()
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, meta.Sequence.Stream)
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	return seqs
}

func TestSetupRejectsBadConfig(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Embedded(t, t.TempDir(), 0))
	tests := []struct {
		name string
		cfg  broker.StreamConfig
		want string
	}{
		{"duplicates beyond max age", broker.StreamConfig{MaxAge: time.Hour, Duplicates: 2 * time.Hour}, "duplicates window"},
		{"unlimited deliveries", broker.StreamConfig{MaxDeliver: -1}, "max deliver"},
		{"tiny ack wait", broker.StreamConfig{AckWait: time.Millisecond}, "ack wait"},
		{"replicas", broker.StreamConfig{Replicas: 7}, "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := broker.Setup(context.Background(), js, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Setup(%+v) = %v, want error about %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestPublishDetectsDuplicates(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{})
	ctx := context.Background()
	payload := []byte(`{"id":"evt_1","type":"checkout.session.completed"}`)

	dup, err := e.Pub.Publish(ctx, "checkout.session.completed", "evt_1", payload)
	if err != nil || dup {
		t.Fatalf("first Publish = %v, %v; want false, nil", dup, err)
	}
	dup, err = e.Pub.Publish(ctx, "checkout.session.completed", "evt_1", payload)
	if err != nil || !dup {
		t.Fatalf("second Publish = %v, %v; want true, nil", dup, err)
	}
	stream, err := e.JS.Stream(ctx, worker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "stripe.events.checkout.session.completed" || string(msg.Data) != string(payload) ||
		msg.Header.Get(jetstream.MsgIDHeader) != "evt_1" {
		t.Errorf("stored %s %q id %q", msg.Subject, msg.Data, msg.Header.Get(jetstream.MsgIDHeader))
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{})
	tests := []struct{ name, eventType, eventID string }{
		{"empty id", "checkout.session.completed", ""},
		{"empty type", "", "evt_1"},
		{"wildcard", "checkout.*", "evt_1"},
		{"tail wildcard", "checkout.>", "evt_1"},
		{"empty token", "checkout..completed", "evt_1"},
		{"space", "checkout session", "evt_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Pub.Publish(context.Background(), tt.eventType, tt.eventID, []byte("{}")); err == nil {
				t.Fatalf("Publish(%q, %q) succeeded", tt.eventType, tt.eventID)
			}
		})
	}
}

func TestEmbeddedStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()

	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.ConnectEmbedded(ns, "first")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.Setup(ctx, js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.NewPublisher(js).Publish(ctx, "checkout.session.completed", "evt_durable", []byte(`{"id":"evt_durable"}`)); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()

	js2 := natstest.JetStream(t, natstest.Embedded(t, dir, 0))
	stream, err := js2.Stream(ctx, worker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != `{"id":"evt_durable"}` || msg.Header.Get(jetstream.MsgIDHeader) != "evt_durable" {
		t.Fatalf("after restart: %q id %q", msg.Data, msg.Header.Get(jetstream.MsgIDHeader))
	}
	// The consumer survived too, and dedupe still knows the id.
	if _, err := js2.Consumer(ctx, worker.StreamName, worker.ConsumerName); err != nil {
		t.Fatal(err)
	}
	dup, err := broker.NewPublisher(js2).Publish(ctx, "checkout.session.completed", "evt_durable", []byte(`{}`))
	if err != nil || !dup {
		t.Fatalf("republish after restart = %v, %v; want duplicate", dup, err)
	}
}

func TestStartEmbeddedFailsClearly(t *testing.T) {
	t.Parallel()
	if _, err := broker.StartEmbedded(broker.EmbeddedOptions{}); err == nil {
		t.Fatal("StartEmbedded without StoreDir succeeded")
	}
	// A file where the store directory should be.
	file := t.TempDir() + "/not-a-dir"
	if err := writeFile(file); err != nil {
		t.Fatal(err)
	}
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: file})
	if err == nil {
		ns.Shutdown()
		t.Fatal("StartEmbedded on a file succeeded")
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name the store", err)
	}
}
