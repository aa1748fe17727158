package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

const completed = "checkout.session.completed"

// fixedBackoff keeps retries fast and their delay known (a zero d: the
// Pool's default).
func fixedBackoff(d time.Duration) worker.Backoff {
	return worker.Backoff{Base: d, Max: d, Jitter: worker.NoJitter}
}

func TestPoolOutcomes(t *testing.T) {
	t.Parallel()
	errTransient := errors.New("stripe: connection reset")
	errUnknown := fulfillment.Permanent(errors.New("no such checkout session: cs_test_gone"))
	retryLater := fulfillment.RetryAfter(errors.New("stripe: 429 rate limited"), 400*time.Millisecond)
	badKey := fmt.Errorf("retrieve checkout session: %w: stripe 401", fulfillment.ErrUnauthorized)

	tests := []struct {
		name        string
		results     []error       // handler's answers, per attempt
		backoff     time.Duration // Pool.Backoff
		authBackoff time.Duration // Pool.AuthBackoff; 0 → the default (a minute and more)
		dlFailures  int           // first RecordDeadLetter calls that fail
		wantCalls   int
		wantLetters int
		wantGap     time.Duration // least time between first and second attempt
		wantError   string        // in the dead letter
	}{
		{name: "success acks", results: []error{nil}, wantCalls: 1},
		{name: "transient then success", results: []error{errTransient, nil}, backoff: 200 * time.Millisecond,
			wantCalls: 2, wantGap: 200 * time.Millisecond},
		{name: "permanent is dead-lettered once", results: []error{fmt.Errorf("process: %w", errUnknown)},
			wantCalls: 1, wantLetters: 1, wantError: "cs_test_gone"},
		{name: "always transient is dead-lettered at max deliver", results: []error{errTransient}, backoff: 50 * time.Millisecond,
			wantCalls: 3, wantLetters: 1, wantError: "connection reset"},
		{name: "retry-after beats a shorter backoff", results: []error{fmt.Errorf("list line items: %w", retryLater), nil},
			backoff: 10 * time.Millisecond, wantCalls: 2, wantGap: 400 * time.Millisecond},
		{name: "rejected key waits the auth backoff, not dead-lettered", results: []error{badKey, badKey, nil},
			backoff: 10 * time.Millisecond, authBackoff: 300 * time.Millisecond, wantCalls: 3, wantGap: 300 * time.Millisecond},
		{name: "rejected key at max deliver is dead-lettered", results: []error{badKey},
			backoff: 10 * time.Millisecond, authBackoff: 50 * time.Millisecond, wantCalls: 3, wantLetters: 1, wantError: "credentials rejected"},
		{name: "failed dead letter is retried", results: []error{errUnknown}, backoff: 50 * time.Millisecond, dlFailures: 1,
			wantCalls: 2, wantLetters: 1, wantError: "cs_test_gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := natstest.NewEnv(t, broker.StreamConfig{MaxDeliver: 3, AckWait: 30 * time.Second})
			e.Publish(t, completed, "evt_1", `{"id":"evt_1"}`)
			h := &natstest.Recorder{Results: tt.results}
			dls := &natstest.DeadLetters{Failures: tt.dlFailures}
			stop := natstest.RunPool(t, &worker.Pool{
				Consumer: e.Cons, Handler: h, Workers: 2, MaxDeliver: 3,
				Backoff: fixedBackoff(tt.backoff), AuthBackoff: fixedBackoff(tt.authBackoff), DeadLetters: dls, Log: natstest.Log(),
			})

			e.WaitSettled(t)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := h.Deliveries()
			if len(got) != tt.wantCalls {
				t.Fatalf("handler called %d times, want %d", len(got), tt.wantCalls)
			}
			for i, d := range got {
				if d.Msg.Attempt != i+1 || d.Msg.EventID != "evt_1" || string(d.Msg.Data) != `{"id":"evt_1"}` ||
					d.Msg.Subject != worker.SubjectPrefix+completed || d.Msg.Published.IsZero() {
					t.Errorf("delivery %d: %+v", i, d.Msg)
				}
			}
			if tt.wantGap > 0 {
				if gap := got[1].At.Sub(got[0].At); gap < tt.wantGap {
					t.Errorf("redelivered after %s, want ≥ %s", gap, tt.wantGap)
				}
			}
			letters := dls.Letters()
			if len(letters) != tt.wantLetters {
				t.Fatalf("%d dead letters, want %d", len(letters), tt.wantLetters)
			}
			if tt.wantLetters == 0 {
				return
			}
			dl := letters[0]
			if dl.EventID != "evt_1" || dl.EventType != completed || dl.Subject != worker.SubjectPrefix+completed ||
				string(dl.Payload) != `{"id":"evt_1"}` || dl.Attempts != tt.wantCalls ||
				!strings.Contains(dl.Error, tt.wantError) ||
				dl.FirstFailedAt.IsZero() || dl.LastFailedAt.Before(dl.FirstFailedAt) {
				t.Errorf("dead letter %+v", dl)
			}
		})
	}
}

