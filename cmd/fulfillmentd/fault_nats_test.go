package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

var natsReadyRe = regexp.MustCompile(`nats-server ready (nats://\S+)`)

// natsNode is one external nats-server: a child process that can be
// stopped and started again on the same port and store.
type natsNode struct {
	name string
	args []string
	url  string
	p    *proc
}

func (n *natsNode) start(t *testing.T) {
	t.Helper()
	p, m := startProc(t, n.name, "nats-server", n.args, nil, natsReadyRe)
	n.p, n.url = p, m[1]
}

// startNATS starts a single external nats-server with JetStream.
func startNATS(t *testing.T) *natsNode {
	t.Helper()
	port := freePort(t)
	n := &natsNode{name: "nats", args: []string{"-name", "n1", "-port", fmt.Sprint(port), "-store", t.TempDir()}}
	n.start(t)
	return n
}

// startNATSCluster starts a cluster of size nodes on loopback and waits
// until JetStream can place a stream on all of them.
func startNATSCluster(t *testing.T, size int) []*natsNode {
	t.Helper()
	ports, routePorts := make([]int, size), make([]int, size)
	for i := range size {
		ports[i], routePorts[i] = freePort(t), freePort(t)
	}
	nodes := make([]*natsNode, size)
	for i := range size {
		var routes []string
		for j := range size {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[j]))
			}
		}
		nodes[i] = &natsNode{name: fmt.Sprintf("n%d", i+1), args: []string{
			"-name", fmt.Sprintf("n%d", i+1), "-port", fmt.Sprint(ports[i]), "-store", t.TempDir(),
			"-cluster", "fulfillment", "-cluster-port", fmt.Sprint(routePorts[i]), "-routes", strings.Join(routes, ","),
		}}
	}
	for _, n := range nodes {
		n.start(t)
	}
	nc, err := nats.Connect(clusterURL(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Ready once every node has joined JetStream: an R<size> stream can
	// be placed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"ready"}, Replicas: size})
		if err == nil {
			err = js.DeleteStream(ctx, "READY")
		}
		cancel()
		if err == nil {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func clusterURL(nodes []*natsNode) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
	}
	return strings.Join(urls, ",")
}

// TestFaultBrokerDown stops the external nats-server that fulfillmentd uses
// and starts it again on the same port and store. While it is down, the
// receiver answers 503 (quickly) and /readyz fails; the sender keeps
// retrying, as Stripe does. Afterwards the receiver and the workers recover
// by themselves, and every event that got a 2xx becomes an order.
//
// Reduced: 60 events per phase, 1 outage of 2 s. Full: 500 per phase, 3 outages of 5 s.
func TestFaultBrokerDown(t *testing.T) {
	t.Parallel()
	var (
		perPhase = faultSize(60, 500)
		outages  = faultSize(1, 3)
		downFor  = time.Duration(faultSize(2, 5)) * time.Second
	)
	node := startNATS(t)
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	env["NATS_URL"] = node.url
	env["FULFILLMENT_ACK_WAIT"] = "5s"
	svc := startService(t, env)
	dbPath := filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")

	var url atomic.Value
	url.Store(svc.url)
	sender := newStripeSender(func() string { return url.Load().(string) }, "whsec_new_e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var all []string
	for phase := range outages + 1 {
		events, sessions := generatedEvents(t, emu, fmt.Sprintf("down%d", phase), perPhase, 2)
		all = append(all, sessions...)
		burstDone := make(chan error, 1)
		go func() {
			_, err := sender.burst(ctx, events, 8, 0.05, nil)
			burstDone <- err
		}()
		if phase == outages {
			if err := <-burstDone; err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond) // mid-burst
		if err := node.p.stop(30 * time.Second); err != nil {
			t.Fatalf("stop nats-server: %v", err)
		}

		// Down: a delivery is refused fast with 503 and Retry-After.
		probe, _ := emu.Event("evt_probe", "checkout.session.completed", sessions[0], time.Time{})
		began := time.Now()
		code, err := sender.once(ctx, probe)
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("broker down: delivery answered %d, %v; want 503", code, err)
		}
		t.Logf("broker down: delivery answered %d in %s", code, time.Since(began))
		if took := time.Since(began); took > httpapi.PublishTimeout+time.Second {
			t.Errorf("broker down: 503 took %s", took)
		}
		if code := svc.get(t, "/readyz", nil); code != http.StatusServiceUnavailable {
			t.Errorf("broker down: /readyz = %d, want 503", code)
		}
		time.Sleep(downFor)
		node.start(t)
		t.Logf("broker back after %s", time.Since(began))
		if err := <-burstDone; err != nil {
			t.Fatal(err)
		}
		t.Logf("burst done after %s", time.Since(began))
	}

	began := time.Now()
	l := waitOrders(t, dbPath, all, 90*time.Second)
	t.Logf("orders complete after %s", time.Since(began))
	lost, dups := l.tally(all, 2)
	t.Logf("broker-down figures: events=%d outages=%d deliveries=%d conn_errors=%d codes=%v orders=%d duplicates=%d lost=%d",
		len(all), outages, sender.attempts.Load(), sender.connErrs.Load(), sender.codeCounts(), len(l.orders), dups, lost)
	if lost != 0 || dups != 0 {
		t.Fatalf("lost %d, duplicated %d\n%s\n%s", lost, dups, svc.stderr.String(), node.p.logs())
	}
	if sender.codeCounts()[http.StatusServiceUnavailable] == 0 {
		t.Error("no delivery was refused with 503 while the broker was down")
	}
	deadline := time.Now().Add(30 * time.Second)
	for svc.get(t, "/readyz", nil) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaultNATSCluster runs fulfillmentd against a 3-node NATS cluster on
// loopback with the stream at 3 replicas, and SIGKILLs the stream's leader
// during a burst (and, at full size, a second node after the first is back).
// Nothing that got a 2xx is lost.
//
// Reduced: 150 events, 1 kill. Full: 1500 events, 2 kills with restarts.
func TestFaultNATSCluster(t *testing.T) {
	t.Parallel()
	var (
		nEvents = faultSize(150, 1500)
		kills   = faultSize(1, 2)
	)
	began := time.Now()
	nodes := startNATSCluster(t, 3)
	t.Logf("cluster ready after %s", time.Since(began))
	emu, stripeSrv := newEmulator(t)
	events, sessions := generatedEvents(t, emu, "cluster", nEvents, 2)
	env := serviceEnv(t, stripeSrv.URL)
	env["NATS_URL"] = clusterURL(nodes)
	env["FULFILLMENT_NATS_REPLICAS"] = "3"
	env["FULFILLMENT_ACK_WAIT"] = "5s"
	env["STRIPE_MAX_RPS"] = "1000"
	svc := startService(t, env)
	dbPath := filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")

	js, _ := natstest.Connect(t, clusterURL(nodes), nats.MaxReconnects(-1))
	info, err := js.Stream(context.Background(), worker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if r := info.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("stream has %d replicas, want 3", r)
	}

	sender := newStripeSender(func() string { return svc.url }, "whsec_new_e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var acked atomic.Int64
	killed := make(chan []string, 1)
	go func() {
		var names []string
		defer func() { killed <- names }()
		for k := range kills {
			for acked.Load() < int64((k+1)*nEvents/(kills+2)) && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			leader := streamLeader(ctx, js)
			var victim *natsNode
			for _, n := range nodes {
				if n.name == leader {
					victim = n
				}
			}
			if victim == nil {
				victim = nodes[k%len(nodes)]
			}
			victim.p.kill()
			names = append(names, victim.name)
			if k+1 < kills {
				time.Sleep(2 * time.Second)
				victim.start(t)
			}
		}
	}()
	ok, err := sender.burst(ctx, events, 8, 0.05, func(int) { acked.Add(1) })
	if err != nil {
		t.Fatalf("burst: %d/%d got a 2xx: %v", ok, nEvents, err)
	}
	victims := <-killed
	t.Logf("burst done after %s", time.Since(began))

	l := waitOrders(t, dbPath, sessions, 90*time.Second)
	t.Logf("orders complete after %s", time.Since(began))
	lost, dups := l.tally(sessions, 2)
	t.Logf("cluster figures: events=%d killed=%v deliveries=%d conn_errors=%d codes=%v orders=%d duplicates=%d lost=%d",
		nEvents, victims, sender.attempts.Load(), sender.connErrs.Load(), sender.codeCounts(), len(l.orders), dups, lost)
	if len(victims) != kills {
		t.Errorf("killed %v, want %d kills", victims, kills)
	}
	if lost != 0 || dups != 0 {
		t.Fatalf("lost %d, duplicated %d; %s\n%s", lost, dups, streamState(js), svc.stderr.String())
	}
}

// streamState describes the event stream and the workers' consumer, for
// failure messages.
func streamState(js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, worker.StreamName)
	if err != nil {
		return fmt.Sprintf("stream: %v", err)
	}
	si := s.CachedInfo()
	out := fmt.Sprintf("stream: %d msgs, seq %d..%d, cluster %+v", si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, si.Cluster)
	c, err := s.Consumer(ctx, worker.ConsumerName)
	if err != nil {
		return out + fmt.Sprintf("; consumer: %v", err)
	}
	ci := c.CachedInfo()
	return out + fmt.Sprintf("; consumer: delivered %d ack floor %d, pending %d, ack pending %d, redelivered %d, waiting pulls %d, cluster %+v",
		ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Cluster)
}

// streamLeader is the server name leading the event stream, or "" if unknown.
func streamLeader(ctx context.Context, js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, worker.StreamName)
	if err != nil {
		return ""
	}
	if c := s.CachedInfo().Cluster; c != nil {
		return c.Leader
	}
	return ""
}

// TestFaultBrokerUnreachableAtStart: serve with a NATS_URL nothing listens
// on fails with a clear error (it used to panic: start's cleanup ran on the
// nil *app that its error returns had set).
func TestFaultBrokerUnreachableAtStart(t *testing.T) {
	t.Parallel()
	_, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	env["NATS_URL"] = fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"serve"}, envFunc(env), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "connect to NATS") {
		t.Fatalf("serve with an unreachable broker: %v, want a connect error", err)
	}
}
