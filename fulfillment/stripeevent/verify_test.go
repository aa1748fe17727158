package stripeevent_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

const (
	oldSecret = "whsec_test_secret"
	newSecret = "whsec_rolled_9f8e7d6c5b4a"
	badSecret = "whsec_attacker_guess"
	// goldenBody/goldenSig were computed independently with
	// printf '%s' '1700000000.<body>' | openssl dgst -sha256 -hmac whsec_test_secret
	goldenBody = `{"id":"evt_test","type":"checkout.session.completed"}`
	goldenSig  = "715369d9e69ebcb0b7e62a81bd79bfd0825e4a0f25a4577924dd7017a7eac01e"
	goldenUnix = 1700000000
)

var clock = time.Unix(goldenUnix, 0)

func fixedNow() time.Time { return clock }

func newVerifier(t testing.TB, secrets ...string) *stripeevent.Verifier {
	t.Helper()
	v, err := stripeevent.NewVerifier(secrets, 0, fixedNow)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestSignGolden(t *testing.T) {
	t.Parallel()
	if got := stripeevent.Signature(oldSecret, goldenUnix, []byte(goldenBody)); got != goldenSig {
		t.Errorf("Signature = %s, want %s", got, goldenSig)
	}
	want := "t=1700000000,v1=" + goldenSig
	if got := stripeevent.Sign(oldSecret, clock, []byte(goldenBody)); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	// Sub-second parts are dropped, as Stripe's timestamps are whole seconds.
	if got := stripeevent.Sign(oldSecret, clock.Add(999*time.Millisecond), []byte(goldenBody)); got != want {
		t.Errorf("Sign(+999ms) = %q, want %q", got, want)
	}
	wantAll := want + ",v1=" + stripeevent.Signature(newSecret, goldenUnix, []byte(goldenBody))
	if got := stripeevent.SignAll([]string{oldSecret, newSecret}, clock, []byte(goldenBody)); got != wantAll {
		t.Errorf("SignAll = %q, want %q", got, wantAll)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(goldenBody)
	tampered := []byte(goldenBody)
	tampered[10] ^= 1
	at := func(d time.Duration) time.Time { return clock.Add(d) }
	sigAt := func(secret string, d time.Duration) string {
		return stripeevent.Signature(secret, at(d).Unix(), body)
	}
	valid := stripeevent.Sign(oldSecret, clock, body)
	good := sigAt(oldSecret, 0)
	wrong := sigAt(badSecret, 0)
	ts := "t=" + strconv.Itoa(goldenUnix)

	tests := []struct {
		name    string
		secrets []string // verifier secrets; default {oldSecret}
		header  string
		body    []byte // default body
		want    error
	}{
		{name: "valid", header: valid},
		{name: "golden", header: "t=1700000000,v1=" + goldenSig},
		{name: "uppercase hex", header: ts + ",v1=" + strings.ToUpper(good)},
		{name: "spaces around pairs keys and values", header: " t = 1700000000 , v1 = " + good + " "},
		{name: "space after comma", header: ts + ", v1=" + good},
		{name: "trailing and doubled commas", header: ts + ",,v1=" + good + ","},
		{name: "v1 before t", header: "v1=" + good + "," + ts},
		{name: "unknown keys ignored", header: ts + ",foo=bar,v1=" + good + ",=x"},
		{name: "v0 and v1", header: ts + ",v1=" + good + ",v0=" + good},
		{name: "empty body signed", header: stripeevent.Sign(oldSecret, clock, nil), body: []byte{}},

		// Secret rotation.
		{name: "rotation: old only", secrets: []string{oldSecret, newSecret}, header: stripeevent.Sign(oldSecret, clock, body)},
		{name: "rotation: new only", secrets: []string{oldSecret, newSecret}, header: stripeevent.Sign(newSecret, clock, body)},
		{name: "rotation: both via SignAll", secrets: []string{oldSecret, newSecret}, header: stripeevent.SignAll([]string{oldSecret, newSecret}, clock, body)},
		{name: "rotation: Stripe order new then old", secrets: []string{oldSecret, newSecret}, header: stripeevent.SignAll([]string{newSecret, oldSecret}, clock, body)},
		{name: "rotation: verifier knows only new, header has both", secrets: []string{newSecret}, header: stripeevent.SignAll([]string{oldSecret, newSecret}, clock, body)},
		{name: "rotation: neither matches", secrets: []string{oldSecret, newSecret}, header: stripeevent.Sign(badSecret, clock, body), want: stripeevent.ErrNoValidSignature},

		// Signature failures.
		{name: "wrong secret", header: stripeevent.Sign(badSecret, clock, body), want: stripeevent.ErrNoValidSignature},
		{name: "tampered body one bit", header: valid, body: tampered, want: stripeevent.ErrNoValidSignature},
		{name: "body with trailing newline", header: valid, body: append([]byte(goldenBody), '\n'), want: stripeevent.ErrNoValidSignature},
		{name: "signature for another t", header: "t=1700000001,v1=" + good, want: stripeevent.ErrNoValidSignature},
		{name: "multiple v1, second matches", header: ts + ",v1=" + wrong + ",v1=" + good},
		{name: "multiple v1, none matches", header: ts + ",v1=" + wrong + ",v1=" + sigAt(newSecret, 0), want: stripeevent.ErrNoValidSignature},
		{name: "v1 not hex is a non-match", header: ts + ",v1=" + strings.Repeat("zz", 32), want: stripeevent.ErrNoValidSignature},
		{name: "v1 truncated is a non-match", header: ts + ",v1=" + good[:62], want: stripeevent.ErrNoValidSignature},
		{name: "v1 too long is a non-match", header: ts + ",v1=" + good + "00", want: stripeevent.ErrNoValidSignature},
		{name: "v1 empty is a non-match", header: ts + ",v1=", want: stripeevent.ErrNoValidSignature},
		{name: "garbled v1 then good v1", header: ts + ",v1=nothex,v1=" + good},
		{name: "v1 key case matters", header: ts + ",V1=" + good, want: stripeevent.ErrMalformedHeader},

		// Timestamp, checked after the signature.
		{name: "stale now-301s", header: stripeevent.Sign(oldSecret, at(-301*time.Second), body), want: stripeevent.ErrTooOld},
		{name: "future now+301s", header: stripeevent.Sign(oldSecret, at(301*time.Second), body), want: stripeevent.ErrTooNew},
		{name: "edge now-300s", header: stripeevent.Sign(oldSecret, at(-300*time.Second), body)},
		{name: "edge now+300s", header: stripeevent.Sign(oldSecret, at(300*time.Second), body)},
		{name: "t=0 signed", header: stripeevent.Sign(oldSecret, time.Unix(0, 0), body), want: stripeevent.ErrTooOld},
		{name: "t far future signed", header: "t=9223372036854775807,v1=" + stripeevent.Signature(oldSecret, 9223372036854775807, body), want: stripeevent.ErrTooNew},
		{name: "stale and forged gets no-signature", header: "t=1600000000,v1=" + wrong, want: stripeevent.ErrNoValidSignature},
		{name: "future and forged gets no-signature", header: "t=1800000000,v1=" + wrong, want: stripeevent.ErrNoValidSignature},

		// Header shape.
		{name: "missing header", header: "", want: stripeevent.ErrMissingHeader},
		{name: "only spaces", header: "   ", want: stripeevent.ErrMalformedHeader},
		{name: "only commas", header: ",,,,", want: stripeevent.ErrMalformedHeader},
		{name: "no t", header: "v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t not a number", header: "t=abc,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t with trailing letters", header: "t=1700000000s,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t negative", header: "t=-1,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t with plus sign", header: "t=+1700000000,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t fractional", header: "t=1700000000.5,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t overflows int64", header: "t=9223372036854775808,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t twenty digits", header: "t=01700000000000000000,v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t twice", header: ts + "," + ts + ",v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "no v1", header: ts, want: stripeevent.ErrMalformedHeader},
		{name: "v0 only", header: ts + ",v0=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "t= and v1= empty", header: "t=,v1=", want: stripeevent.ErrMalformedHeader},
		{name: "pair without equals", header: ts + ",v1=" + good + ",garbage", want: stripeevent.ErrMalformedHeader},
		{name: "semicolon separated", header: ts + ";v1=" + good, want: stripeevent.ErrMalformedHeader},
		{name: "huge header", header: valid + strings.Repeat(",v0=x", stripeevent.MaxHeaderBytes/5), want: stripeevent.ErrMalformedHeader},
		{name: "header at the size limit", header: valid + "," + strings.Repeat(" ", stripeevent.MaxHeaderBytes-len(valid)-1)},
		{name: "header one byte over the limit", header: valid + "," + strings.Repeat(" ", stripeevent.MaxHeaderBytes-len(valid)), want: stripeevent.ErrMalformedHeader},
		{name: "many v1 within limit, last matches", header: ts + strings.Repeat(",v1="+wrong, 100) + ",v1=" + good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secrets := tt.secrets
			if secrets == nil {
				secrets = []string{oldSecret}
			}
			b := tt.body
			if b == nil {
				b = body
			}
			err := newVerifier(t, secrets...).Verify(tt.header, b)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify(%.80q) = %v, want %v", tt.header, err, tt.want)
			}
			if err != nil {
				for _, s := range append(secrets, badSecret) {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q leaks a secret", err)
					}
				}
			}
		})
	}
}

func TestVerifyCustomToleranceAndClock(t *testing.T) {
	t.Parallel()
	body := []byte(goldenBody)
	v, err := stripeevent.NewVerifier([]string{oldSecret}, 10*time.Second, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		offset time.Duration
		want   error
	}{
		{-11 * time.Second, stripeevent.ErrTooOld},
		{-10 * time.Second, nil},
		{10 * time.Second, nil},
		{11 * time.Second, stripeevent.ErrTooNew},
	} {
		if err := v.Verify(stripeevent.Sign(oldSecret, clock.Add(tt.offset), body), body); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("offset %s: Verify = %v, want %v", tt.offset, err, tt.want)
		}
	}

	// A nil clock means the wall clock.
	wall, err := stripeevent.NewVerifier([]string{oldSecret}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wall.Verify(stripeevent.Sign(oldSecret, time.Now(), body), body); err != nil {
		t.Errorf("wall clock, fresh header: %v", err)
	}
	if err := wall.Verify(stripeevent.Sign(oldSecret, time.Now().Add(-time.Hour), body), body); !errors.Is(err, stripeevent.ErrTooOld) {
		t.Errorf("wall clock, hour-old header: %v, want ErrTooOld", err)
	}
}

// TestVerifySignature: the queue-side check ignores the signature's age,
// and nothing else: a forged or altered event still fails.
func TestVerifySignature(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, oldSecret, newSecret)
	body := []byte(goldenBody)
	for _, tt := range []struct {
		name   string
		header string
		body   []byte
		want   error
	}{
		{"signed a week ago", stripeevent.Sign(newSecret, clock.Add(-7*24*time.Hour), body), body, nil},
		{"signed in the future", stripeevent.Sign(oldSecret, clock.Add(time.Hour), body), body, nil},
		{"golden", "t=" + strconv.Itoa(goldenUnix) + ",v1=" + goldenSig, body, nil},
		{"wrong secret", stripeevent.Sign(badSecret, clock, body), body, stripeevent.ErrNoValidSignature},
		{"altered body", stripeevent.Sign(oldSecret, clock, body), []byte(strings.Replace(goldenBody, "evt_test", "evt_tesT", 1)), stripeevent.ErrNoValidSignature},
		{"missing", "", body, stripeevent.ErrMissingHeader},
		{"no v1", "t=1700000000,v0=" + goldenSig, body, stripeevent.ErrMalformedHeader},
	} {
		err := v.VerifySignature(tt.header, tt.body)
		if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
			t.Errorf("%s: VerifySignature = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := v.Verify(stripeevent.Sign(newSecret, clock.Add(-7*24*time.Hour), body), body); !errors.Is(err, stripeevent.ErrTooOld) {
		t.Errorf("Verify of a week-old signature = %v, want ErrTooOld", err)
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		secrets   []string
		tolerance time.Duration
		wantErr   bool
	}{
		{name: "one secret", secrets: []string{oldSecret}},
		{name: "two secrets", secrets: []string{oldSecret, newSecret}},
		{name: "duplicates are fine", secrets: []string{oldSecret, oldSecret}},
		{name: "custom tolerance", secrets: []string{oldSecret}, tolerance: time.Minute},
		{name: "nil secrets", secrets: nil, wantErr: true},
		{name: "no secrets", secrets: []string{}, wantErr: true},
		{name: "empty secret", secrets: []string{""}, wantErr: true},
		{name: "empty among good", secrets: []string{oldSecret, ""}, wantErr: true},
		{name: "no whsec_ prefix", secrets: []string{"sk_test_123"}, wantErr: true},
		{name: "prefix case", secrets: []string{"WHSEC_abc"}, wantErr: true},
		{name: "prefix only", secrets: []string{"whsec_"}, wantErr: true},
		{name: "trailing newline", secrets: []string{oldSecret + "\n"}, wantErr: true},
		{name: "leading space", secrets: []string{" " + oldSecret}, wantErr: true},
		{name: "unsplit list", secrets: []string{oldSecret + "," + newSecret}, wantErr: true},
		{name: "negative tolerance", secrets: []string{oldSecret}, tolerance: -time.Second, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := stripeevent.NewVerifier(tt.secrets, tt.tolerance, fixedNow)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewVerifier err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if v != nil {
					t.Error("non-nil Verifier with an error")
				}
				for _, s := range tt.secrets {
					if len(s) > len("whsec_") && strings.Contains(err.Error(), strings.TrimSpace(s)) {
						t.Errorf("error %q leaks a secret", err)
					}
				}
				return
			}
			body := []byte(goldenBody)
			for _, s := range tt.secrets {
				if err := v.Verify(stripeevent.Sign(s, clock, body), body); err != nil {
					t.Errorf("Verify with configured secret: %v", err)
				}
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "whsec_a", want: []string{"whsec_a"}},
		{in: "whsec_a,whsec_b", want: []string{"whsec_a", "whsec_b"}},
		{in: " whsec_a , whsec_b ", want: []string{"whsec_a", "whsec_b"}},
		{in: "whsec_a,\n\twhsec_b\n", want: []string{"whsec_a", "whsec_b"}},
		{in: "sk_test_x", want: []string{"sk_test_x"}}, // shape is NewVerifier's job
		{in: "", wantErr: true},
		{in: "   ", wantErr: true},
		{in: ",", wantErr: true},
		{in: "whsec_a,", wantErr: true},
		{in: ",whsec_a", wantErr: true},
		{in: "whsec_a,,whsec_b", wantErr: true},
		{in: "whsec_a, ,whsec_b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			got, err := stripeevent.ParseSecrets(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSecrets err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, stripeevent.ErrInvalidSecret) {
					t.Errorf("err %v does not wrap ErrInvalidSecret", err)
				}
				return
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("ParseSecrets = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStripeGoInterop proves we sign and verify exactly like stripe-go v76.
// stripe-go checks the age against the wall clock, so headers it verifies are
// signed at time.Now().
func TestStripeGoInterop(t *testing.T) {
	t.Parallel()
	body := []byte(goldenBody)

	t.Run("stripe-go header verifies with ours", func(t *testing.T) {
		t.Parallel()
		p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{
			Payload: body, Secret: newSecret, Timestamp: clock,
		})
		if err := newVerifier(t, oldSecret, newSecret).Verify(p.Header, body); err != nil {
			t.Errorf("Verify(%q) = %v", p.Header, err)
		}
		if err := newVerifier(t, oldSecret).Verify(p.Header, body); !errors.Is(err, stripeevent.ErrNoValidSignature) {
			t.Errorf("Verify with other secret = %v, want ErrNoValidSignature", err)
		}
		if got := stripeevent.Sign(newSecret, clock, body); got != p.Header {
			t.Errorf("Sign = %q, stripe-go = %q", got, p.Header)
		}
	})

	t.Run("our header verifies with stripe-go", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		h := stripeevent.Sign(oldSecret, now, body)
		if err := stripewebhook.ValidatePayloadWithTolerance(body, h, oldSecret, stripewebhook.DefaultTolerance); err != nil {
			t.Errorf("stripe-go rejects %q: %v", h, err)
		}
		if err := stripewebhook.ValidatePayloadWithTolerance(body, h, badSecret, stripewebhook.DefaultTolerance); !errors.Is(err, stripewebhook.ErrNoValidSignature) {
			t.Errorf("stripe-go with wrong secret = %v, want its ErrNoValidSignature", err)
		}
		// A rolled-secret header works with either secret, one at a time.
		all := stripeevent.SignAll([]string{oldSecret, newSecret}, now, body)
		for _, s := range []string{oldSecret, newSecret} {
			if err := stripewebhook.ValidatePayloadWithTolerance(body, all, s, stripewebhook.DefaultTolerance); err != nil {
				t.Errorf("stripe-go rejects SignAll header with one secret: %v", err)
			}
		}
	})

	t.Run("signature bytes match ComputeSignature", func(t *testing.T) {
		t.Parallel()
		want := fmt.Sprintf("%x", stripewebhook.ComputeSignature(clock, body, oldSecret))
		if got := stripeevent.Signature(oldSecret, clock.Unix(), body); got != want {
			t.Errorf("Signature = %s, stripe-go = %s", got, want)
		}
	})
}

// TestVerifyConcurrent shares one Verifier between goroutines (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, oldSecret, newSecret)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
				secret := []string{oldSecret, newSecret}[i%2]
				if err := v.Verify(stripeevent.Sign(secret, clock, body), body); err != nil {
					errs <- err
					return
				}
				if err := v.Verify(stripeevent.Sign(secret, clock, body), append(body, ' ')); !errors.Is(err, stripeevent.ErrNoValidSignature) {
					errs <- fmt.Errorf("tampered body: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	body := []byte(strings.Repeat("x", 4096))
	v := newVerifier(t, oldSecret, newSecret)
	header := stripeevent.SignAll([]string{badSecret, newSecret}, clock, body)
	if err := v.Verify(header, body); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = v.Verify(header, body) }); n > 0 {
		t.Errorf("Verify allocates %.1f times per call, want 0", n)
	}
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(strings.Repeat(`{"object":"event","data":{"id":"cs_test"}}`, 4096/42+1)[:4096])
	for _, bc := range []struct {
		name    string
		secrets []string
		header  string
		want    error
	}{
		{"1secret", []string{oldSecret}, stripeevent.Sign(oldSecret, clock, body), nil},
		// Worst valid case during a roll: the first secret matches nothing.
		{"2secrets_second_matches", []string{oldSecret, newSecret}, stripeevent.SignAll([]string{badSecret, newSecret}, clock, body), nil},
		// A forgery costs the same as a valid request, plus the error value.
		{"forged", []string{oldSecret}, stripeevent.Sign(badSecret, clock, body), stripeevent.ErrNoValidSignature},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := newVerifier(b, bc.secrets...)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(bc.header, body); !errors.Is(err, bc.want) || (bc.want == nil) != (err == nil) {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	body := []byte(strings.Repeat("x", 4096))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = stripeevent.Sign(oldSecret, clock, body)
	}
}

func ExampleVerifier_Verify() {
	secrets, _ := stripeevent.ParseSecrets("whsec_old, whsec_new")
	v, _ := stripeevent.NewVerifier(secrets, 0, func() time.Time { return time.Unix(1700000000, 0) })
	body := []byte(`{"id":"evt_1"}`)

	header := stripeevent.Sign("whsec_new", time.Unix(1700000000, 0), body)
	fmt.Println(header[:13], v.Verify(header, body))

	err := v.Verify(stripeevent.Sign("whsec_new", time.Unix(1699999000, 0), body), body)
	fmt.Println(errors.Is(err, stripeevent.ErrTooOld))
	// Output:
	// t=1700000000, <nil>
	// true
}
