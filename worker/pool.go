package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Handler processes one message. It returns nil when the work is committed,
// an error wrapped with fulfillment.Permanent when retrying cannot help, a
// fulfillment.RetryAfter error when it knows when to retry, an error that
// wraps fulfillment.ErrUnauthorized when Stripe rejected the API key (retried
// after Pool.AuthBackoff), and any other error for a transient failure. The Pool
// decides what happens next.
type Handler interface {
	Handle(ctx context.Context, m Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, m Message) error { return f(ctx, m) }

// DeadLetters keeps messages the Pool gave up on.
type DeadLetters interface {
	RecordDeadLetter(ctx context.Context, dl fulfillment.DeadLetter) error
}

// Defaults of Pool.
const (
	DefaultWorkers = 8
	// DefaultAckWait is how long a delivery to a process that died (crash,
	// SIGKILL, lost connection) waits before the server redelivers it. A
	// live handler never waits it out: the Pool sends an in-progress ack at
	// once and every AckWait/3, so only dead processes' deliveries expire.
	// broker.Setup gives the consumer this AckWait unless told otherwise;
	// the Pool assumes it for a consumer whose settings it cannot read.
	DefaultAckWait       = 10 * time.Second
	DefaultShutdownGrace = 10 * time.Second
	// hardStopWait is how long handlers may take to return once their
	// context is canceled at the end of ShutdownGrace.
	hardStopWait = time.Second
	// fetchWait bounds one pull request: how long a shutdown may wait for
	// the request in flight, and how long a freed worker may wait for the
	// next request while the current one is open.
	fetchWait = time.Second
	// DefaultHandlerTimeout is a handler's deadline when the consumer's
	// AckWait is at most twice as long; above that it is AckWait/2.
	DefaultHandlerTimeout = 30 * time.Second
	// settleTimeout bounds an ack round trip or a dead-letter write.
	settleTimeout = 10 * time.Second
	maxTermReason = 200
)

// Pool runs Handler over the consumer's messages with at most Workers
// handlers at once and turns each handler's error into an ack, a delayed
// nak, or a dead letter plus term.
type Pool struct {
	Consumer jetstream.Consumer
	Handler  Handler
	Workers  int // concurrent handlers; 0 → DefaultWorkers
	// MaxDeliver must equal the consumer's MaxDeliver (0 → take the
	// consumer's). On the last attempt a transient failure is dead-lettered
	// too, since the server will not deliver the message again.
	MaxDeliver int
	// Backoff gives the retry delay after a failed attempt (Delay of the
	// attempt); a zero Base → Redelivery. A longer fulfillment.RetryDelay wins.
	Backoff Backoff
	// AuthBackoff gives the retry delay after a failure that wraps
	// fulfillment.ErrUnauthorized (Stripe rejected the API key); a zero Base →
	// AuthRedelivery. Backoff's delay wins if longer.
	AuthBackoff Backoff
	DeadLetters DeadLetters // required
	// Conn, if set, is the connection Consumer uses: the naks of handlers
	// canceled at the end of ShutdownGrace are then confirmed by the server
	// before Run returns (an unconfirmed one can be lost when the
	// connection closes right after). Even so, the server keeps a nak in
	// memory only: if it restarts too, the message waits out AckWait.
	Conn *nats.Conn
	Log  *slog.Logger
	Now  func() time.Time
	// ShutdownGrace is how long in-flight handlers may finish after Run's
	// ctx is canceled (0 → DefaultShutdownGrace); then their contexts are
	// canceled and their messages nak'ed for immediate redelivery.
	ShutdownGrace time.Duration
	// HandlerTimeout is the deadline of each handler's context; 0 → the
	// longer of DefaultHandlerTimeout and half the consumer's AckWait. It
	// may exceed AckWait: while a handler runs, the Pool tells the server
	// at once and every AckWait/3 that the message is in progress, so the
	// server does not deliver it again (a pulled message starts at once:
	// each pull asks for as many messages as there are free workers). Only
	// a process that died, or lost its connection for most of AckWait, has
	// its messages redelivered after AckWait.
	HandlerTimeout time.Duration
}

// Run pulls and processes messages until ctx is canceled. It then stops
// pulling (the pull request in flight, at most fetchWait, is read to its end
// and its messages handled), lets running handlers finish within
// ShutdownGrace, cancels and naks the rest, and returns nil.
// It returns an error if the pool is misconfigured, if the consumer goes
// away, or if handlers ignore cancellation. After Run returns, drain or
// flush the connection so the last acks reach the server.
func (p *Pool) Run(ctx context.Context) error {
	r, err := p.runner()
	if err != nil {
		return err
	}
	// Handler contexts outlive ctx by ShutdownGrace.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	r.base = hctx

	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, r.workers)
		loopErr error
	)
	r.log.Info("worker pool started", "consumer", ConsumerName, "workers", r.workers,
		"max_deliver", r.maxDeliver, "ack_wait", r.ackWait, "handler_timeout", r.handlerTimeout)
	// Pull with one Fetch at a time, for as many messages as there are free
	// workers, each request ending within fetchWait. Every message a Fetch
	// brings has a worker waiting for it, so it starts at once, also during
	// shutdown: a Fetch is read to its end (the server's last word on the
	// request) and what it brings is in flight like the rest. No message is
	// left in transit to a closed subscription, or nak'ed at the stop: either
	// way the server would hold it until AckWait (a nak is not persisted:
	// after a restart the message waits out AckWait from its delivery).
