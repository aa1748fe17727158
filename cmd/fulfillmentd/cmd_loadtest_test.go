package main

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// TestLoadtest runs the load tool, small, through run: every event accepted,
// every order recorded, one Stripe call per order, no 429s.
func TestLoadtest(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	args := []string{"loadtest", "--events", "40", "--connections", "8", "--items", "3",
		"--stripe-latency", "5ms", "--stripe-rate-limit", "200", "--stripe-max-rps", "150", "--workers", "8"}
	if err := run(context.Background(), args, envFunc(nil), &stdout, &stderr); err != nil {
		t.Fatalf("loadtest: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, re := range []string{
		`\(40 of 40 deliveries accepted in `,
		`orders\s+40 final, 0 lost \(no order\), 0 wrong status, 0 missing lines, 0 duplicated\n`,
		`Stripe calls per order\s+1\.00\s+\(40 calls: 0 session reads, 40 line-item pages, 0 other; 0 answered 429 or 500, 1\.00 per order without them\)`,
		`fewest calls for this mix\s+1\.00 per order\s+\(40 calls`,
		`429s received\s+0\s`,
		`500s injected\s+0\n`,
		`drain time\s+\S+\s+floor \S+ \(40 calls ÷ 150 req/s, STRIPE_MAX_RPS\)`,
		`webhook-to-order latency\s+p50 \S+\s+p99 \S+`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", re, out)
		}
	}
	if regexp.MustCompile(`mix \(seed`).MatchString(out) {
		t.Errorf("a run without a mix prints a mix line:\n%s", out)
	}
}

// TestLoadtestMix runs the tool with every payment story, duplicates,
// reordering and Stripe faults: every session ends in its final status and
// the report's counts add up.
func TestLoadtestMix(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	args := []string{"loadtest", "--events", "40", "--connections", "8", "--items", "3",
		"--stripe-latency", "1ms", "--stripe-latency-max", "5ms", "--stripe-rate-limit", "200", "--stripe-max-rps", "150", "--workers", "8",
		"--free", "0.1", "--pending", "0.1", "--delayed", "0.25", "--delayed-fail", "0.4", "--large", "0.05",
		"--duplicates", "0.2", "--reorder", "--stripe-500", "0.1", "--stripe-lock-timeout", "0.1", "--seed", "7", "--timeout", "2m"}
	if err := run(context.Background(), args, envFunc(nil), &stdout, &stderr); err != nil {
		t.Fatalf("loadtest: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	// 40 sessions: 4 free, 4 pending, 10 delayed (6 succeed, 4 fail), 22
	// paid; 50 events (40 completed, 10 async), 10 of them twice.
	for _, re := range []string{
		`mix \(seed 7\): 22 paid, 4 free, 4 pending, 10 delayed \(6 succeed, 4 fail\), 2 large \(101–250 lines\); 60 deliveries \(40 completed, 10 async, 10 duplicates\), shuffled in runs of 64\n`,
		`results \(40 sessions, 40 orders recorded, 40 in their final status\)`,
		`\(60 of 60 deliveries accepted in `,
		`orders\s+40 final, 0 lost \(no order\), 0 wrong status, 0 missing lines, 0 duplicated\n`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", re, out)
		}
	}
	nums := func(re string) []int {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("output does not match %q:\n%s", re, out)
		}
		var ns []int
		for _, s := range m[1:] {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%q in %q: %v", s, m[0], err)
			}
			ns = append(ns, n)
		}
		return ns
	}
	c := nums(`Stripe calls per order\s+\S+\s+\((\d+) calls: (\d+) session reads, (\d+) line-item pages, (\d+) other; (\d+) answered 429 or 500, \S+ per order without them\)`)
	calls, reads, pages, other, failed := c[0], c[1], c[2], c[3], c[4]
	least := nums(`fewest calls for this mix\s+\S+ per order\s+\((\d+) calls = Σ⌈lines÷100⌉; (\d+) large sessions need (\d+) extra pages\)`)
	r := nums(`429s received\s+(\d+)\s+\(rate_limit (\d+): (\d+) over the account's limit, (\d+) injected; lock_timeout (\d+) injected\)`)
	e5 := nums(`500s injected\s+(\d+)\n`)[0]
	if reads+pages+other != calls {
		t.Errorf("%d session reads + %d line-item pages + %d other ≠ %d calls", reads, pages, other, calls)
	}
	if r[0] != r[1]+r[4] || r[1] != r[2]+r[3] {
		t.Errorf("429s do not add up: %v", r)
	}
	if failed != r[0]+e5 {
		t.Errorf("%d calls answered 429 or 500, want %d 429s + %d 500s", failed, r[0], e5)
	}
	if least[1] != 2 || least[0] != 40+least[2] || least[2] < 2 || least[2] > 4 {
		t.Errorf("fewest calls %v: want 2 large sessions of 101–250 lines, 40 calls + their extra pages", least)
	}
	if calls-failed < least[0] {
		t.Errorf("%d calls answered without a fault, fewer than the %d the mix needs", calls-failed, least[0])
	}
	if r[4]+e5 == 0 {
		t.Errorf("no faults injected at 10 %% 500s and 10 %% lock_timeouts over %d calls", calls)
	}
	nums(`drain time\s+\S+\s+floor \S+ \(` + strconv.Itoa(calls) + ` calls ÷ 150 req/s, STRIPE_MAX_RPS\)`)
}

func TestPlanLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                   string
		n                                      int
		mix                                    mixOptions
		paid, free, pending, ok, failed, large int
		async, duplicates                      int
	}{
		{"plain", 100, mixOptions{seed: 1}, 100, 0, 0, 0, 0, 0, 0, 0},
		{"issue mix", 300, mixOptions{delayed: 0.15, delayedFail: 0.5, large: 0.02, duplicates: 0.05, reorder: true, seed: 1},
			255, 0, 0, 22, 23, 6, 45, 17},
		{"every story", 200, mixOptions{free: 0.1, pending: 0.1, delayed: 0.5, delayedFail: 0.25, duplicates: 1, seed: 3},
			60, 20, 20, 75, 25, 0, 100, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := planLoad(tt.n, 3, tt.mix, "t")
			c := p.counts()
			got := []int{c.byStory[storyPaid], c.byStory[storyFree], c.byStory[storyPending], c.byStory[storyDelayedOK], c.byStory[storyDelayedFail], c.large, c.async, c.duplicateDeliveries}
			want := []int{tt.paid, tt.free, tt.pending, tt.ok, tt.failed, tt.large, tt.async, tt.duplicates}
			if !slices.Equal(got, want) {
				t.Errorf("paid, free, pending, succeed, fail, large, async, duplicates = %v, want %v", got, want)
			}
			if len(p.deliveries) != tt.n+tt.async+tt.duplicates || p.events != tt.n+tt.async {
				t.Errorf("%d deliveries of %d events, want %d of %d", len(p.deliveries), p.events, tt.n+tt.async+tt.duplicates, tt.n+tt.async)
			}
			// Each session: one completed; delayed ones one async of the
			// right type; every event at most twice, the same *loadEvent.
			times := map[*loadEvent]int{}
			completed, async := make([]int, tt.n), make([]int, tt.n)
			firstCompleted, firstAsync := make([]int, tt.n), make([]int, tt.n)
			for pos, ev := range p.deliveries {
				times[ev]++
				s := p.sessions[ev.session]
				switch ev.typ {
				case fulfillment.EventSessionCompleted:
					if times[ev] == 1 {
						completed[ev.session]++
						firstCompleted[ev.session] = pos
					}
				case fulfillment.EventSessionAsyncPaymentSucceed, fulfillment.EventSessionAsyncPaymentFailed:
					wantTyp := map[story]string{storyDelayedOK: fulfillment.EventSessionAsyncPaymentSucceed, storyDelayedFail: fulfillment.EventSessionAsyncPaymentFailed}[s.story]
					if ev.typ != wantTyp {
						t.Errorf("session %s (story %d) got %s", s.id, s.story, ev.typ)
					}
					if times[ev] == 1 {
						async[ev.session]++
						firstAsync[ev.session] = pos
					}
				default:
					t.Errorf("unexpected event type %q", ev.typ)
				}
			}
			for ev, k := range times {
				if k > 2 {
					t.Errorf("event %s delivered %d times", ev.id, k)
				}
			}
			reversed := 0
			for i, s := range p.sessions {
				wantAsync := 0
				if s.story == storyDelayedOK || s.story == storyDelayedFail {
					wantAsync = 1
					if firstAsync[i] < firstCompleted[i] {
						reversed++
					}
				}
				if completed[i] != 1 || async[i] != wantAsync {
					t.Errorf("session %s: %d completed, %d async events, want 1 and %d", s.id, completed[i], async[i], wantAsync)
				}
			}
			if !tt.mix.reorder && reversed > 0 {
				t.Errorf("%d async events before their completed without --reorder", reversed)
			}
			if again := planLoad(tt.n, 3, tt.mix, "t"); !slices.EqualFunc(p.deliveries, again.deliveries, func(a, b *loadEvent) bool { return a.id == b.id }) {
				t.Error("the same seed gave another delivery order")
			}
		})
	}
}

