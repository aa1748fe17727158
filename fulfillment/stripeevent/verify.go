// Package stripeevent is Stripe's event wire format: it verifies and
// produces Stripe-Signature headers and parses event envelopes.
//
// Stripe signs every webhook delivery with
//
//	Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex>...][,v0=...]
//
// where each v1 is HMAC-SHA256(key = endpoint secret, msg = "<t>.<raw body>").
// The key is the whole secret string as shown in the Dashboard or printed by
// `stripe listen`, "whsec_" prefix included (stripe-go uses []byte(secret)).
// While a secret is being rolled Stripe sends one v1 per active secret, so a
// Verifier accepts a list of secrets and a header that matches any of them.
//
// Verify checks, in this order:
//
//  1. the header is present and well formed (ErrMissingHeader,
//     ErrMalformedHeader);
//  2. some v1 equals the HMAC under some configured secret, compared in
//     constant time (ErrNoValidSignature);
//  3. the signed timestamp is within the tolerance of the clock, both ways
//     (ErrTooOld, ErrTooNew).
//
// The signature is checked before the timestamp, as Stripe's documentation
// and its Node, Python and Ruby libraries do (stripe-go v76 checks the age
// first). The timestamp is only meaningful once it is known to be signed: a
// forged request always gets ErrNoValidSignature, whatever t it carries, and
// ErrTooOld / ErrTooNew are reserved for authentic deliveries, i.e. replays
// or clock skew, which is worth telling apart in logs. Checking the
// signature of a stale request costs one HMAC of a body the caller has
// already capped at MaxBodyBytes.
//
// Unlike stripe-go v76, which only rejects old timestamps, Verify also rejects
// timestamps further than the tolerance in the future: Stripe never sends
// them, and accepting them would extend the replay window of a captured
// request.
package stripeevent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultTolerance is the largest accepted distance between the signed
	// timestamp and the clock, the same default as Stripe's libraries.
	DefaultTolerance = 300 * time.Second

	// MaxBodyBytes is the body size cap of Stripe's Go sample. The HTTP
	// handler should enforce it (http.MaxBytesReader) before calling Verify;
	// Verify itself accepts any length.
	MaxBodyBytes = 65536

	// MaxHeaderBytes bounds the Stripe-Signature header Verify will parse.
	// A real header is about 80 bytes per signature; longer ones are
	// rejected as malformed before any HMAC is computed.
	MaxHeaderBytes = 8192
)

// Verification errors. Errors returned by Verify wrap exactly one of these
// (test with errors.Is) and add a short detail that never contains a secret.
var (
	ErrMissingHeader    = errors.New("missing Stripe-Signature header")
	ErrMalformedHeader  = errors.New("malformed Stripe-Signature header")
	ErrNoValidSignature = errors.New("no signature matches any configured secret")
	ErrTooOld           = errors.New("timestamp outside tolerance (too old)")
	ErrTooNew           = errors.New("timestamp outside tolerance (in the future)")
)

// ErrInvalidSecret is wrapped by the errors of NewVerifier and ParseSecrets
// about the secrets they are given.
var ErrInvalidSecret = errors.New("invalid webhook signing secret")

const (
	secretPrefix = "whsec_"
	scheme       = "v1"
	sigHexLen    = 2 * sha256.Size
	// maxUnix keeps time.Unix(t, 0) far from int64 overflow (year ~36,800).
	maxUnix = 1 << 40
)

// Verifier checks Stripe-Signature headers against one or more endpoint
// secrets. It is safe for concurrent use; create it once with NewVerifier.
type Verifier struct {
	secrets   []*secretKey
	tolerance time.Duration
	now       func() time.Time
}

// secretKey holds a pool of HMAC states keyed with one secret, so that Verify
// neither rebuilds the HMAC key schedule nor allocates on the hot path.
type secretKey struct {
	pool sync.Pool // of *macState
}

type macState struct {
	mac hash.Hash
	buf [sha256.Size]byte // "<t>." prefix, then the sum
}

func newSecretKey(secret string) *secretKey {
	key := []byte(secret)
	k := &secretKey{}
	k.pool.New = func() any { return &macState{mac: hmac.New(sha256.New, key)} }
	return k
}

