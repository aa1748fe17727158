// Package broker is fulfillmentd's NATS adapter: an embedded nats-server,
// connecting to an external one, the STRIPE_EVENTS stream and its durable
// pull consumer, a publisher that returns only once an event is durable,
// the outbox relay to the FULFILLMENT push feed, the replayer, and the
// signature check of stream messages (Trusted). The consumer runtime that
// runs handlers over the stream is package worker, which knows nothing of
// nats-server.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startTimeout bounds how long StartEmbedded waits for the server.
const startTimeout = 30 * time.Second

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	// StoreDir holds the JetStream file store (required).
	StoreDir string
	// SyncInterval 0 means SyncAlways: every write is fsynced before the
	// PubAck (the default, safe against power loss). A positive value
	// fsyncs on that interval instead (nats-server's default is 2m):
	// faster, but a power loss may lose the last interval's acked events.
	SyncInterval time.Duration
	// Listen, "host:port", opens the server to NATS clients there (push-feed
	// readers); "" listens on no port unless ConfigFile has a listen block.
	Listen string
	// ConfigFile is a nats-server configuration file whose authorization,
	// accounts, tls and listen blocks apply (CheckEmbeddedListen); "": none.
	ConfigFile string
	// Log receives the server's log; nil discards it.
	Log *slog.Logger
}

// Embedded is a running in-process nats-server (Shutdown and
// WaitForShutdown stop it) and how fulfillmentd connects to it.
type Embedded struct {
	*server.Server
	auth []nats.Option // fulfillmentd's own user, with authorization
}

// StartEmbedded starts an in-process nats-server with JetStream and a file
// store under opts.StoreDir and returns once the server accepts
// connections. It listens on no port unless opts.Listen or the
// configuration file gives one (connect in-process with ConnectEmbedded).
// With users configured, fulfillmentd's own connections authenticate as a
// user made for this run, allowed in-process only (selfUser).
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("start embedded nats: StoreDir is required")
	}
	if opts.SyncInterval < 0 {
		return nil, fmt.Errorf("start embedded nats: negative SyncInterval %s", opts.SyncInterval)
	}
	sc, addr, err := embeddedListen(opts.Listen, opts.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	sopts := &server.Options{}
	e := &Embedded{}
	account := "" // the global account
	if sc != nil {
		sopts, account = sc.opts, sc.account
	}
	if err := checkStoreAccount(opts.StoreDir, account); err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	if sc != nil {
		if sc.hasUsers() || sc.account != "" {
			self, auth, err := selfUser(sc)
			if err != nil {
				return nil, fmt.Errorf("start embedded nats: %w", err)
			}
			sopts.Nkeys = append(sopts.Nkeys, self)
			e.auth = []nats.Option{auth}
		}
	}
	sopts.ServerName = "fulfillmentd"
	sopts.JetStream = true
	sopts.StoreDir = opts.StoreDir
	sopts.NoSigs = true
	sopts.Host, sopts.Port, sopts.DontListen = addr.host, addr.port, addr.port == 0
	if opts.SyncInterval == 0 {
		sopts.SyncAlways = true
	} else {
		sopts.SyncInterval = opts.SyncInterval
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sl := &serverLog{log: log.With("component", "nats-server"), fatal: make(chan string, 1)}
	ns.SetLogger(sl, false, false)

	ready := make(chan bool, 1)
	go func() {
		ns.Start()
		ready <- ns.ReadyForConnections(startTimeout)
	}()
	select {
	case ok := <-ready:
		if ok && ns.JetStreamEnabled() {
			e.Server = ns
			return e, nil
		}
		ns.Shutdown()
		if msg := sl.fatalMessage(); msg != "" {
			return nil, fmt.Errorf("start embedded nats (store %s): %s", opts.StoreDir, msg)
		}
		return nil, fmt.Errorf("start embedded nats (store %s): not ready after %s", opts.StoreDir, startTimeout)
	case msg := <-sl.fatal:
		ns.Shutdown()
		return nil, fmt.Errorf("start embedded nats (store %s): %s", opts.StoreDir, msg)
	}
}

// ConnectEmbedded connects to an embedded server in-process (no TCP), as
// fulfillmentd's own user when the server has authorization.
func ConnectEmbedded(ns *Embedded, name string) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.InProcessServer(ns.Server), nats.Name(name)}, ns.auth...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// serverLog adapts slog to nats-server's Logger. Fatalf does not exit the
// process (the server's own logger would): it is reported to StartEmbedded.
type serverLog struct {
	log   *slog.Logger
	fatal chan string

	mu       sync.Mutex
	firstErr string
}

func (l *serverLog) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	l.mu.Lock()
	if l.firstErr == "" {
		l.firstErr = msg
	}
	l.mu.Unlock()
	select {
	case l.fatal <- msg:
	default:
	}
}

func (l *serverLog) fatalMessage() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstErr
}
