// Package natstest starts nats-servers on loopback for tests, with the
// authorization and TLS an external NATS has in production: certificates
// made on the spot (a CA, a server certificate for 127.0.0.1 and localhost,
// a client certificate for mutual TLS), nkey users and .creds files of an
// operator-mode (JWT) server.
package natstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Start starts a nats-server with JetStream on loopback with opts (nil:
// none) and stops it at cleanup. Host, JetStream, StoreDir and NoSigs are
// set here, and Port when it is 0 (a free port).
func Start(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	if opts.Port == 0 {
		opts.Port = -1
	}
	opts.Host, opts.JetStream, opts.StoreDir, opts.NoSigs = "127.0.0.1", true, tb.TempDir(), true
	ns, err := server.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server not ready")
	}
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// PKI is a CA with a server and a client certificate, as PEM files.
type PKI struct {
	CA                    string // the CA certificate
	ServerCert, ServerKey string // for 127.0.0.1 and localhost
	ClientCert, ClientKey string // signed by the CA, for mutual TLS
	OtherCA               string // a CA that signed neither
}

// NewPKI makes the certificates in a temporary directory.
func NewPKI(tb testing.TB) PKI {
	tb.Helper()
	dir := tb.TempDir()
	caCert, caKey := newCert(tb, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "natstest CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	otherCA, _ := newCert(tb, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "natstest other CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	srvCert, srvKey := newCert(tb, caCert, caKey, &x509.Certificate{
		Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	cliCert, cliKey := newCert(tb, caCert, caKey, &x509.Certificate{
		Subject:  pkix.Name{CommonName: "fulfillmentd"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p := PKI{
		CA: filepath.Join(dir, "ca.pem"), OtherCA: filepath.Join(dir, "other-ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	writePEM(tb, p.CA, "CERTIFICATE", caCert.Raw)
	writePEM(tb, p.OtherCA, "CERTIFICATE", otherCA.Raw)
	writePEM(tb, p.ServerCert, "CERTIFICATE", srvCert.Raw)
	writePEM(tb, p.ServerKey, "EC PRIVATE KEY", marshalKey(tb, srvKey))
	writePEM(tb, p.ClientCert, "CERTIFICATE", cliCert.Raw)
	writePEM(tb, p.ClientKey, "EC PRIVATE KEY", marshalKey(tb, cliKey))
	return p
}

// ServerTLS sets opts up for TLS with the server certificate; mutual
// requires clients to present a certificate signed by the CA.
func (p PKI) ServerTLS(tb testing.TB, opts *server.Options, mutual bool) {
	tb.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.ServerCert, KeyFile: p.ServerKey, CaFile: p.CA, Verify: mutual})
	if err != nil {
		tb.Fatal(err)
	}
	opts.TLSConfig, opts.TLS, opts.TLSVerify, opts.TLSTimeout = tc, true, mutual, 5
}

func newCert(tb testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.SerialNumber = n
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

func marshalKey(tb testing.TB, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// NKeyUser makes a user nkey: the seed file and the public key for
// server.NkeyUser.
func NKeyUser(tb testing.TB) (seedFile, public string) {
	tb.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		tb.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	seedFile = filepath.Join(tb.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		tb.Fatal(err)
	}
	return seedFile, public
}

// Operator sets opts up for decentralized (JWT) auth: an operator, a system
// account, an account with JetStream enabled, kept in a memory resolver.
// It returns the path of a .creds file of a user of that account.
func Operator(tb testing.TB, opts *server.Options) (credsFile string) {
	tb.Helper()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	_, err = oc.Encode(okp)
	must(err)

	resolver := &server.MemAccResolver{}
	account := func(name string, js bool) (nkeys.KeyPair, string) {
		kp, err := nkeys.CreateAccount()
		must(err)
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := ac.Encode(okp)
		must(err)
		must(resolver.Store(pub, token))
		return kp, pub
	}
	_, sysPub := account("SYS", false)
	akp, _ := account("FULFILLMENT", true)

	ukp, err := nkeys.CreateUser()
	must(err)
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "fulfillmentd"
	ujwt, err := uc.Encode(akp)
	must(err)
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(err)
	credsFile = filepath.Join(tb.TempDir(), "user.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	opts.TrustedOperators = []*jwt.OperatorClaims{oc}
	opts.AccountResolver = resolver
	opts.SystemAccount = sysPub
	return credsFile
}

// ClientTLS is a tls.Config trusting the CA, for test clients that talk to
// a server set up with ServerTLS.
func (p PKI) ClientTLS(tb testing.TB) *tls.Config {
	tb.Helper()
	data, err := os.ReadFile(p.CA)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}