// NewVerifier returns a Verifier accepting signatures made with any of
// secrets. Every secret must be non-empty, start with "whsec_", have
// something after the prefix and contain no whitespace or comma (the usual
// copy-paste accidents); duplicates are ignored. A tolerance of 0 means
// DefaultTolerance; a negative one is an error. A nil now means time.Now.
func NewVerifier(secrets []string, tolerance time.Duration, now func() time.Time) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret configured", ErrInvalidSecret)
	}
	if tolerance < 0 {
		return nil, fmt.Errorf("webhook tolerance %s is negative", tolerance)
	}
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{tolerance: tolerance, now: now}
	seen := make(map[string]bool, len(secrets))
	for i, s := range secrets {
		if err := checkSecret(s); err != nil {
			return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(secrets), err)
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		v.secrets = append(v.secrets, newSecretKey(s))
	}
	return v, nil
}

// checkSecret validates the shape of a secret without ever echoing it.
func checkSecret(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalidSecret)
	case strings.ContainsAny(s, " \t\r\n\v\f,"):
		return fmt.Errorf("%w: contains whitespace or a comma", ErrInvalidSecret)
	case !strings.HasPrefix(s, secretPrefix):
		return fmt.Errorf("%w: does not start with %q", ErrInvalidSecret, secretPrefix)
	case len(s) == len(secretPrefix):
		return fmt.Errorf("%w: nothing after %q", ErrInvalidSecret, secretPrefix)
	}
	return nil
}

// ParseSecrets splits a comma-separated list of secrets, as found in an
// environment variable ("whsec_old, whsec_new"), trimming spaces around each.
// An empty list or an empty entry is an error. The secrets themselves are
// validated by NewVerifier.
func ParseSecrets(commaSeparated string) ([]string, error) {
	if strings.TrimSpace(commaSeparated) == "" {
		return nil, fmt.Errorf("%w: no secret in list", ErrInvalidSecret)
	}
	parts := strings.Split(commaSeparated, ",")
	secrets := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("%w: entry %d of %d is empty", ErrInvalidSecret, i+1, len(parts))
		}
		secrets = append(secrets, p)
	}
	return secrets, nil
}

// Verify checks header (the Stripe-Signature value) against the raw request
// body, exactly as received, before any decoding. It returns nil or an error
// wrapping one of ErrMissingHeader, ErrMalformedHeader, ErrNoValidSignature,
// ErrTooOld, ErrTooNew.
//
// Header grammar: comma-separated key=value pairs; spaces around pairs, keys
// and values are ignored, as are empty pairs and unknown keys (v0, ...). The
// header is malformed if it is longer than MaxHeaderBytes, has a non-empty
// pair without '=', has no t or more than one, has a t that is not 1 to 19
// ASCII digits (no sign), or has no v1 key at all. A v1 value that is not 64
// hex digits (either case) cannot be an HMAC-SHA256: it is a non-match, not
// a malformed header, like stripe-go does.
//
// Each configured secret's HMAC is computed once and compared in constant
// time with every v1 in the header.
func (v *Verifier) Verify(header string, body []byte) error {
	h, err := v.verifySignature(header, body)
	if err != nil {
		return err
	}
	now := v.now()
	if h.t > maxUnix {
		return fmt.Errorf("%w: t=%d", ErrTooNew, h.t)
	}
	age := now.Sub(time.Unix(h.t, 0))
	switch {
	case age > v.tolerance:
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrTooOld, age, v.tolerance)
	case age < -v.tolerance:
		return fmt.Errorf("%w: signed %s ahead, tolerance %s", ErrTooNew, -age, v.tolerance)
	}
	return nil
}

// VerifySignature is Verify without the timestamp check: header is well
// formed and some v1 is the HMAC of body under some configured secret,
// however long ago it was signed. It is for events that waited in a queue
// after the receiver verified them (the worker checks them again before they
// may change an order); a request from the network needs Verify.
func (v *Verifier) VerifySignature(header string, body []byte) error {
	_, err := v.verifySignature(header, body)
	return err
}

