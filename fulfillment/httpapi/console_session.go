package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Session cookie: a signed, HttpOnly, SameSite=Strict cookie holding who
// signed in (the admin token's name; "" before signing in), a random
// session id (what CSRF tokens are derived from) and when it was last used.
// It expires after ConsoleIdleTimeout without a request.
const (
	cookieName = "fulfillmentd_console"
	// ConsoleIdleTimeout is how long a session lasts without a request.
	ConsoleIdleTimeout = 12 * time.Hour
	// refreshAfter is how old the last-seen mark gets before a response
	// renews it (so not every request sets the cookie again).
	refreshAfter = time.Minute
)

// session is the cookie's content.
type session struct {
	Admin    string `json:"a"` // "": not signed in (the sign-in form's session)
	ID       string `json:"i"`
	LastSeen int64  `json:"l"` // Unix seconds
}

func newSession(admin string, now time.Time) session {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return session{Admin: admin, ID: hex.EncodeToString(b), LastSeen: now.Unix()}
}

// sessions signs and reads session cookies with key.
type sessions struct {
	key []byte
}

func (s sessions) mac(purpose string, data []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

func (s sessions) encode(ss session) string {
	body, _ := json.Marshal(ss) // a struct of strings and an int
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(s.mac("session", body))
}

// read returns the request's session, if it has a valid one that has not
// been idle for ConsoleIdleTimeout.
func (s sessions) read(r *http.Request, now time.Time) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	b64, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(b64)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac("session", body)) {
		return session{}, false
	}
	var ss session
	if json.Unmarshal(body, &ss) != nil || ss.ID == "" {
		return session{}, false
	}
	last := time.Unix(ss.LastSeen, 0)
	if now.Sub(last) >= ConsoleIdleTimeout || last.After(now.Add(time.Minute)) {
		return session{}, false
	}
	return ss, true
}

// set writes ss as the response's cookie: Secure when the request came
// over TLS (or through a proxy that says so).
func (s sessions) set(w http.ResponseWriter, r *http.Request, ss session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.encode(ss), Path: "/console/",
		MaxAge: int(ConsoleIdleTimeout / time.Second), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// clear drops the cookie.
func (s sessions) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// csrf is the CSRF token of a session: forms carry it, state-changing
// requests must send it back.
func (s sessions) csrf(ss session) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", []byte(ss.ID)))
}

// checkCSRF reports whether the form's csrf field is ss's token.
func (s sessions) checkCSRF(r *http.Request, ss session) bool {
	got := r.PostFormValue("csrf")
	want := s.csrf(ss)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
