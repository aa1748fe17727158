package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Auth is how Connect proves who it is to an external NATS and which
// servers it trusts. Every field is a file path; empty fields are unused.
// A user and password or a token can also be given in the URL
// (nats://user:pass@host, nats://token@host), as nats.go reads them.
type Auth struct {
	Creds string // .creds file: a user JWT and its nkey seed (decentralized auth)
	NKey  string // nkey seed file (SU...): the user's public key is in the server's config
	CA    string // PEM certificates trusted for the server's certificate (TLS)
	Cert  string // client certificate, PEM (mutual TLS), with Key
	Key   string // the client certificate's private key, PEM
}

// Options checks every file of a and returns the nats.go options that use
// them, or every problem found, joined.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	var problems []error
	add := func(what string, err error) {
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", what, err))
		}
	}
	if a.Creds != "" && a.NKey != "" {
		problems = append(problems, errors.New("creds and nkey given: use one"))
	}
	if a.Creds != "" {
		err := CheckCreds(a.Creds)
		add("creds", err)
		if err == nil {
			opts = append(opts, nats.UserCredentials(a.Creds))
		}
	}
	if a.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			err = fmt.Errorf("%s: %w", a.NKey, err)
		}
		add("nkey", err)
		if err == nil {
			opts = append(opts, opt)
		}
	}
	if a.CA != "" {
		err := CheckCA(a.CA)
		add("ca", err)
		if err == nil {
			opts = append(opts, nats.RootCAs(a.CA))
		}
	}
	if a.Cert != "" || a.Key != "" {
		err := CheckClientCert(a.Cert, a.Key)
		add("client certificate", err)
		if err == nil {
			opts = append(opts, nats.ClientCert(a.Cert, a.Key))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return opts, nil
}

// CheckCreds reports whether path is a readable .creds file holding a user
// JWT and a user nkey seed.
func CheckCreds(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	token, err := nkeys.ParseDecoratedJWT(data)
	if err == nil {
		_, err = jwt.DecodeUserClaims(token)
	}
	if err != nil {
		return fmt.Errorf("%s: no user JWT: %w", path, err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return fmt.Errorf("%s: no user nkey seed: %w", path, err)
	}
	kp.Wipe()
	return nil
}

// CheckNKey reports whether path is a readable file holding a user nkey
// seed (SU...).
func CheckNKey(path string) error {
	if _, err := nats.NkeyOptionFromSeed(path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// CheckCA reports whether path is a readable PEM file with at least one
// certificate.
func CheckCA(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("%s: no PEM certificate", path)
	}
	return nil
}

// CheckClientCert reports whether cert and key are both given and are a
// matching PEM certificate and private key.
func CheckClientCert(cert, key string) error {
	switch {
	case cert == "":
		return errors.New("a key without a certificate: give both")
	case key == "":
		return errors.New("a certificate without a key: give both")
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("%s, %s: %w", cert, key, err)
	}
	return nil
}

// userinfo matches the credentials of a URL: scheme://user:pass@ or
// scheme://token@.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^\s,"]*@`)

// RedactURL hides the user, password or token of every URL in s (a list
// such as NATS_URL, or a message quoting one), so that logs and errors never
// show them. url.URL.Redacted is not enough: it shows a token, which nats.go
// takes from the user part.
func RedactURL(s string) string {
	return userinfo.ReplaceAllString(s, "${1}redacted@")
}

// HasURLCredentials reports whether any URL of the list urls carries a
// user, password or token.
func HasURLCredentials(urls string) bool { return userinfo.MatchString(urls) }

// redactedError hides URL credentials in an error's text and keeps the
// error for errors.Is and errors.As.
type redactedError struct{ err error }

func (e redactedError) Error() string { return RedactURL(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// Connect connects to an external server or cluster (urls: one URL or a
// comma-separated list; nats:// or tls://), with opts such as
// Auth.Options. Once connected it reconnects forever, buffering publishes
// while disconnected (nats.go's default 8 MB reconnect buffer), and logs
// disconnects, reconnects and asynchronous errors such as slow consumers
// and permission violations. The first connection is not retried: a wrong
// URL or rejected credentials fail at startup. Neither the log nor the
// error shows credentials from the URL.
func Connect(urls, name string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats")
	all := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "error", redact(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", RedactURL(nc.ConnectedUrl()))
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			log.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("nats async error", "subject", sub.Subject, "error", redact(err))
				return
			}
			log.Error("nats async error", "error", redact(err))
		}),
	}, opts...)
	nc, err := nats.Connect(urls, all...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", RedactURL(urls), redact(err))
	}
	return nc, nil
}

func redact(err error) error {
	if err == nil || !strings.Contains(err.Error(), "@") {
		return err
	}
	return redactedError{err}
}
