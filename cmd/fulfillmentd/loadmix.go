package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

// reorderWindow is how far (in sessions) an async payment event may follow
// its session's completed event, and a duplicate its original; with
// --reorder each run of this many consecutive deliveries is shuffled.
const reorderWindow = 64

// Large sessions have this many line items, drawn uniformly.
const largeMin, largeMax = 101, 250

// story is how a load session's payment goes.
type story int

const (
	storyPaid        story = iota // completed, paid by card
	storyFree                     // completed, no_payment_required
	storyPending                  // completed unpaid, never settles
	storyDelayedOK                // completed unpaid, then async_payment_succeeded
	storyDelayedFail              // completed unpaid, then async_payment_failed
)

// want is the status the session's order must end in.
func (s story) want() fulfillment.Status {
	switch s {
	case storyPending:
		return fulfillment.StatusAwaitingPayment
	case storyDelayedFail:
		return fulfillment.StatusCanceled
	}
	return fulfillment.StatusReadyToShip
}

// mixOptions are the shares of payment stories and delivery quirks.
type mixOptions struct {
	free, pending, delayed, delayedFail float64 // shares of sessions (delayedFail: of the delayed)
	large                               float64 // share of sessions with 101–250 lines
	duplicates                          float64 // share of events delivered twice
	reorder                             bool
	seed                                uint64
}

func (m mixOptions) check() error {
	for _, p := range []float64{m.free, m.pending, m.delayed, m.delayedFail, m.large, m.duplicates} {
		if p < 0 || p > 1 {
			return fmt.Errorf("shares must be within [0, 1], got %g", p)
		}
	}
	if m.free+m.pending+m.delayed > 1 {
		return fmt.Errorf("--free + --pending + --delayed is %g, more than 1", m.free+m.pending+m.delayed)
	}
	return nil
}

// loadSession is one generated Checkout Session.
type loadSession struct {
	id    string
	lines int
	story story
}

// loadEvent is one event Stripe sends; a duplicate delivery shares it.
type loadEvent struct {
	id, typ string
	session int

	once sync.Once
	body []byte
	err  error
}

// loadPlan is a load run's sessions and the order their events are
// delivered in.
type loadPlan struct {
	sessions   []loadSession
	deliveries []*loadEvent // in sending order; a duplicated event appears twice
	events     int          // distinct events
}

// share is round(p × n): the mix is exact, not drawn per session.
func share(p float64, n int) int { return int(math.Round(p * float64(n))) }

