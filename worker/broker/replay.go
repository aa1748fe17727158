package broker

import (
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

// Replays: events put (back) on STRIPE_EVENTS from the store's replay queue
// (fulfillmentd dlq retry, reconcile). Any process may queue a replay in
// SQLite; the process that runs the workers publishes them with a Replayer,
// so that one path works with the embedded broker (which no other process
// can reach) and with an external one alike.

// Defaults of Replayer.
const (
	DefaultReplayPoll  = time.Second
	replayBatch        = 100
	replayPublishWait  = 5 * time.Second
	replayMarkWait     = 5 * time.Second
	replayFailLogLevel = 5 // from this many failed rounds in a row, log at error
)

// ReplayMsgID is the Nats-Msg-Id of a replay: "<event id>:replay:<replay id>".
// It differs from the event's own id, which the stream's duplicate window
// may still hold (it would swallow the replay), and stays the same for
// every publish attempt of one replay (a retry after a lost PubAck is
// deduplicated). Processing stays idempotent either way: the store records
// each event id once.
func ReplayMsgID(rp fulfillment.Replay) string {
	return rp.EventID + ":replay:" + strconv.FormatInt(rp.ID, 10)
}

// PublishReplay stores a replay on subject worker.SubjectPrefix+EventType with
// Nats-Msg-Id ReplayMsgID(rp) and worker.HeaderEventID rp.EventID, and returns
// once the stream has acknowledged it. duplicate reports that this replay
// was published before (within the duplicate window).
func (p *Publisher) PublishReplay(ctx context.Context, rp fulfillment.Replay) (duplicate bool, err error) {
	if rp.EventID == "" || rp.ID == 0 {
		return false, fulfillment.Permanent(errors.New("publish replay: missing event id or replay id"))
	}
	if !validEventType(rp.EventType) {
		return false, fulfillment.Permanent(fmt.Errorf("publish replay of %s: event type %q is not a valid subject suffix", rp.EventID, rp.EventType))
	}
	msg := nats.NewMsg(worker.SubjectPrefix + rp.EventType)
	msg.Data = rp.Payload
	msg.Header.Set(worker.HeaderEventID, rp.EventID)
	setSignatures(msg.Header, rp.Signatures)
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ReplayMsgID(rp)), jetstream.WithExpectStream(worker.StreamName))
	if err != nil {
		return false, fmt.Errorf("publish replay %s: %w", ReplayMsgID(rp), err)
	}
	return ack.Duplicate, nil
}

// ReplayStore is the queue of replays.
type ReplayStore interface {
	PendingReplays(ctx context.Context, limit int) ([]fulfillment.Replay, error)
	// MarkReplayed records that a replay is on the stream. It forgets the
	// dead letter the replay was requested for, never one written after
	// the request: the replay may already have failed again.
	MarkReplayed(ctx context.Context, id int64, at time.Time) error
}

// Replayer publishes the replays queued in a ReplayStore, oldest first,
// and marks each one once the stream has it. A crash between the two
// publishes it again at the next start: the same Nats-Msg-Id, deduplicated
// by the stream.
type Replayer struct {
	Store     ReplayStore
	Publisher *Publisher
	// Poll is how often the queue is read (other processes add to it);
	// 0 → DefaultReplayPoll.
	Poll time.Duration
	// Wake, if set, makes the Replayer read the queue at once: for replays
	// queued by the same process.
	Wake <-chan struct{}
	// Signer signs the replays read from Stripe's API (FromStripeAPI,
	// queued by reconcile) with the worker's key; without it they are not
	// published.
	Signer *FulfillmentSigner
	Log    *slog.Logger
	Now    func() time.Time
}

// Run publishes pending replays until ctx is done, then returns nil. A
// failed round (broker or database unavailable) is logged and tried again
// at the next poll.
func (r *Replayer) Run(ctx context.Context) error {
	if r.Store == nil || r.Publisher == nil {
		return errors.New("replayer: Store and Publisher are required")
	}
	poll := r.Poll
	if poll <= 0 {
		poll = DefaultReplayPoll
	}
	n := 0
	return worker.Loop{
		Every: poll, Wake: r.Wake, Backoff: worker.Backoff{Base: poll, Max: poll, Jitter: worker.NoJitter},
		Failed: func(err error, failures int, _ time.Duration) {
			level := slog.LevelWarn
			if failures >= replayFailLogLevel {
				level = slog.LevelError
			}
			r.log().Log(ctx, level, "replays not published; trying again", "published", n, "failed_rounds", failures, "error", err)
		},
	}.Run(ctx, func(ctx context.Context) (err error) {
		n, err = r.PublishPending(ctx)
		return err
	})
}

// PublishPending publishes every replay pending now and returns how many it
// published. It stops at the first failure, except for a replay that can
// never be published (a permanent error): that one stays pending, is
// reported in the error, and the others go on.
func (r *Replayer) PublishPending(ctx context.Context) (int, error) {
	published := 0
	unpublishable := make(map[int64]error)
	result := func(err error) (int, error) {
		errs := []error{err}
		for _, e := range unpublishable {
			errs = append(errs, e)
		}
		return published, errors.Join(errs...)
	}
	for {
		batch, err := r.Store.PendingReplays(ctx, replayBatch)
		if err != nil {
			return result(err)
		}
		progress := 0
		for _, rp := range batch {
			rp, err := r.sign(rp)
			dup := false
			if err == nil {
				pctx, cancel := context.WithTimeout(ctx, replayPublishWait)
				dup, err = r.Publisher.PublishReplay(pctx, rp)
				cancel()
			}
			if fulfillment.IsPermanent(err) {
				unpublishable[rp.ID] = err
				continue
			}
			if err != nil {
				return result(err)
			}
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replayMarkWait)
			err = r.Store.MarkReplayed(mctx, rp.ID, r.now())
			cancel()
			if err != nil {
				return result(fmt.Errorf("replay %s published, not marked (it will be published again, deduplicated): %w", ReplayMsgID(rp), err))
			}
			published++
			progress++
			r.log().Info("event replayed", "event_id", rp.EventID, "type", rp.EventType, "msg_id", ReplayMsgID(rp),
				"reason", rp.Reason, "requested_at", rp.RequestedAt, "duplicate", dup)
		}
		if len(batch) < replayBatch || progress == 0 {
			return result(nil)
		}
	}
}

// sign adds the worker's Fulfillment-Signature to a replay read from
// Stripe's API. Every other replay carries only the signatures it was
// queued with (a dead letter's own).
func (r *Replayer) sign(rp fulfillment.Replay) (fulfillment.Replay, error) {
	if !rp.FromStripeAPI {
		return rp, nil
	}
	if r.Signer == nil {
		return rp, fulfillment.Permanent(fmt.Errorf("replay %s: read from Stripe's API, but the replayer has no signing key", ReplayMsgID(rp)))
	}
	rp.Signatures.Fulfillment = r.Signer.Sign(rp.EventID, rp.Payload)
	return rp, nil
}

func (r *Replayer) now() time.Time { return fulfillment.NowOr(r.Now) }

func (r *Replayer) log() *slog.Logger { return fulfillment.LoggerOr(r.Log) }
