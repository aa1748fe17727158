package broker

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// Defaults applied by Setup to zero StreamConfig fields (AckWait and
// Workers default to worker.DefaultAckWait and worker.DefaultWorkers).
const (
	DefaultMaxDeliver = 20
	// MinMaxAckPending is the least MaxAckPending of the consumer (NATS's
	// own default); see maxAckPending.
	MinMaxAckPending  = 1000
	DefaultMaxAge     = 7 * 24 * time.Hour // a week of events can be replayed
	DefaultDuplicates = 2 * time.Hour      // Nats-Msg-Id dedupe window
)

// StreamConfig sizes the stream and the consumer. Zero fields take the
// defaults above.
type StreamConfig struct {
	Replicas int // 0 → 1; 3 in a cluster
	// Workers is the number of handlers running at once in each process
	// sharing the consumer; it sizes MaxAckPending (see maxAckPending).
	Workers    int           // 0 → worker.DefaultWorkers
	MaxDeliver int           // 0 → DefaultMaxDeliver; Pool.MaxDeliver must match
	AckWait    time.Duration // 0 → worker.DefaultAckWait
	MaxAge     time.Duration // 0 → DefaultMaxAge
	Duplicates time.Duration // 0 → DefaultDuplicates
}

func (c StreamConfig) withDefaults() (StreamConfig, error) {
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.Workers = cmp.Or(c.Workers, worker.DefaultWorkers)
	c.MaxDeliver = cmp.Or(c.MaxDeliver, DefaultMaxDeliver)
	c.AckWait = cmp.Or(c.AckWait, worker.DefaultAckWait)
	c.MaxAge = cmp.Or(c.MaxAge, DefaultMaxAge)
	c.Duplicates = cmp.Or(c.Duplicates, DefaultDuplicates)
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("replicas %d: want 1..5", c.Replicas)
	case c.Workers < 1:
		return c, fmt.Errorf("workers %d: want at least 1", c.Workers)
	case c.MaxDeliver < 1:
		return c, fmt.Errorf("max deliver %d: want a finite number of at least 1", c.MaxDeliver)
	case c.AckWait < time.Second:
		return c, fmt.Errorf("ack wait %s: want at least 1s", c.AckWait)
	case c.Duplicates < 0 || c.MaxAge < 0:
		return c, fmt.Errorf("negative duplicates window %s or max age %s", c.Duplicates, c.MaxAge)
	case c.Duplicates > c.MaxAge:
		return c, fmt.Errorf("duplicates window %s is longer than max age %s", c.Duplicates, c.MaxAge)
	}
	return c, nil
}

// Setup creates the stream and the durable pull consumer, or updates them to
// cfg: running it on every start is safe. Settings the server cannot change
// in place (storage type, ack policy, deliver policy) make it fail.
func Setup(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("setup %s: %w", worker.StreamName, err)
	}
	if err := setupStream(ctx, js, cfg); err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, worker.StreamName, jetstream.ConsumerConfig{
		Durable:       worker.ConsumerName,
		Description:   "fulfillmentd workers: Stripe events to orders",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: maxAckPending(cfg.Workers),
		FilterSubject: worker.SubjectPrefix + ">",
	})
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %s: %w", worker.ConsumerName, err)
	}
	return cons, nil
}

// maxAckPending is the consumer's MaxAckPending: how many delivered, not yet
// settled messages the server allows before it delivers no more to anyone.
// Three kinds hold a slot: the messages live Pools are handling (at most
// Workers per process: a Pool pulls only for idle workers), deliveries to
// processes that died (at most Workers per dead process, each until AckWait
// after its delivery), and messages waiting out a retry backoff (a nak with
// delay keeps its slot until the redelivery). The old max(2×Workers, 16) was
// filled by two SIGKILLs, and the live process then got nothing until the
// dead deliveries expired. 1000 (NATS's default), or 64×Workers for larger
// pools, takes over a hundred kills within one AckWait to fill with dead
// deliveries, and leaves room for a burst's worth of events in backoff.
func maxAckPending(workers int) int { return max(MinMaxAckPending, 64*workers) }

// SetupStream creates or updates the stream only, for processes that
// publish events and never consume them (the receiver role). The stream
// settings of cfg must match the workers' (Replicas, MaxAge, Duplicates),
// or each start undoes the other's.
func SetupStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("setup %s: %w", worker.StreamName, err)
	}
	return setupStream(ctx, js, cfg)
}

func setupStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	return ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        worker.StreamName,
		Description: "Verified Stripe webhook events, raw, one per event id",
		Subjects:    []string{worker.SubjectPrefix + ">"},
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		Replicas:    cfg.Replicas,
	})
}

// ensureStream creates the stream or updates it to cfg, as a file-stored,
// limits-retained stream that discards its oldest messages.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	cfg.Storage, cfg.Retention, cfg.Discard = jetstream.FileStorage, jetstream.LimitsPolicy, jetstream.DiscardOld
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return nil
}
