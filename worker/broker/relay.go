package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// The push feed: every order change, published to the FULFILLMENT stream
// by a Relay that reads the store's outbox.
const (
	FeedStreamName    = "FULFILLMENT"
	FeedSubjectPrefix = "fulfillment.orders." // subject = FeedSubjectPrefix + order status
)

// Headers of a push feed message besides Nats-Msg-Id (the change id).
const (
	HeaderOrderID   = "Fulfillment-Order-Id"
	HeaderChangeSeq = "Fulfillment-Change-Seq" // the change's position in the order feed, as GET /v1/orders's cursor counts
)

// RelayBackoff is the Relay's default wait after failures in a row: full
// jitter from 100 ms doubling to at most 30 s.
var RelayBackoff = worker.Backoff{Base: 100 * time.Millisecond, Max: 30 * time.Second, Jitter: worker.FullJitter}

// Defaults of FeedConfig and Relay.
const (
	DefaultFeedMaxAge         = 7 * 24 * time.Hour
	DefaultRelayPoll          = 2 * time.Second
	DefaultRelayBatch         = 100
	DefaultRelayRetention     = 7 * 24 * time.Hour
	DefaultRelayPublishWait   = 5 * time.Second
	relayPruneEvery           = time.Hour
	relayMarkTimeout          = 5 * time.Second
	relayConsecutiveFailLevel = 5 // from this many failures in a row, log at error
)

// FeedConfig sizes the FULFILLMENT stream. Zero fields take the defaults.
type FeedConfig struct {
	Replicas   int           // 0 → 1; 3 in a cluster
	MaxAge     time.Duration // 0 → DefaultFeedMaxAge: how far back a new consumer can start
	Duplicates time.Duration // 0 → DefaultDuplicates: Nats-Msg-Id dedupe window
}

// SetupFeed creates the FULFILLMENT stream (subjects fulfillment.orders.>),
// or updates it to cfg: running it on every start is safe.
func SetupFeed(ctx context.Context, js jetstream.JetStream, cfg FeedConfig) error {
	cfg.Replicas = cmp.Or(cfg.Replicas, 1)
	cfg.MaxAge = cmp.Or(cfg.MaxAge, DefaultFeedMaxAge)
	cfg.Duplicates = cmp.Or(cfg.Duplicates, DefaultDuplicates)
	switch {
	case cfg.Replicas < 1 || cfg.Replicas > 5:
		return fmt.Errorf("setup %s: replicas %d: want 1..5", FeedStreamName, cfg.Replicas)
	case cfg.Duplicates < 0 || cfg.MaxAge < 0 || cfg.Duplicates > cfg.MaxAge:
		return fmt.Errorf("setup %s: duplicates window %s, max age %s: want 0 < window ≤ max age", FeedStreamName, cfg.Duplicates, cfg.MaxAge)
	}
	return ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        FeedStreamName,
		Description: "Order changes for warehouses: the order JSON after each change, in change order",
		Subjects:    []string{FeedSubjectPrefix + ">"},
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		Replicas:    cfg.Replicas,
	})
}

// Outbox is what the Relay needs of the store: order changes written in the
// changes' own transactions, waiting to be published.
type Outbox interface {
	// PendingChanges returns up to limit unpublished changes, oldest first.
	PendingChanges(ctx context.Context, limit int) ([]fulfillment.OrderChange, error)
	// MarkPublished records that these changes (by Seq) are on the broker.
	MarkPublished(ctx context.Context, seqs []int64, at time.Time) error
	// PruneOutbox deletes changes published before before.
	PruneOutbox(ctx context.Context, before time.Time) (int64, error)
}

// Relay publishes the outbox to the FULFILLMENT stream: each change on
// subject fulfillment.orders.<status>, with Nats-Msg-Id = the change id and
// the order JSON as payload, strictly one after the other in change order
// (so in change order per order), marking changes published only after
// their PubAck. Delivery is at least once: a change published but not yet
// marked when the process stops is published again, and the stream drops it
// as a duplicate within its Duplicates window.
//
// When publishing fails (broker unreachable, stream unavailable) the Relay
// keeps the change, waits with backoff, and tries the same change again:
// nothing is lost and nothing overtakes it.
type Relay struct {
	JS     jetstream.JetStream
	Outbox Outbox
	// Wake signals that changes were written (store.DB.OutboxWritten), so
	// they go out at once. Without a signal the Relay looks every Poll,
	// which catches changes written by other processes on the same
	// database; nil Wake means polling only.
	Wake <-chan struct{}
	Poll time.Duration // 0 → DefaultRelayPoll
	// Batch is how many changes one read of the outbox takes; 0 → DefaultRelayBatch.
	Batch int
	// Retention is how long published changes stay in the outbox before
	// they are pruned (hourly); 0 → DefaultRelayRetention, negative keeps them.
	Retention time.Duration
	// PublishWait bounds one publish's wait for its PubAck; 0 → DefaultRelayPublishWait.
	PublishWait time.Duration
	// Backoff is the wait after consecutive failures; a zero Base →
	// RelayBackoff.
	Backoff worker.Backoff
	Log     *slog.Logger
	Now     func() time.Time
}