func TestPoolRecoversHandlerPanic(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{MaxDeliver: 2})
	e.Publish(t, completed, "evt_panic", `{}`)
	dls := &natstest.DeadLetters{}
	var calls atomic.Int32
	natstest.RunPool(t, &worker.Pool{
		Consumer: e.Cons, MaxDeliver: 2, Backoff: fixedBackoff(10 * time.Millisecond), DeadLetters: dls, Log: natstest.Log(),
		Handler: worker.HandlerFunc(func(context.Context, worker.Message) error {
			calls.Add(1)
			panic("nil map")
		}),
	})
	e.WaitSettled(t)
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2", n)
	}
	if l := dls.Letters(); len(l) != 1 || !strings.Contains(l[0].Error, "panic") {
		t.Errorf("dead letters %+v", l)
	}
}

// A handler's deadline does not depend on a short AckWait: the in-progress
// acks keep its message, so it may outlive AckWait.
func TestPoolHandlerDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ackWait time.Duration
		timeout time.Duration // Pool.HandlerTimeout
		want    time.Duration
	}{
		{"short ack wait: the default", 4 * time.Second, 0, worker.DefaultHandlerTimeout},
		{"long ack wait: half of it", 2 * time.Minute, 0, time.Minute},
		{"set", 4 * time.Second, 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := natstest.NewEnv(t, broker.StreamConfig{AckWait: tt.ackWait})
			e.Publish(t, completed, "evt_1", `{}`)
			deadlines := make(chan time.Duration, 1)
			natstest.RunPool(t, &worker.Pool{
				Consumer: e.Cons, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log(), HandlerTimeout: tt.timeout,
				Handler: worker.HandlerFunc(func(ctx context.Context, _ worker.Message) error {
					dl, ok := ctx.Deadline()
					if !ok {
						deadlines <- 0
						return nil
					}
					deadlines <- time.Until(dl)
					return nil
				}),
			})
			if left := <-deadlines; left <= tt.want-time.Second || left > tt.want {
				t.Fatalf("handler deadline %s away, want about %s", left, tt.want)
			}
		})
	}
}

// A handler that runs longer than AckWait keeps its message: the pool sends
// in-progress acks, so the server does not redeliver it to the idle worker.
func TestPoolKeepsLongHandlersAlive(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{AckWait: time.Second})
	e.Publish(t, completed, "evt_slow", `{}`)
	var calls atomic.Int32
	natstest.RunPool(t, &worker.Pool{
		Consumer: e.Cons, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log(), Workers: 2,
		Handler: worker.HandlerFunc(func(context.Context, worker.Message) error {
			calls.Add(1)
			time.Sleep(2500 * time.Millisecond) // past its deadline, like a call that ignores ctx
			return nil
		}),
	})
	e.WaitSettled(t)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1", n)
	}
}

func TestPoolRejectsMismatchedMaxDeliver(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{MaxDeliver: 5})
	p := &worker.Pool{Consumer: e.Cons, Handler: &natstest.Recorder{}, DeadLetters: &natstest.DeadLetters{}, MaxDeliver: 10}
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "MaxDeliver") {
		t.Fatalf("Run = %v, want MaxDeliver mismatch", err)
	}
}

