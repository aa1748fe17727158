package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
)

// maxDeliver bounds deliveries per event before it becomes a dead letter.
// With worker.Redelivery (exponential from 1 s, capped at 15 min, at least half
// of each ceiling) the 41 waits between 42 deliveries add up to at least
// 4 h 01 min (expected about 6 h, at most 8 h): a Stripe outage of a few
// hours is ridden out. A rejected API key waits worker.AuthRedelivery (from
// 1 min): at least 4 h 45 min. TestRetriesRideOutAnOutage checks the floors.
const maxDeliver = 42

// app is one fulfillmentd process: receiver, workers, broker connection (and
// the embedded broker), database. A receiver role has no database, workers,
// relays nor Stripe client. Both roles verify Stripe signatures: the
// receiver those of deliveries, the worker those of stream messages.
type app struct {
	log     *slog.Logger
	role    string
	ns      *broker.Embedded // nil with an external NATS
	nc      *nats.Conn
	js      jetstream.JetStream
	db      *store.DB
	stripe  *stripeapi.Client
	pool    *worker.Pool
	relay   *broker.Relay // publishes the outbox to the push feed
	tasks   []task        // replayer, periodic reconcile (roles.go)
	ln      net.Listener
	handler http.Handler
	metrics *metrics
	// adminLn (FULFILLMENT_ADMIN_ADDR) serves adminHandler: the probes and
	// metrics; nil when they share ln.
	adminLn      net.Listener
	adminHandler http.Handler
}

