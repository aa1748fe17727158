package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// serverConfigKeys are the top-level keys of a nats-server configuration
// file the embedded server applies: who may connect (authorization,
// accounts), TLS and where it listens. The store and JetStream settings
// are fulfillmentd's own (its data dir, FULFILLMENT_NATS_SYNC).
var serverConfigKeys = []string{"listen", "host", "net", "port", "authorization", "accounts",
	"no_auth_user", "system_account", "tls"}

// serverConfig is a nats-server configuration file as the embedded server
// applies it.
type serverConfig struct {
	opts *server.Options // as server.ProcessConfigFile read it
	// account is where fulfillmentd's streams and its own connection live:
	// "" (the global account) without an accounts block, else the one
	// account that enables JetStream.
	account string
	listens bool // the file sets listen, host, net or port
}

// loadServerConfig reads path with nats-server's own parser and checks that
// it holds only what the embedded server applies.
func loadServerConfig(path string) (*serverConfig, error) {
	raw, err := conf.ParseFileWithChecks(path)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, err // names the file
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var unknown []string
	sc := &serverConfig{}
	for k, v := range raw {
		key := strings.ToLower(k)
		switch {
		case slices.Contains(serverConfigKeys, key):
			sc.listens = sc.listens || key == "listen" || key == "host" || key == "net" || key == "port"
		case usedVariable(v):
			// a variable (PASS = "...") that the file refers to
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s sets %s: fulfillmentd applies only %s (its data dir and FULFILLMENT_NATS_SYNC set the store and JetStream)",
			path, strings.Join(unknown, ", "), strings.Join(serverConfigKeys, ", "))
	}
	if sc.opts, err = server.ProcessConfigFile(path); err != nil {
		return nil, err
	}
	o := sc.opts
	switch {
	case o.Authorization != "":
		return nil, fmt.Errorf("%s: authorization { token } cannot sit beside fulfillmentd's own in-process user: use authorization { users = [...] }", path)
	case o.AuthCallout != nil:
		return nil, fmt.Errorf("%s: authorization { auth_callout } is not supported by the embedded broker: use users", path)
	case o.ProxyRequired:
		return nil, fmt.Errorf("%s: authorization { proxy_required } would refuse fulfillmentd's own in-process connection", path)
	}
	if o.Username != "" { // authorization { user, password }: one user with every permission
		o.Users = append(o.Users, &server.User{Username: o.Username, Password: o.Password})
		o.Username, o.Password = "", ""
	}
	if sc.account, err = jetStreamAccount(path, raw); err != nil {
		return nil, err
	}
	return sc, nil
}

// usedVariable reports whether a top-level value is a variable the file
// refers to (nats-server's parser marks them).
func usedVariable(v any) bool {
	t, ok := v.(interface{ IsUsedVariable() bool })
	return ok && t.IsUsedVariable()
}

// unwrap returns a parsed value without its token.
func unwrap(v any) any {
	if t, ok := v.(interface{ Value() any }); ok {
		return t.Value()
	}
	return v
}

// jetStreamAccount picks the account fulfillmentd lives in: the global one
// without an accounts block, else the single account whose jetstream is
// enabled (true, "enabled" or limits), as nats-server reads it.
func jetStreamAccount(path string, raw map[string]any) (string, error) {
	var accounts map[string]any
	var system string
	for k, v := range raw {
		switch strings.ToLower(k) {
		case "accounts":
			accounts, _ = unwrap(v).(map[string]any)
		case "system_account":
			system, _ = unwrap(v).(string)
		}
	}
	if len(accounts) == 0 {
		return "", nil
	}
	var js []string
	for name, v := range accounts {
		acc, _ := unwrap(v).(map[string]any)
		if name == system || name == server.DEFAULT_SYSTEM_ACCOUNT {
			continue
		}
		for k, jv := range acc {
			if strings.ToLower(k) != "jetstream" {
				continue
			}
			switch jv := unwrap(jv).(type) {
			case bool:
				if jv {
					js = append(js, name)
				}
			case string:
				if s := strings.ToLower(jv); s == "enabled" || s == "enable" {
					js = append(js, name)
				}
			case map[string]any:
				js = append(js, name)
			}
		}
	}
	sort.Strings(js)
	switch len(js) {
	case 1:
		return js[0], nil
	case 0:
		return "", fmt.Errorf("%s: no account enables JetStream: give the account of fulfillmentd's streams (and of the warehouses' users) jetstream: enabled", path)
	}
	return "", fmt.Errorf("%s: accounts %s enable JetStream: fulfillmentd's streams live in one account, enable JetStream on that one only",
		path, strings.Join(js, ", "))
}

// hasUsers reports whether clients must authenticate as configured users.
func (sc *serverConfig) hasUsers() bool {
	return sc != nil && len(sc.opts.Users)+len(sc.opts.Nkeys) > 0
}