// Run relays until ctx is canceled, then returns nil. Changes left in the
// outbox are published by the next Run.
func (r *Relay) Run(ctx context.Context) error {
	if r.JS == nil || r.Outbox == nil {
		return errors.New("relay: JS and Outbox are required")
	}
	log := fulfillment.LoggerOr(r.Log).With("component", "relay", "stream", FeedStreamName)
	poll := cmp.Or(r.Poll, DefaultRelayPoll)
	backoff := r.Backoff
	if backoff.Base == 0 {
		backoff = RelayBackoff
	}
	var nextPrune time.Time
	log.Info("push feed relay started", "poll", poll)
	return worker.Loop{
		Every: poll, Wake: r.Wake, Backoff: backoff,
		Failed: func(err error, failures int, wait time.Duration) {
			level := slog.LevelWarn
			if failures >= relayConsecutiveFailLevel {
				level = slog.LevelError
			}
			log.Log(ctx, level, "push feed: publishing failed; the changes stay in the outbox",
				"error", err.Error(), "failures", failures, "retry_in", wait.String())
		},
		Recovered: func(failures int) { log.Info("push feed: publishing again", "after_failures", failures) },
	}.Run(ctx, func(ctx context.Context) error {
		for { // while batches come full, more are waiting
			n, err := r.relayBatch(ctx)
			if err != nil || ctx.Err() != nil {
				return err
			}
			if n < cmp.Or(r.Batch, DefaultRelayBatch) {
				break
			}
		}
		if now := r.now(); r.Retention >= 0 && now.After(nextPrune) {
			nextPrune = now.Add(relayPruneEvery)
			if pruned, err := r.Outbox.PruneOutbox(ctx, now.Add(-cmp.Or(r.Retention, DefaultRelayRetention))); err != nil {
				log.Warn("push feed: prune outbox", "error", err.Error())
			} else if pruned > 0 {
				log.Info("push feed: pruned published changes", "rows", pruned)
			}
		}
		return nil
	})
}

// relayBatch publishes one batch of pending changes in order and marks the
// ones acknowledged; it stops at the first failure. It returns how many
// changes it read.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	batch := cmp.Or(r.Batch, DefaultRelayBatch)
	changes, err := r.Outbox.PendingChanges(ctx, batch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	done := make([]int64, 0, len(changes))
	var pubErr error
	for _, c := range changes {
		if pubErr = r.publish(ctx, c); pubErr != nil {
			break
		}
		done = append(done, c.Seq)
	}
	if len(done) > 0 {
		// Marking survives cancellation: an unmarked change would only be
		// published again, but there is no need.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayMarkTimeout)
		defer cancel()
		if err := r.Outbox.MarkPublished(mctx, done, r.now()); err != nil {
			return len(changes), errors.Join(pubErr, fmt.Errorf("mark published: %w", err))
		}
	}
	return len(changes), pubErr
}

func (r *Relay) publish(ctx context.Context, c fulfillment.OrderChange) error {
	if !validEventType(string(c.Status)) {
		return fmt.Errorf("change %s: status %q is not a valid subject token", c.ID, c.Status)
	}
	msg := nats.NewMsg(FeedSubjectPrefix + string(c.Status))
	msg.Data = c.Payload
	msg.Header.Set(HeaderOrderID, c.OrderID)
	msg.Header.Set(HeaderChangeSeq, strconv.FormatInt(c.Seq, 10))
	pctx, cancel := context.WithTimeout(ctx, cmp.Or(r.PublishWait, DefaultRelayPublishWait))
	defer cancel()
	if _, err := r.JS.PublishMsg(pctx, msg, jetstream.WithMsgID(c.ID), jetstream.WithExpectStream(FeedStreamName)); err != nil {
		return fmt.Errorf("publish change %s: %w", c.ID, err)
	}
	return nil
}

func (r *Relay) now() time.Time { return fulfillment.NowOr(r.Now).UTC() }