// start opens every part in dependency order; on error it closes what it opened.
func start(ctx context.Context, cfg config, log *slog.Logger) (a *app, err error) {
	a = &app{log: log, role: cfg.Role, metrics: newMetrics()}
	opened := a // every error return sets a to nil
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	if err := cfg.checkRole(); err != nil {
		return nil, err
	}
	if !cfg.works() && len(cfg.WarehouseHooks) > 0 {
		return nil, errors.New("FULFILLMENT_WAREHOUSE_WEBHOOKS is set on a receiver (--role receiver): warehouse webhooks are sent by the worker role, which owns the database")
	}
	if cfg.works() {
		if a.db, err = store.Open(ctx, cfg.dbPath()); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	if cfg.works() || cfg.NATSURL == "" {
		warnSharedDataDir(log, cfg.DataDir)
	}
	if cfg.NATSURL == "" {
		a.ns, err = broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: cfg.natsDir(), SyncInterval: cfg.NATSSyncInterval,
			Listen: cfg.NATSListen, ConfigFile: cfg.NATSConfig, Log: log})
		if err != nil {
			return nil, fmt.Errorf("start embedded NATS: %w", err)
		}
		if addr := a.ns.Addr(); addr != nil {
			log.Info("embedded NATS listening", "addr", addr.String(), "config", cfg.NATSConfig)
		}
		a.nc, err = broker.ConnectEmbedded(a.ns, "fulfillmentd")
	} else {
		var opts []nats.Option
		if opts, err = cfg.NATSAuth.Options(); err != nil {
			return nil, fmt.Errorf("NATS credentials: %w", err)
		}
		a.nc, err = broker.Connect(cfg.NATSURL, "fulfillmentd", log, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	streamCfg := broker.StreamConfig{Workers: cfg.Workers, MaxDeliver: maxDeliver, Replicas: cfg.NATSReplicas, AckWait: cfg.AckWait}
	publisher := broker.NewPublisher(a.js)
	verifier, err := stripeevent.NewVerifier(cfg.WebhookSecrets, cfg.Tolerance, nil)
	if err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	// What this role serves over HTTP: a part it does not serve is nil.
	deps := httpapi.Deps{Log: log}
	if cfg.Role == roleWorker {
		deps.NotServed = map[string]string{"/webhooks/": "this process is a worker (--role worker): Stripe webhooks go to the receiver role"}
	} else {
		deps.Webhooks = &httpapi.Webhooks{Verifier: verifier, Events: publisher, Observe: a.metrics.webhook}
	}
	if !cfg.works() {
		if err := broker.SetupStream(ctx, a.js, streamCfg); err != nil {
			return nil, fmt.Errorf("set up stream: %w", err)
		}
		a.metrics.reg.MustRegister(newGauges(log, nil, nil))
		deps.NotServed = map[string]string{"/v1/": "this process is a receiver (--role receiver): the warehouse API /v1 is served by the worker role",
			"/console/": "this process is a receiver (--role receiver): the console is served by the worker role"}
		if err := a.listen(cfg, deps); err != nil {
			return nil, err
		}
		return a, nil
	}
	consumer, err := broker.Setup(ctx, a.js, streamCfg)
	if err != nil {
		return nil, fmt.Errorf("set up stream: %w", err)
	}
	if err := broker.SetupFeed(ctx, a.js, broker.FeedConfig{Replicas: cfg.NATSReplicas}); err != nil {
		return nil, fmt.Errorf("set up push feed: %w", err)
	}
	relayWake, err := a.startWarehouseHooks(ctx, cfg.WarehouseHooks, a.db.OutboxWritten())
	if err != nil {
		return nil, fmt.Errorf("warehouse webhooks: %w", err)
	}
	a.relay = &broker.Relay{JS: a.js, Outbox: a.db, Wake: relayWake, Log: log}
	a.stripe = cfg.stripeClient(log, a.metrics)
	proc := &fulfillment.Processor{Stripe: a.stripe, Payments: a.stripe, Orders: a.db, CrossSells: cfg.CrossSells, Log: log}
	key, err := a.db.SigningKey(ctx)
	if err != nil {
		return nil, err
	}
	signer, err := broker.NewFulfillmentSigner(key)
	if err != nil {
		return nil, err
	}
	a.pool = &worker.Pool{
		Consumer: consumer,
		// Only messages signed by Stripe (or by this worker, for events it
		// read from Stripe's API) reach the Processor: README "Stream messages".
		Handler:     countUntrusted(a.metrics, broker.Trusted(verifier, signer, processEvents(proc, log, a.metrics))),
		Workers:     cfg.Workers,
		MaxDeliver:  maxDeliver,
		DeadLetters: a.db,
		Conn:        a.nc, // confirmed naks at shutdown
		Log:         log,
	}
	// Replays queued by dlq retry and reconcile, from any process on this
	// database, go to the stream from here.
	wake := make(chan struct{}, 1)
	replayer := &broker.Replayer{Store: a.db, Publisher: publisher, Wake: wake, Signer: signer, Log: log}
	a.tasks = append(a.tasks, task{name: "replayer", run: replayer.Run},
		processedPruner{db: a.db, keep: processedRetention, every: processedPruneEach, now: time.Now, log: log}.task())
	reconciled := &lastReconcile{}
	if cfg.ReconcileEvery > 0 {
		rec := &fulfillment.Reconciler{Stripe: a.stripe, Store: a.db, Log: log, BuildEvent: stripeevent.Build}
		a.tasks = append(a.tasks, reconcileEvery(rec, cfg.ReconcileEvery, cfg.ReconcileSince, wake, log, reconciled.set))
	}
	gauges := newGauges(log, a.db, consumer)
	a.metrics.reg.MustRegister(gauges)
	deps.API = &httpapi.API{Orders: a.db, Sessions: proc, Tokens: slices.Concat(cfg.APITokens, cfg.AdminTokens), Now: time.Now,
		Refused: a.metrics.unauthorizedRequest}
	deps.Console = a.console(cfg, key, gauges, reconciled)
	if err := a.listen(cfg, deps); err != nil {
		return nil, err
	}
	return a, nil
}

// listen opens the public listener (webhooks, /v1: what deps has) and,
// with FULFILLMENT_ADMIN_ADDR, the admin listener, which then alone serves
// /healthz, /readyz and /metrics.
func (a *app) listen(cfg config, deps httpapi.Deps) (err error) {
	if a.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	deps.Ops = httpapi.NewOps(a.log, a.ready, a.metrics.handler(), false)
	if cfg.AdminAddr != "" {
		if a.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("listen on the admin address: %w", err)
		}
		a.adminHandler = httpapi.NewOps(a.log, a.ready, a.metrics.handler(), true)
		deps.Ops = nil
	}
	a.handler = httpapi.NewHandler(deps)
	return nil
}

// processEvents is the worker's handler: decode the stored Stripe event and
// run the use case. The pool decides retry, termination and dead letters.
// countUntrusted counts the messages next refused as untrusted (no valid
// signature): they never reach processEvents, which counts every other
// outcome, so a flood of forged messages on the stream shows in metrics.
func countUntrusted(m *metrics, next worker.Handler) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, msg worker.Message) error {
		err := next.Handle(ctx, msg)
		if errors.Is(err, fulfillment.ErrUntrusted) {
			m.events.WithLabelValues("untrusted").Inc()
		}
		return err
	})
}

func processEvents(proc *fulfillment.Processor, log *slog.Logger, obs *metrics) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, m worker.Message) (err error) {
		start := time.Now()
		defer func() {
			switch {
			case err == nil:
			case fulfillment.IsPermanent(err):
				obs.event("permanent_error", time.Since(start))
			default:
				obs.event("transient_error", time.Since(start))
			}
		}()
		ev, err := stripeevent.Decode(m.Data)
		if err != nil {
			return fulfillment.Permanent(fmt.Errorf("decode event: %w", err))
		}
		res, err := proc.Process(ctx, ev)
		if errors.Is(err, fulfillment.ErrUnauthorized) {
			log.Error(stripeKeyProblem+"; the event is retried with a long backoff", "event_id", ev.ID,
				"session_id", ev.Session.ID, "attempt", m.Attempt, "error", err)
		}
		if err != nil {
			return err
		}
		obs.event(string(res.Outcome), time.Since(start))
		log.Info("event processed", "event_id", ev.ID, "type", ev.Type, "session_id", ev.Session.ID,
			"object", ev.Object, "order_id", res.Order.ID, "status", res.Order.Status, "outcome", res.Outcome,
			"stripe_calls", res.Calls, "attempt", m.Attempt, "duration_ms", time.Since(start).Milliseconds())
		return nil
	})
}

