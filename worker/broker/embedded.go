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
	// Log receives the server's log; nil discards it.
	Log *slog.Logger
}

// StartEmbedded starts an in-process nats-server with JetStream and a file
// store under opts.StoreDir. It listens on no port (connect with
// ConnectEmbedded) and returns once the server accepts connections. Stop it
// with Shutdown and WaitForShutdown.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("start embedded nats: StoreDir is required")
	}
	if opts.SyncInterval < 0 {
		return nil, fmt.Errorf("start embedded nats: negative SyncInterval %s", opts.SyncInterval)
	}
	sopts := &server.Options{
		ServerName: "fulfillmentd",
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		DontListen: true,
		NoSigs:     true,
	}
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
			return ns, nil
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

// ConnectEmbedded connects to an embedded server in-process (no TCP).
func ConnectEmbedded(ns *server.Server, name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name(name))
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