func (v *Verifier) verifySignature(header string, body []byte) (parsedHeader, error) {
	h, err := parseHeader(header)
	if err != nil {
		return h, err
	}
	if !v.signed(h, body) {
		return h, fmt.Errorf("%w (%d v1 signature(s), %d secret(s))", ErrNoValidSignature, h.v1s, len(v.secrets))
	}
	return h, nil
}

// signed reports whether some v1 of h is the HMAC of body under some secret.
func (v *Verifier) signed(h parsedHeader, body []byte) bool {
	for _, k := range v.secrets {
		st := k.pool.Get().(*macState)
		st.mac.Reset()
		st.mac.Write(append(strconv.AppendInt(st.buf[:0], h.t, 10), '.'))
		st.mac.Write(body)
		want := st.mac.Sum(st.buf[:0])
		ok := false
		for rest := h.raw; rest != "" && !ok; {
			var key, val string
			key, val, rest = nextPair(rest)
			if key != scheme {
				continue
			}
			var got [sha256.Size]byte
			if decodeSig(&got, val) && hmac.Equal(got[:], want) {
				ok = true
			}
		}
		k.pool.Put(st)
		if ok {
			return true
		}
	}
	return false
}

type parsedHeader struct {
	raw string // the whole header, re-scanned for v1 values
	t   int64
	v1s int
}

func parseHeader(header string) (parsedHeader, error) {
	h := parsedHeader{raw: header}
	if header == "" {
		return h, ErrMissingHeader
	}
	if len(header) > MaxHeaderBytes {
		return h, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedHeader, len(header), MaxHeaderBytes)
	}
	seenT := false
	for rest := header; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return h, fmt.Errorf("%w: pair without '='", ErrMalformedHeader)
		}
		switch strings.TrimSpace(key) {
		case "t":
			if seenT {
				return h, fmt.Errorf("%w: more than one t", ErrMalformedHeader)
			}
			seenT = true
			t, ok := parseUnix(strings.TrimSpace(val))
			if !ok {
				return h, fmt.Errorf("%w: t is not a unix timestamp", ErrMalformedHeader)
			}
			h.t = t
		case scheme:
			h.v1s++
		}
	}
	if !seenT {
		return h, fmt.Errorf("%w: no t", ErrMalformedHeader)
	}
	if h.v1s == 0 {
		return h, fmt.Errorf("%w: no v1 signature", ErrMalformedHeader)
	}
	return h, nil
}

// nextPair returns the trimmed key and value of the first pair of s and what
// follows it. Only used on headers parseHeader accepted.
func nextPair(s string) (key, val, rest string) {
	item, rest, _ := strings.Cut(s, ",")
	key, val, _ = strings.Cut(item, "=")
	return strings.TrimSpace(key), strings.TrimSpace(val), rest
}

// parseUnix accepts 1 to 19 ASCII digits that fit an int64.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	t, err := strconv.ParseInt(s, 10, 64)
	return t, err == nil
}

// decodeSig decodes 64 hex digits into dst without allocating.
func decodeSig(dst *[sha256.Size]byte, s string) bool {
	if len(s) != sigHexLen {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Signature returns the lowercase hex HMAC-SHA256 of "<t>.<body>" keyed with
// secret as given: the v1 value Stripe sends.
func Signature(secret string, t int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(append(strconv.AppendInt(nil, t, 10), '.'))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign returns a Stripe-Signature header for body signed with secret at t,
// "t=<unix>,v1=<hex>", in the format Stripe sends. For tests, the demo and
// load generation.
func Sign(secret string, t time.Time, body []byte) string {
	return SignAll([]string{secret}, t, body)
}

// SignAll returns the header Stripe sends while a secret is being rolled:
// "t=<unix>,v1=<hex>,v1=<hex>...", one v1 per secret, in order. With no
// secrets the result has no v1 and does not verify.
func SignAll(secrets []string, t time.Time, body []byte) string {
	unix := t.Unix()
	var b strings.Builder
	b.Grow(24 + len(secrets)*(4+sigHexLen))
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(unix, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(Signature(s, unix, body))
	}
	return b.String()
}