// stripeKeyProblem is what an operator reads when Stripe rejects the API
// key (401) or its permissions (403): an outage of this service, never
// printed with the key.
const stripeKeyProblem = "Stripe rejected the API key: check STRIPE_SECRET_KEY / its permissions"

// explainStripeKey puts stripeKeyProblem in front of an error that wraps
// fulfillment.ErrUnauthorized; other errors are returned as they are.
func explainStripeKey(err error) error {
	if errors.Is(err, fulfillment.ErrUnauthorized) {
		return fmt.Errorf("%s: %w", stripeKeyProblem, err)
	}
	return err
}

// ready reports whether the broker and the database (if the role has one)
// are usable.
func (a *app) ready(ctx context.Context) error {
	if a.nc.Status() != nats.CONNECTED {
		return fmt.Errorf("broker: %s", a.nc.Status())
	}
	if _, err := a.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if a.db == nil { // receiver: the broker is all it needs
		return nil
	}
	if err := a.db.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// run serves HTTP and runs the workers until ctx is done, then shuts down in
// order: stop taking webhooks and finish in-flight requests, let in-flight
// events finish, then close the broker and the database.
func (a *app) run(ctx context.Context, listening func(url string)) error {
	srv := a.server(a.handler)
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPool()
	var poolDone, relayDone chan error // nil: not in this role
	if a.pool != nil {
		poolDone = make(chan error, 1)
		go func() { poolDone <- a.pool.Run(poolCtx) }()
	}
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	if a.relay != nil {
		relayDone = make(chan error, 1)
		go func() { relayDone <- a.relay.Run(relayCtx) }()
	}
	stopTasks := startTasks(ctx, a.tasks)
	httpDone := make(chan error, 2)
	go func() { httpDone <- srv.Serve(a.ln) }()
	var adminSrv *http.Server
	if a.adminLn != nil {
		adminSrv = a.server(a.adminHandler)
		go func() { httpDone <- adminSrv.Serve(a.adminLn) }()
		a.log.Info("admin listener", "addr", a.adminLn.Addr().String(), "serves", "/healthz /readyz /metrics")
	}

	url := "http://" + a.ln.Addr().String()
	a.log.Info("fulfillmentd ready", "addr", a.ln.Addr().String(), "role", a.role, "embedded_nats", a.ns != nil)
	if listening != nil {
		listening(url)
	}

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-poolDone:
		runErr = fmt.Errorf("workers stopped: %w", err)
		poolDone <- nil
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
	}
	if adminSrv != nil {
		if err := adminSrv.Shutdown(shutdownCtx); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("admin http shutdown: %w", err))
		}
	}
	stopPool()
	if poolDone != nil {
		if err := <-poolDone; err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("workers: %w", err))
		}
	}
	stopRelay() // what it has not published stays in the outbox for the next start
	if relayDone != nil {
		if err := <-relayDone; err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("push feed relay: %w", err))
		}
	}
	// Pending replays stay queued for the next start.
	if err := stopTasks(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	a.close()
	a.log.Info("stopped")
	return runErr
}

// server is an HTTP server for h with fulfillmentd's timeouts and limits.
func (a *app) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// close releases whatever start opened, in reverse order.
func (a *app) close() {
	if a.ln != nil {
		_ = a.ln.Close() // already closed by Shutdown on the normal path
	}
	if a.adminLn != nil {
		_ = a.adminLn.Close()
	}
	if a.nc != nil {
		// Naks and terms are fire-and-forget: flush them to the broker first.
		_ = a.nc.FlushTimeout(2 * time.Second)
		a.nc.Close()
	}
	if a.ns != nil {
		a.ns.Shutdown()
		a.ns.WaitForShutdown()
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Error("close database", "err", err.Error())
		}
	}
}

// The adapters serve what the HTTP API, the broker and the worker runtime
// need of them.
var (
	_ httpapi.Orders     = (*store.DB)(nil)
	_ httpapi.Publisher  = (*broker.Publisher)(nil)
	_ broker.Outbox      = (*store.DB)(nil)
	_ broker.ReplayStore = (*store.DB)(nil)
	_ worker.DeadLetters = (*store.DB)(nil)
)

// orderList is the warehouse feed's page (GET /v1/orders) as clients decode it.
type orderList = httpapi.OrderList