// CheckEmbeddedListen checks what StartEmbedded would do with listen
// ("host:port" or "") and the configuration file at configFile (or ""):
// a readable file holding only what the embedded server applies, a listen
// address when a file is given, and authorization when the address is
// not loopback. It returns every problem found, joined.
func CheckEmbeddedListen(listen, configFile string) error {
	_, _, err := embeddedListen(listen, configFile)
	return err
}

// embeddedListen loads configFile (if any) and resolves where the server
// listens: host and port, or port 0 for no port.
func embeddedListen(listen, configFile string) (*serverConfig, listenAddr, error) {
	var sc *serverConfig
	if configFile != "" {
		var err error
		if sc, err = loadServerConfig(configFile); err != nil {
			return nil, listenAddr{}, err
		}
	}
	var addr listenAddr
	switch {
	case listen != "":
		var err error
		if addr, err = parseListen(listen); err != nil {
			return nil, listenAddr{}, err
		}
	case sc != nil && sc.listens:
		addr = listenAddr{host: sc.opts.Host, port: sc.opts.Port}
		if addr.port == 0 {
			addr.port = server.DEFAULT_PORT
		}
	case sc != nil:
		return nil, listenAddr{}, fmt.Errorf("%s gives no listen address and FULFILLMENT_NATS_LISTEN is unset: the configuration applies to a listening broker only", configFile)
	default:
		return nil, listenAddr{}, nil
	}
	if !addr.loopback() {
		switch {
		case !sc.hasUsers():
			return nil, listenAddr{}, fmt.Errorf("the embedded broker would listen on %s, which is not loopback, without authorization: "+
				"give users in FULFILLMENT_NATS_CONFIG (authorization or accounts), or listen on 127.0.0.1", addr)
		case sc.opts.NoAuthUser != "":
			return nil, listenAddr{}, fmt.Errorf("the embedded broker would listen on %s, which is not loopback, with no_auth_user %q: "+
				"every client there must authenticate", addr, sc.opts.NoAuthUser)
		}
	}
	return sc, addr, nil
}

// listenAddr is where the embedded server listens; port 0: nowhere.
type listenAddr struct {
	host string
	port int
}

func (a listenAddr) String() string { return net.JoinHostPort(a.host, strconv.Itoa(a.port)) }

// loopback: only this machine can connect.
func (a listenAddr) loopback() bool {
	if a.host == "localhost" {
		return true
	}
	ip := net.ParseIP(a.host)
	return ip != nil && ip.IsLoopback()
}

// CheckListen checks FULFILLMENT_NATS_LISTEN: host:port (an empty host,
// or 0.0.0.0, means every interface), port 1 to 65535.
func CheckListen(v string) error {
	_, err := parseListen(v)
	return err
}

func parseListen(v string) (listenAddr, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return listenAddr{}, errors.New("want host:port such as 127.0.0.1:4222")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return listenAddr{}, errors.New("want host:port with a port from 1 to 65535, such as 127.0.0.1:4222")
	}
	return listenAddr{host: host, port: p}, nil
}

// selfUser is fulfillmentd's own user on an embedded server with
// authorization: an nkey made at each start (its seed is never written
// anywhere), allowed in-process connections only, with every permission,
// in the account of fulfillmentd's streams. It returns the nats.go option
// that authenticates as it.
func selfUser(sc *serverConfig) (*server.NkeyUser, nats.Option, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, nil, fmt.Errorf("create fulfillmentd's nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("create fulfillmentd's nkey: %w", err)
	}
	u := &server.NkeyUser{Nkey: pub, AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeInProcess: {}}}
	if sc.account != "" {
		for _, acc := range sc.opts.Accounts {
			if acc.Name == sc.account {
				u.Account = acc
			}
		}
		if u.Account == nil {
			return nil, nil, fmt.Errorf("account %s is not defined", sc.account)
		}
	}
	return u, nats.Nkey(pub, kp.Sign), nil
}

// checkStoreAccount refuses to start when the store holds fulfillmentd's
// streams under another account than the one the configuration puts it
// in: they would be left behind, unread.
func checkStoreAccount(storeDir, account string) error {
	if account == "" {
		account = server.DEFAULT_GLOBAL_ACCOUNT
	}
	dir := filepath.Join(storeDir, server.JetStreamStoreDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == account {
			continue
		}
		for _, stream := range []string{worker.StreamName, FeedStreamName} {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "streams", stream)); err == nil {
				return fmt.Errorf("the store %s holds stream %s of account %s, but fulfillmentd now lives in account %s: "+
					"its events and feed would be left behind; keep fulfillmentd's streams in account %s (README: Push feed)",
					storeDir, stream, e.Name(), account, e.Name())
			}
		}
	}
	return nil
}
