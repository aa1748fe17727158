package stripeevent_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// FuzzVerify feeds arbitrary headers and bodies to Verify. Properties:
//   - it never panics and only returns nil or one of the sentinels;
//   - it accepts a header only if the header carries, as a v1, the real HMAC
//     of the body under a configured secret;
//   - a header made by Sign for the fuzzed body verifies, and stops verifying
//     when one byte of the body changes.
//
// Seeds live in testdata/fuzz/FuzzVerify and in the f.Add calls below.
func FuzzVerify(f *testing.F) {
	body := []byte(goldenBody)
	f.Add(stripeevent.Sign(oldSecret, clock, body), body)
	f.Add(stripeevent.SignAll([]string{newSecret, oldSecret}, clock, body), body)
	f.Add("t=1700000000,v1="+goldenSig+",v0=abc", body)
	f.Add(" t = 1700000000 , v1 = "+goldenSig, body)
	f.Add("t=1699999699,v1="+stripeevent.Signature(oldSecret, 1699999699, body), body)
	f.Add("t=,v1=", []byte{})
	f.Add(",,,", []byte("x"))
	f.Add("t=9223372036854775807,v1=00", []byte(nil))
	f.Add("v1=zz,t=-1", []byte{0xff, 0x00})

	v := newVerifier(f, oldSecret, newSecret)
	sentinels := []error{
		stripeevent.ErrMissingHeader, stripeevent.ErrMalformedHeader, stripeevent.ErrNoValidSignature,
		stripeevent.ErrTooOld, stripeevent.ErrTooNew,
	}

	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := v.Verify(header, body)
		if err != nil {
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("Verify(%q) = %v: not a sentinel", header, err)
			}
		} else if !carriesSignature(header, body) {
			t.Fatalf("Verify(%q, %q) accepted a header without a genuine v1", header, body)
		}

		signed := stripeevent.Sign(newSecret, clock, body)
		if err := v.Verify(signed, body); err != nil {
			t.Fatalf("Verify(Sign(body)) = %v", err)
		}
		if len(body) > 0 {
			tampered := append([]byte(nil), body...)
			tampered[len(tampered)/2] ^= 0x01
			if err := v.Verify(signed, tampered); !errors.Is(err, stripeevent.ErrNoValidSignature) {
				t.Fatalf("Verify(Sign(body), tampered) = %v, want ErrNoValidSignature", err)
			}
		}
	})
}

// carriesSignature is a deliberately naive re-reading of the header: some
// "v1=" value equals, ignoring case and spaces, the HMAC of "<t>.<body>" under
// a configured secret, for some t in the header.
func carriesSignature(header string, body []byte) bool {
	var ts []int64
	var sigs []string
	for _, pair := range strings.Split(header, ",") {
		k, val, _ := strings.Cut(pair, "=")
		switch strings.TrimSpace(k) {
		case "t":
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil {
				ts = append(ts, n)
			}
		case "v1":
			sigs = append(sigs, strings.ToLower(strings.TrimSpace(val)))
		}
	}
	for _, t := range ts {
		for _, s := range []string{oldSecret, newSecret} {
			want := stripeevent.Signature(s, t, body)
			for _, sig := range sigs {
				if sig == want {
					return true
				}
			}
		}
	}
	return false
}