pull:
	for ctx.Err() == nil {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break pull
		}
		slots := 1
	more:
		for slots < r.workers {
			select {
			case sem <- struct{}{}:
				slots++
			default:
				break more
			}
		}
		batch, err := p.Consumer.Fetch(slots, jetstream.FetchMaxWait(fetchWait))
		if err == nil {
			for msg := range batch.Messages() {
				slots--
				d := r.track(msg)
				wg.Go(func() {
					defer func() { <-sem }()
					r.process(d)
				})
			}
			err = batch.Error()
		}
		for range slots {
			<-sem
		}
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
			errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrMsgIteratorClosed):
			loopErr = fmt.Errorf("consume %s: %w", ConsumerName, err)
			break pull
		default:
			r.log.Warn("pull messages", "error", err)
			Sleep(ctx, 100*time.Millisecond) // no hot loop on a repeating error
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if ctx.Err() == nil { // the consumer went away: let handlers finish
		select {
		case <-done:
			return loopErr
		case <-ctx.Done():
		}
	}
	grace := time.NewTimer(r.grace)
	defer grace.Stop()
	select {
	case <-done:
		r.log.Info("worker pool stopped")
		return loopErr
	case <-grace.C:
	}
	r.log.Warn("shutdown grace over: canceling handlers", "grace", r.grace, "in_flight", r.inFlight())
	cancelHandlers()
	hard := time.NewTimer(hardStopWait)
	defer hard.Stop()
	select {
	case <-done:
		r.log.Info("worker pool stopped")
		return loopErr
	case <-hard.C:
	}
	n := r.abandon()
	return errors.Join(loopErr, fmt.Errorf("worker pool: %d handlers still running %s after their context was canceled; their messages were nak'ed", n, hardStopWait))
}

// runner is one Run's resolved configuration and in-flight set.
type runner struct {
	handler        Handler
	deadLetters    DeadLetters
	conn           *nats.Conn
	log            *slog.Logger
	now            func() time.Time
	backoff        Backoff
	authBackoff    Backoff
	workers        int
	maxDeliver     int // ≤ 0: unlimited
	ackWait        time.Duration
	handlerTimeout time.Duration
	grace          time.Duration
	base           context.Context

	mu       sync.Mutex
	inflight map[*delivery]struct{}
}