// TestPlanLoadReorder: --reorder puts some async events before their
// completed event, and delivers the same events.
func TestPlanLoadReorder(t *testing.T) {
	t.Parallel()
	mix := mixOptions{delayed: 0.5, delayedFail: 0.5, duplicates: 0.1, seed: 5}
	plain := planLoad(1000, 3, mix, "t")
	mix.reorder = true
	shuffled := planLoad(1000, 3, mix, "t")
	ids := func(p loadPlan) []string {
		var s []string
		for _, ev := range p.deliveries {
			s = append(s, ev.id)
		}
		return s
	}
	a, b := ids(plain), ids(shuffled)
	if slices.Equal(a, b) {
		t.Fatal("--reorder kept the delivery order")
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Fatal("--reorder changed which events are delivered")
	}
	seen := map[int]bool{}
	reversed := 0
	for _, ev := range shuffled.deliveries {
		if ev.typ != fulfillment.EventSessionCompleted && !seen[ev.session] {
			reversed++
		}
		if ev.typ == fulfillment.EventSessionCompleted {
			seen[ev.session] = true
		}
	}
	if reversed == 0 {
		t.Error("no async event came before its completed event")
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	sessions := []loadSession{{id: "cs_a", lines: 3, story: storyPaid}, {id: "cs_b", lines: 3, story: storyDelayedFail}}
	order := func(id string, st fulfillment.Status, lines ...string) fulfillment.Order {
		o := fulfillment.Order{ID: id, Status: st}
		for _, l := range lines {
			o.LineItems = append(o.LineItems, fulfillment.LineItem{ID: l})
		}
		return o
	}
	ready, canceled := fulfillment.StatusReadyToShip, fulfillment.StatusCanceled
	tests := []struct {
		name   string
		orders [][]fulfillment.Order // per session, in feed order
		want   verdict
	}{
		{"all final", [][]fulfillment.Order{{order("ord_a", ready, "1", "2", "3")}, {order("ord_b", fulfillment.StatusAwaitingPayment, "1", "2", "3"), order("ord_b", canceled, "1", "2", "3")}},
			verdict{final: 2}},
		{"lost", [][]fulfillment.Order{{order("ord_a", ready, "1", "2", "3")}, nil}, verdict{final: 1, lost: 1}},
		{"wrong status", [][]fulfillment.Order{{order("ord_a", ready, "1", "2", "3")}, {order("ord_b", ready, "1", "2", "3")}},
			verdict{final: 1, wrongStatus: 1, wrong: map[string]int{"canceled→ready_to_ship": 1}}},
		{"missing lines", [][]fulfillment.Order{{order("ord_a", ready, "1", "2")}, {order("ord_b", canceled, "1", "2", "3")}}, verdict{final: 1, missingLines: 1}},
		{"two orders", [][]fulfillment.Order{{order("ord_a", ready, "1", "2", "3"), order("ord_a2", ready, "1", "2", "3")}, {order("ord_b", canceled, "1", "2", "3")}},
			verdict{final: 1, duplicated: 1}},
		{"repeated line", [][]fulfillment.Order{{order("ord_a", ready, "1", "2", "2")}, {order("ord_b", canceled, "1", "2", "3")}}, verdict{final: 1, duplicated: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			states := make([]sessionState, len(sessions))
			for i, os := range tt.orders {
				for _, o := range os {
					states[i].observe(o, sessions[i].story.want(), sessions[i].lines)
				}
			}
			got := judge(sessions, states)
			if len(got.wrong) == 0 {
				got.wrong = nil
			}
			if got.final != tt.want.final || got.lost != tt.want.lost || got.wrongStatus != tt.want.wrongStatus ||
				got.missingLines != tt.want.missingLines || got.duplicated != tt.want.duplicated || len(got.wrong) != len(tt.want.wrong) {
				t.Errorf("judge = %+v, want %+v", got, tt.want)
			}
			for k, n := range tt.want.wrong {
				if got.wrong[k] != n {
					t.Errorf("wrong[%q] = %d, want %d", k, got.wrong[k], n)
				}
			}
			if got.ok() != (tt.want.lost+tt.want.wrongStatus+tt.want.missingLines+tt.want.duplicated == 0) {
				t.Errorf("ok() = %v for %+v", got.ok(), got)
			}
		})
	}
}