func TestPoolShutdown(t *testing.T) {
	t.Parallel()

	t.Run("in-flight handler finishes within grace and is acked", func(t *testing.T) {
		t.Parallel()
		e := natstest.NewEnv(t, broker.StreamConfig{AckWait: time.Minute})
		e.Publish(t, completed, "evt_1", `{}`)
		started, release := make(chan struct{}), make(chan struct{})
		ctxErr := make(chan error, 1)
		stop := natstest.RunPool(t, &worker.Pool{
			Consumer: e.Cons, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log(), ShutdownGrace: 20 * time.Second,
			Handler: worker.HandlerFunc(func(ctx context.Context, _ worker.Message) error {
				close(started)
				<-release
				ctxErr <- ctx.Err()
				return nil
			}),
		})
		<-started
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		time.Sleep(50 * time.Millisecond) // let Run see the cancel
		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := <-ctxErr; err != nil {
			t.Errorf("handler context canceled during grace: %v", err)
		}
		e.WaitSettled(t)
	})

	t.Run("handler outliving grace is canceled and nak'ed", func(t *testing.T) {
		t.Parallel()
		e := natstest.NewEnv(t, broker.StreamConfig{AckWait: time.Minute})
		e.Publish(t, completed, "evt_1", `{}`)
		started := make(chan struct{})
		stop := natstest.RunPool(t, &worker.Pool{
			Consumer: e.Cons, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log(), ShutdownGrace: 100 * time.Millisecond,
			Handler: worker.HandlerFunc(func(ctx context.Context, _ worker.Message) error {
				close(started)
				<-ctx.Done()
				return fmt.Errorf("retrieve session: %w", ctx.Err())
			}),
		})
		<-started
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		// The nak makes the message available now, long before AckWait.
		h := &natstest.Recorder{}
		natstest.RunPool(t, &worker.Pool{Consumer: e.Cons, Handler: h, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log()})
		e.WaitSettled(t)
		if got := h.Deliveries(); len(got) != 1 || got[0].Msg.Attempt != 2 {
			t.Fatalf("second pool saw %+v, want attempt 2", got)
		}
	})

	t.Run("pulled but unstarted messages are nak'ed", func(t *testing.T) {
		t.Parallel()
		e := natstest.NewEnv(t, broker.StreamConfig{AckWait: time.Minute})
		for i := range 3 {
			e.Publish(t, completed, fmt.Sprintf("evt_%d", i), `{}`)
		}
		started, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		stop := natstest.RunPool(t, &worker.Pool{
			Consumer: e.Cons, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log(), Workers: 1,
			Handler: worker.HandlerFunc(func(context.Context, worker.Message) error {
				if calls.Add(1) == 1 {
					close(started)
					<-release
				}
				return nil
			}),
		})
		<-started
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		time.Sleep(50 * time.Millisecond)
		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("first pool ran %d handlers after cancel, want 1", n)
		}
		h := &natstest.Recorder{}
		natstest.RunPool(t, &worker.Pool{Consumer: e.Cons, Handler: h, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log()})
		e.WaitSettled(t)
		if got := h.Deliveries(); len(got) != 2 {
			t.Fatalf("second pool handled %d messages, want the 2 left", len(got))
		}
	})

	t.Run("handler ignoring cancellation is abandoned", func(t *testing.T) {
		t.Parallel()
		e := natstest.NewEnv(t, broker.StreamConfig{AckWait: time.Minute})
		e.Publish(t, completed, "evt_1", `{}`)
		started, release := make(chan struct{}), make(chan struct{})
		defer close(release)
		stop := natstest.RunPool(t, &worker.Pool{
			Consumer: e.Cons, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log(), ShutdownGrace: 50 * time.Millisecond,
			Handler: worker.HandlerFunc(func(context.Context, worker.Message) error {
				close(started)
				<-release
				return nil
			}),
		})
		<-started
		if err := stop(); err == nil || !strings.Contains(err.Error(), "1 handlers still running") {
			t.Fatalf("Run = %v, want an error about the stuck handler", err)
		}
		h := &natstest.Recorder{}
		natstest.RunPool(t, &worker.Pool{Consumer: e.Cons, Handler: h, DeadLetters: &natstest.DeadLetters{}, Log: natstest.Log()})
		e.WaitSettled(t)
		if got := h.Deliveries(); len(got) != 1 || got[0].Msg.Attempt != 2 {
			t.Fatalf("second pool saw %+v, want attempt 2", got)
		}
	})
}