func (p *Pool) runner() (*runner, error) {
	if p.Consumer == nil || p.Handler == nil || p.DeadLetters == nil {
		return nil, errors.New("worker pool: Consumer, Handler and DeadLetters are required")
	}
	r := &runner{
		handler:        p.Handler,
		deadLetters:    p.DeadLetters,
		conn:           p.Conn,
		log:            p.Log,
		now:            p.Now,
		backoff:        p.Backoff,
		authBackoff:    p.AuthBackoff,
		workers:        p.Workers,
		maxDeliver:     p.MaxDeliver,
		ackWait:        DefaultAckWait,
		handlerTimeout: p.HandlerTimeout,
		grace:          p.ShutdownGrace,
		inflight:       make(map[*delivery]struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.backoff.Base == 0 {
		r.backoff = Redelivery
	}
	if r.authBackoff.Base == 0 {
		r.authBackoff = AuthRedelivery
	}
	if r.workers <= 0 {
		r.workers = DefaultWorkers
	}
	if r.grace <= 0 {
		r.grace = DefaultShutdownGrace
	}
	if info := p.Consumer.CachedInfo(); info != nil {
		cfg := info.Config
		if cfg.AckPolicy != jetstream.AckExplicitPolicy {
			return nil, fmt.Errorf("worker pool: consumer %s does not use explicit acks", info.Name)
		}
		if cfg.AckWait > 0 {
			r.ackWait = cfg.AckWait
		}
		switch {
		case r.maxDeliver == 0:
			r.maxDeliver = cfg.MaxDeliver
		case cfg.MaxDeliver > 0 && r.maxDeliver != cfg.MaxDeliver:
			return nil, fmt.Errorf("worker pool: MaxDeliver %d differs from consumer %s's %d", r.maxDeliver, info.Name, cfg.MaxDeliver)
		}
	}
	if r.handlerTimeout <= 0 {
		r.handlerTimeout = max(DefaultHandlerTimeout, r.ackWait/2)
	}
	return r, nil
}

// delivery is a message handed to a handler. Exactly one of the handler's
// goroutine and an abandoning Run settles it.
type delivery struct {
	msg     jetstream.Msg
	m       Message
	seq     uint64
	start   time.Time
	settled atomic.Bool
}

func (d *delivery) claim() bool { return d.settled.CompareAndSwap(false, true) }

func (r *runner) track(msg jetstream.Msg) *delivery {
	d := &delivery{msg: msg, start: time.Now(), m: Message{
		Subject: msg.Subject(),
		EventID: eventID(msg.Headers()), // the Stripe event id, replays included
		Data:    msg.Data(),
		Header:  msg.Headers(),
	}}
	if meta, err := msg.Metadata(); err == nil {
		d.m.Attempt = int(meta.NumDelivered)
		d.m.Published = meta.Timestamp
		d.seq = meta.Sequence.Stream
	}
	r.mu.Lock()
	r.inflight[d] = struct{}{}
	r.mu.Unlock()
	return d
}

func (r *runner) untrack(d *delivery) {
	r.mu.Lock()
	delete(r.inflight, d)
	r.mu.Unlock()
}

func (r *runner) inFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inflight)
}

// abandon naks every message whose handler is still running.
func (r *runner) abandon() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for d := range r.inflight {
		if !d.claim() {
			continue
		}
		n++
		err := r.nak(d.msg)
		r.logOutcome(d, "nak_abandoned", time.Since(d.start), 0, errors.New("handler did not return after cancel"), err)
	}
	return n
}