// planLoad draws the sessions' stories and line counts and the delivery
// order. Every session gets a checkout.session.completed, in session
// order; a delayed one also its async event, among the deliveries of the
// next reorderWindow sessions; a duplicate follows its original as far. The
// same seed gives the same plan.
func planLoad(n, items int, m mixOptions, run string) loadPlan {
	rng := rand.New(rand.NewPCG(m.seed, m.seed^0x5851f42d4c957f2d))
	p := loadPlan{sessions: make([]loadSession, n)}
	stories := make([]story, 0, n)
	delayed := share(m.delayed, n)
	failed := share(m.delayedFail, delayed)
	for _, c := range []struct {
		s     story
		count int
	}{{storyFree, share(m.free, n)}, {storyPending, share(m.pending, n)}, {storyDelayedOK, delayed - failed}, {storyDelayedFail, failed}} {
		for range c.count {
			stories = append(stories, c.s)
		}
	}
	for len(stories) < n {
		stories = append(stories, storyPaid)
	}
	rng.Shuffle(n, func(i, j int) { stories[i], stories[j] = stories[j], stories[i] })
	large := rng.Perm(n)[:share(m.large, n)]
	for i := range p.sessions {
		p.sessions[i] = loadSession{id: fmt.Sprintf("cs_load_%s_%06d", run, i), lines: items, story: stories[i]}
	}
	for _, i := range large {
		p.sessions[i].lines = largeMin + rng.IntN(largeMax-largeMin+1)
	}

	type keyed struct {
		key float64
		ev  *loadEvent
	}
	var seq []keyed
	for i, s := range p.sessions {
		seq = append(seq, keyed{float64(i), &loadEvent{id: fmt.Sprintf("evt_load_%s_%06d", run, i), typ: fulfillment.EventSessionCompleted, session: i}})
		typ := ""
		switch s.story {
		case storyDelayedOK:
			typ = fulfillment.EventSessionAsyncPaymentSucceed
		case storyDelayedFail:
			typ = fulfillment.EventSessionAsyncPaymentFailed
		}
		if typ != "" {
			seq = append(seq, keyed{float64(i) + 1 + rng.Float64()*reorderWindow, &loadEvent{id: fmt.Sprintf("evt_load_%s_%06d_async", run, i), typ: typ, session: i}})
		}
	}
	p.events = len(seq)
	for _, j := range rng.Perm(p.events)[:share(m.duplicates, p.events)] {
		seq = append(seq, keyed{seq[j].key + rng.Float64()*reorderWindow, seq[j].ev})
	}
	slices.SortStableFunc(seq, func(a, b keyed) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	p.deliveries = make([]*loadEvent, len(seq))
	for i, k := range seq {
		p.deliveries[i] = k.ev
	}
	if m.reorder {
		for lo := 0; lo < len(p.deliveries); lo += reorderWindow {
			w := p.deliveries[lo:min(lo+reorderWindow, len(p.deliveries))]
			rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
		}
	}
	return p
}

// seed stores the plan's sessions in the emulator and builds every
// completed event (each carries the session as it is now: unpaid for the
// delayed ones).
func (p *loadPlan) seed(emu *stripeemu.Emulator) error {
	for _, s := range p.sessions {
		if err := emu.GenerateSession(s.id, s.lines, s.story == storyPaid || s.story == storyFree); err != nil {
			return err
		}
		if s.story == storyFree {
			if err := emu.SetPaymentStatus(s.id, "no_payment_required"); err != nil {
				return err
			}
		}
	}
	for _, ev := range p.deliveries {
		if ev.typ == fulfillment.EventSessionCompleted {
			if _, err := p.body(emu, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// body is the event's payload, built once. An async_payment_succeeded is
// built right before its first delivery, after the session is marked paid
// in the emulator, as Stripe settles the payment and then tells.
func (p *loadPlan) body(emu *stripeemu.Emulator, ev *loadEvent) ([]byte, error) {
	ev.once.Do(func() {
		s := p.sessions[ev.session]
		if ev.typ == fulfillment.EventSessionAsyncPaymentSucceed {
			if ev.err = emu.SetPaymentStatus(s.id, "paid"); ev.err != nil {
				return
			}
		}
		ev.body, ev.err = emu.Event(ev.id, ev.typ, s.id, time.Time{})
	})
	return ev.body, ev.err
}

// mixCounts is what the plan holds, for the report.
type mixCounts struct {
	byStory             [storyDelayedFail + 1]int
	large, largePages   int // large sessions, and line-item pages beyond one per session
	minCalls            int // Σ ⌈lines ÷ 100⌉: the fewest Stripe calls that can read every order
	completed, async    int
	duplicateDeliveries int
}

func (p *loadPlan) counts() mixCounts {
	var c mixCounts
	for _, s := range p.sessions {
		c.byStory[s.story]++
		pages := (s.lines + 99) / 100
		c.minCalls += pages
		if s.lines > 100 {
			c.large++
			c.largePages += pages - 1
		}
	}
	c.completed, c.async = len(p.sessions), p.events-len(p.sessions)
	c.duplicateDeliveries = len(p.deliveries) - p.events
	return c
}

// sessionState is what the feed showed of one session's order.
type sessionState struct {
	orderIDs  []string // distinct order ids seen for the session (more than one: a duplicate)
	status    fulfillment.Status
	lines     int  // line items of the latest state
	dupLines  bool // a line item id repeated within the order
	reached   bool // latest state is the wanted status with every line
	firstSeen bool
}

// observe updates s with one order from the feed and reports whether it
// now is in its final state.
func (s *sessionState) observe(o fulfillment.Order, want fulfillment.Status, lines int) bool {
	s.firstSeen = true
	if !slices.Contains(s.orderIDs, o.ID) {
		s.orderIDs = append(s.orderIDs, o.ID)
	}
	s.status, s.lines = o.Status, len(o.LineItems)
	seen := make(map[string]bool, len(o.LineItems))
	s.dupLines = false
	for _, li := range o.LineItems {
		if seen[li.ID] {
			s.dupLines = true
		}
		seen[li.ID] = true
	}
	s.reached = s.status == want && s.lines == lines && !s.dupLines && len(s.orderIDs) == 1
	return s.reached
}

// verdict sums up the sessions' end states.
type verdict struct {
	final, lost, wrongStatus, missingLines, duplicated int
	wrong                                              map[string]int // "want→got": count
}

func judge(sessions []loadSession, states []sessionState) verdict {
	v := verdict{wrong: map[string]int{}}
	for i, s := range sessions {
		st := states[i]
		switch {
		case !st.firstSeen:
			v.lost++
			continue
		case len(st.orderIDs) > 1 || st.dupLines || st.lines > s.lines:
			v.duplicated++
		case st.lines < s.lines:
			v.missingLines++
		}
		if st.status != s.story.want() {
			v.wrongStatus++
			v.wrong[fmt.Sprintf("%s→%s", s.story.want(), st.status)]++
		}
		if st.reached {
			v.final++
		}
	}
	return v
}

func (v verdict) ok() bool {
	return v.lost == 0 && v.wrongStatus == 0 && v.missingLines == 0 && v.duplicated == 0
}

func (v verdict) wrongText() string {
	if len(v.wrong) == 0 {
		return ""
	}
	keys := make([]string, 0, len(v.wrong))
	for k := range v.wrong {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, v.wrong[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