// nak gives msg back for redelivery at once; with a Conn it waits (up to
// settleTimeout) for the server to confirm, as DoubleAck does for acks.
func (r *runner) nak(msg jetstream.Msg) error {
	if r.conn == nil || msg.Reply() == "" {
		return msg.Nak()
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if _, err := r.conn.RequestWithContext(ctx, msg.Reply(), []byte("-NAK")); err != nil {
		return fmt.Errorf("nak: %w", err)
	}
	return nil
}

func (r *runner) process(d *delivery) {
	defer r.untrack(d)
	if d.m.Attempt == 0 { // not a JetStream message: nothing to ack
		r.logOutcome(d, "invalid", 0, 0, errors.New("message has no JetStream metadata"), nil)
		return
	}
	stopProgress := r.keepAlive(d.msg)
	ctx, cancel := context.WithTimeout(r.base, r.handlerTimeout)
	herr := r.call(ctx, d.m)
	cancel()
	stopProgress()
	if !d.claim() {
		r.logOutcome(d, "abandoned", time.Since(d.start), 0, herr, nil)
		return
	}
	outcome, delay, settleErr := r.settle(d, herr)
	r.logOutcome(d, outcome, time.Since(d.start), delay, herr, settleErr)
}

// keepAlive tells the server at once, then every AckWait/3, that the message
// is being worked on, until the returned func is called.
func (r *runner) keepAlive(msg jetstream.Msg) (stop func()) {
	_ = msg.InProgress() // it may have waited for a worker
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(r.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					r.log.Warn("in-progress ack", "subject", msg.Subject(), "error", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (r *runner) call(ctx context.Context, m Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("handler panic", "event_id", m.EventID, "subject", m.Subject,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", v)
		}
	}()
	return r.handler.Handle(ctx, m)
}

// settle acts on the handler's error and reports what it did.
func (r *runner) settle(d *delivery, herr error) (outcome string, delay time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.base), settleTimeout)
	defer cancel()
	switch {
	case herr == nil:
		// DoubleAck waits for the server to confirm the ack: we only log
		// "acked" for acks that took, and a lost ack (redelivery of
		// committed work) shows up as an error here. One in-process
		// round trip costs far less than the Stripe calls before it.
		if err := d.msg.DoubleAck(ctx); err != nil {
			return "ack_failed", 0, err
		}
		return "acked", 0, nil
	case r.base.Err() != nil:
		// Shutdown grace is over: the handler was canceled, not failed.
		return "nak_shutdown", 0, r.nak(d.msg)
	case fulfillment.IsPermanent(herr):
		return r.deadLetter(ctx, d, herr)
	case r.maxDeliver > 0 && d.m.Attempt >= r.maxDeliver:
		return r.deadLetter(ctx, d, herr)
	default:
		delay = r.retryDelay(d.m.Attempt, herr)
		return "retry", delay, d.msg.NakWithDelay(delay)
	}
}

// retryDelay is Backoff.Delay(attempt), or AuthBackoff's or a
// fulfillment.RetryDelay if longer.
func (r *runner) retryDelay(attempt int, err error) time.Duration {
	d := r.backoff.Delay(attempt)
	if errors.Is(err, fulfillment.ErrUnauthorized) {
		d = max(d, r.authBackoff.Delay(attempt))
	}
	if after, ok := fulfillment.RetryDelay(err); ok && after > d {
		d = after
	}
	return d
}

func (r *runner) deadLetter(ctx context.Context, d *delivery, herr error) (string, time.Duration, error) {
	now := r.now()
	first := now
	if d.m.Attempt > 1 {
		// Earlier attempts may have run in another process; the stream's
		// timestamp is a lower bound of the first failure.
		first = d.m.Published
	}
	dl := fulfillment.DeadLetter{
		EventID:       d.m.EventID,
		EventType:     d.m.EventType(),
		Subject:       d.m.Subject,
		Payload:       d.m.Data,
		Error:         herr.Error(),
		Attempts:      d.m.Attempt,
		FirstFailedAt: first,
		LastFailedAt:  now,
		Signatures:    d.m.Signatures(), // a retry carries them again
	}
	last := r.maxDeliver > 0 && d.m.Attempt >= r.maxDeliver
	tries := 1
	if last {
		tries = 3 // a nak cannot bring this message back
	}
	var err error
	for i := range tries {
		if i > 0 {
			Sleep(ctx, time.Duration(i)*250*time.Millisecond)
		}
		if err = r.deadLetters.RecordDeadLetter(ctx, dl); err == nil {
			break
		}
	}
	if err != nil {
		err = fmt.Errorf("record dead letter: %w", err)
		if !last {
			delay := r.retryDelay(d.m.Attempt, herr)
			if nerr := d.msg.NakWithDelay(delay); nerr != nil {
				err = errors.Join(err, fmt.Errorf("nak: %w", nerr))
			}
			return "dead_letter_failed_retry", delay, err
		}
		r.log.Error("dead letter lost: consumer will not redeliver; the event stays in the stream until MaxAge",
			"stream", StreamName, "stream_seq", d.seq, "event_id", d.m.EventID, "error", err)
		if terr := d.msg.TermWithReason(termReason("dead letter not recorded", herr)); terr != nil {
			err = errors.Join(err, fmt.Errorf("term: %w", terr))
		}
		return "dead_letter_lost", 0, err
	}
	reason := "permanent"
	if !fulfillment.IsPermanent(herr) {
		reason = "max deliveries"
	}
	if err := d.msg.TermWithReason(termReason(reason, herr)); err != nil {
		// The dead letter is recorded; a redelivery would record it again.
		return "dead_lettered_term_failed", 0, fmt.Errorf("term: %w", err)
	}
	return "dead_lettered", 0, nil
}

// termReason is a one-line reason for the server's termination advisory.
func termReason(prefix string, err error) string {
	s := prefix + ": " + strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxTermReason {
		s = s[:maxTermReason]
	}
	return s
}

func (r *runner) logOutcome(d *delivery, outcome string, took, delay time.Duration, herr, settleErr error) {
	level := slog.LevelDebug
	attrs := []slog.Attr{
		slog.String("event_id", d.m.EventID),
		slog.String("subject", d.m.Subject),
		slog.Int("attempt", d.m.Attempt),
		slog.Uint64("stream_seq", d.seq),
		slog.String("outcome", outcome),
		slog.Duration("duration", took),
	}
	if herr != nil {
		level = slog.LevelInfo
		attrs = append(attrs, slog.String("error", herr.Error()))
	}
	if delay > 0 {
		attrs = append(attrs, slog.Duration("retry_in", delay))
	}
	if strings.HasPrefix(outcome, "dead_letter") || strings.HasSuffix(outcome, "abandoned") {
		level = slog.LevelWarn
	}
	if settleErr != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("settle_error", settleErr.Error()))
	}
	r.log.LogAttrs(context.Background(), level, "message processed", attrs...)
}
