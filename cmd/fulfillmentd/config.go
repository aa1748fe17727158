package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
)

// config is everything serve needs, read from the environment and overridden
// by flags of the same meaning.
type config struct {
	StripeSecretKey  string
	WebhookSecrets   []string
	StripeAPIBase    string
	NATSURL          string
	NATSAuth         broker.Auth // credentials and TLS for NATS_URL
	NATSListen       string      // the embedded broker also listens there ("": no port)
	NATSConfig       string      // nats-server configuration file of the embedded broker
	DataDir          string
	Addr             string
	AdminAddr        string // "": /healthz, /readyz, /metrics on Addr
	APITokens        []apiToken
	AdminTokens      []apiToken // the merchant's: every /v1 endpoint, the merchant API too
	Workers          int
	StripeMaxRPS     float64
	CrossSellsFile   string
	CrossSells       fulfillment.CrossSells
	WarehouseHooks   []fulfillment.WebhookEndpoint // FULFILLMENT_WAREHOUSE_WEBHOOKS (webhooks.go)
	Tolerance        time.Duration
	NATSSyncInterval time.Duration // 0: fsync every write
	NATSReplicas     int           // stream replicas: 1, or 3 on a NATS cluster
	AckWait          time.Duration // redelivery delay of a message whose worker died
	StripeTimeout    time.Duration // one Stripe API request, stripe-go's retries apart
	Role             string        // all, receiver or worker (roles.go)
	ReconcileEvery   time.Duration // 0: serve does not reconcile
	ReconcileSince   time.Duration // how far back a periodic reconcile looks
	LogFormat        string
	LogLevel         string
}

// apiToken is one bearer token for /v1, named after the warehouse or the
// admin using it.
type apiToken = httpapi.Token

// setting is one configuration entry: its environment variable, its flag, and
// how its text becomes a value.
type setting struct {
	env, flag, def, usage string
	required              bool
	// secret settings may instead be read from a file named by ENV_FILE
	// (flag --flag-file), as container platforms mount secrets, so that
	// they need not appear in the environment or the process list.
	secret bool
	parse  func(cfg *config, v string) error
}

func settings() []setting {
	return []setting{
		{env: "STRIPE_SECRET_KEY", flag: "stripe-secret-key", required: true, secret: true, usage: "Stripe API key (sk_... or rk_...)",
			parse: func(c *config, v string) error {
				if !strings.HasPrefix(v, "sk_") && !strings.HasPrefix(v, "rk_") {
					return errors.New("want a Stripe secret or restricted key (sk_... or rk_...)")
				}
				c.StripeSecretKey = v
				return nil
			}},
		{env: "STRIPE_WEBHOOK_SECRET", flag: "stripe-webhook-secret", required: true, secret: true, usage: "webhook signing secret(s) whsec_..., comma-separated during rotation",
			parse: func(c *config, v string) error {
				s, err := stripeevent.ParseSecrets(v)
				if err != nil {
					return err
				}
				for _, sec := range s {
					if !strings.HasPrefix(sec, "whsec_") {
						return errors.New("each secret must start with whsec_")
					}
				}
				c.WebhookSecrets = s
				return nil
			}},
		{env: "STRIPE_API_BASE", flag: "stripe-api-base", def: "https://api.stripe.com", usage: "Stripe API base URL (stripe-mock, emulators)",
			parse: func(c *config, v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want an http(s) URL such as https://api.stripe.com")
				}
				c.StripeAPIBase = strings.TrimRight(v, "/")
				return nil
			}},
		{env: "NATS_URL", flag: "nats-url", usage: "external NATS server or cluster; unset: embedded JetStream under the data dir",
			parse: parseNATSURL},
		{env: "NATS_CREDS", flag: "nats-creds", usage: "NATS .creds file (user JWT and nkey seed) for NATS_URL",
			parse: func(c *config, v string) error { c.NATSAuth.Creds = v; return broker.CheckCreds(v) }},
		{env: "NATS_NKEY", flag: "nats-nkey", usage: "NATS nkey seed file (SU...) for NATS_URL",
			parse: func(c *config, v string) error { c.NATSAuth.NKey = v; return broker.CheckNKey(v) }},
		{env: "NATS_CA", flag: "nats-ca", usage: "PEM CA certificates trusted for NATS_URL's TLS certificate (implies TLS)",
			parse: func(c *config, v string) error { c.NATSAuth.CA = v; return broker.CheckCA(v) }},
		{env: "NATS_CERT", flag: "nats-cert", usage: "PEM client certificate for mutual TLS with NATS_URL, with NATS_KEY",
			parse: func(c *config, v string) error { c.NATSAuth.Cert = v; return nil }}, // checked with NATS_KEY: natsProblems
		{env: "NATS_KEY", flag: "nats-key", usage: "PEM private key of NATS_CERT",
			parse: func(c *config, v string) error { c.NATSAuth.Key = v; return nil }},
		{env: "FULFILLMENT_DATA_DIR", flag: "data-dir", def: "./data", usage: "data directory (SQLite database, embedded NATS store)",
			parse: func(c *config, v string) error { c.DataDir = v; return nil }},
		{env: "FULFILLMENT_ADDR", flag: "addr", def: ":8080", usage: "HTTP listen address",
			parse: func(c *config, v string) error {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return errors.New("want host:port or :port")
				}
				c.Addr = v
				return nil
			}},
		{env: "FULFILLMENT_ADMIN_ADDR", flag: "admin-addr", usage: "listen address of /healthz, /readyz and /metrics (such as 127.0.0.1:9090), which are then not served on FULFILLMENT_ADDR; unset: on FULFILLMENT_ADDR",
			parse: func(c *config, v string) error {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return errors.New("want host:port or :port")
				}
				c.AdminAddr = v
				return nil
			}},
		{env: "FULFILLMENT_API_TOKEN", flag: "api-token", secret: true, usage: "bearer token(s) for /v1, comma-separated, each name:token (split at the first colon; the name is recorded as acknowledgement.by) or a bare token (named default); unset: /v1 refuses every request",
			parse: func(c *config, v string) (err error) { c.APITokens, err = parseTokens(v, "default"); return err }},
		{env: "FULFILLMENT_ADMIN_TOKEN", flag: "admin-token", secret: true, usage: "the merchant's bearer token(s) for /v1, comma-separated like FULFILLMENT_API_TOKEN (a bare token is named admin): every /v1 endpoint, and the merchant API (hold, release, cancel, success-page fulfil), which refuses warehouse tokens, and sign-in to the operator console /console/; unset: no merchant API and no console (404)",
			parse: func(c *config, v string) (err error) {
				c.AdminTokens, err = parseTokens(v, "admin")
				for i := range c.AdminTokens {
					c.AdminTokens[i].Admin = true
				}
				return err
			}},
		{env: "FULFILLMENT_WORKERS", flag: "workers", def: "8", usage: "worker concurrency",
			parse: func(c *config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 1024 {
					return errors.New("want a whole number from 1 to 1024")
				}
				c.Workers = n
				return nil
			}},
		{env: "STRIPE_MAX_RPS", flag: "stripe-max-rps", def: "20", usage: "ceiling on Stripe API requests per second, across all workers",
			parse: func(c *config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f <= 0 || f > 10000 {
					return errors.New("want a number of requests per second above 0")
				}
				c.StripeMaxRPS = f
				return nil
			}},
		{env: "FULFILLMENT_CROSS_SELLS", flag: "cross-sells", usage: `JSON file {"prod_base": "prod_cross_sell", ...} mirroring the Dashboard's cross-sells`,
			parse: func(c *config, v string) error {
				data, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				cs, err := fulfillment.ParseCrossSells(data)
				if err != nil {
					return err
				}
				c.CrossSellsFile, c.CrossSells = v, cs
				return nil
			}},
		{env: "FULFILLMENT_WAREHOUSE_WEBHOOKS", flag: "warehouse-webhooks", usage: `JSON file [{"name": "wms", "url": "https://...", "secret": "whsec_...", "statuses": [...]}]: POST every order change to these warehouse endpoints as Standard Webhooks (statuses optional: default every change)`,
			parse: parseWarehouseHooks},
		{env: "FULFILLMENT_WEBHOOK_TOLERANCE", flag: "webhook-tolerance", def: "300s", usage: "accepted age (and clock skew) of a webhook signature timestamp",
			parse: func(c *config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Second {
					return errors.New("want a duration of at least 1s, such as 300s")
				}
				c.Tolerance = d
				return nil
			}},
		{env: "FULFILLMENT_NATS_SYNC", flag: "nats-sync", def: "always", usage: "embedded broker fsync: always (safe against power loss) or an interval such as 2m",
			parse: func(c *config, v string) error {
				if v == "always" {
					c.NATSSyncInterval = 0
					return nil
				}
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return errors.New("want always or a duration such as 2m")
				}
				c.NATSSyncInterval = d
				return nil
			}},
		{env: "FULFILLMENT_NATS_LISTEN", flag: "nats-listen", usage: "embedded broker: also listen for NATS clients (push-feed readers) on host:port, such as 127.0.0.1:4222; not loopback only with users in FULFILLMENT_NATS_CONFIG; unset: no port",
			parse: func(c *config, v string) error {
				if err := broker.CheckListen(v); err != nil {
					return err
				}
				c.NATSListen = v
				return nil
			}},
		{env: "FULFILLMENT_NATS_CONFIG", flag: "nats-config", usage: "embedded broker: nats-server configuration file whose authorization, accounts, tls and listen blocks apply",
			parse: func(c *config, v string) error { c.NATSConfig = v; return nil }}, // checked with FULFILLMENT_NATS_LISTEN: natsProblems
		{env: "FULFILLMENT_NATS_REPLICAS", flag: "nats-replicas", def: "1", usage: "replicas of the event stream: 1, or 3 (or 5) on an external NATS cluster",
			parse: func(c *config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 5 {
					return errors.New("want a whole number from 1 to 5")
				}
				c.NATSReplicas = n
				return nil
			}},
		{env: "FULFILLMENT_ACK_WAIT", flag: "ack-wait", def: "10s", usage: "how long an event taken by a worker that died (crash, kill) waits before redelivery; a live handler keeps its event (in-progress acks every third of it) and may run max(30s, half of it)",
			parse: func(c *config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 2*time.Second {
					return errors.New("want a duration of at least 2s, such as 10s")
				}
				c.AckWait = d
				return nil
			}},
		{env: "STRIPE_TIMEOUT", flag: "stripe-timeout", def: "20s", usage: "timeout of one Stripe API request (stripe-go retries network errors and 5xx twice)",
			parse: func(c *config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 100*time.Millisecond {
					return errors.New("want a duration of at least 100ms, such as 20s")
				}
				c.StripeTimeout = d
				return nil
			}},
		{env: "FULFILLMENT_ROLE", flag: "role", def: roleAll, usage: "all (one process does everything), receiver (webhooks to NATS only: stateless, needs NATS_URL) or worker (NATS to orders, SQLite, /v1: one per database, needs NATS_URL)",
			parse: parseRole},
		{env: "FULFILLMENT_RECONCILE_EVERY", flag: "reconcile-every", usage: "run reconcile (see fulfillmentd reconcile) this often inside serve, such as 15m; unset: never",
			parse: func(c *config, v string) (err error) { c.ReconcileEvery, err = parseEvery(v); return err }},
		{env: "FULFILLMENT_RECONCILE_SINCE", flag: "reconcile-since", def: "72h", usage: "how far back the periodic reconcile looks (sessions created since)",
			parse: func(c *config, v string) (err error) { c.ReconcileSince, err = parseWindow(v); return err }},
		{env: "FULFILLMENT_LOG_FORMAT", flag: "log-format", def: "json", usage: "log format: json or text",
			parse: func(c *config, v string) error {
				if v != "json" && v != "text" {
					return errors.New("want json or text")
				}
				c.LogFormat = v
				return nil
			}},
		{env: "FULFILLMENT_LOG_LEVEL", flag: "log-level", def: "info", usage: "log level: debug, info, warn, error",
			parse: func(c *config, v string) error {
				switch v {
				case "debug", "info", "warn", "error":
					c.LogLevel = v
					return nil
				}
				return errors.New("want debug, info, warn or error")
			}},
	}
}

// loadConfig reads every setting from flags (first) or the environment, and
// reports every missing or invalid one in a single error.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	return serveConfig(name, args, env{getenv: getenv, stdout: stderr, stderr: stderr})
}

// serveConfig is loadConfig for a command's env: -h prints the settings on stdout.
func serveConfig(name string, args []string, e env) (config, error) {
	return parseSettings(newFlags(name, "", e), settingsForRole(settings(), roleIn(args, e.getenv)), args, e)
}

// configFrom builds an in-process instance's config (demo, loadtest) the way
// serve builds its own, from vars alone: not the process environment, no
// flags. Every default and every rule of serve's settings applies.
func configFrom(vars map[string]string) (config, error) {
	e := env{getenv: func(k string) string { return vars[k] }, stdout: io.Discard, stderr: io.Discard}
	return parseSettings(newFlags("config", "", e), settingsForRole(settings(), roleIn(nil, e.getenv)), nil, e)
}

// pick selects the settings a command needs, by environment variable: those
// in required must be set, the others keep their defaults. Commands other
// than serve load their configuration with pick and parseSettings, so every
// setting means the same everywhere.
func pick(all []setting, required []string, optional ...string) []setting {
	var out []setting
	for _, s := range all {
		switch {
		case slices.Contains(required, s.env):
			s.required = true
		case slices.Contains(optional, s.env):
			s.required = false
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

// parseSettings registers a flag for each of the settings on fs (beside any
// flags of the command's own), parses args, and reads each setting from its
// flag or the environment, reporting every missing or invalid one at once.
func parseSettings(fs *flag.FlagSet, all []setting, args []string, e env) (config, error) {
	getenv := e.getenv
	flags := make(map[string]*string, len(all))
	for _, s := range all {
		usage := s.usage + " (env " + s.env + ")"
		flags[s.flag] = fs.String(s.flag, s.def, usage) // the default is shown by -h; a setting reads the flag only when it is set
		if s.secret {
			flags[s.flag+"-file"] = fs.String(s.flag+"-file", "", "file holding "+s.env+" (env "+s.env+"_FILE)")
		}
	}
	if err := parseFlags(fs, args, e); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var cfg config
	var problems []error
	for _, s := range all {
		v, from := getenv(s.env), s.env
		if set[s.flag] {
			v, from = *flags[s.flag], "--"+s.flag
		}
		v = strings.TrimSpace(v)
		if s.secret {
			var err error
			if v, from, err = secretFile(s, v, from, flags, set, getenv); err != nil {
				problems = append(problems, err)
				continue
			}
		}
		if v == "" {
			if s.required {
				problems = append(problems, fmt.Errorf("%s is required: %s", s.env, s.usage))
				continue
			}
			if s.def == "" {
				continue
			}
			v, from = s.def, s.env+" default"
		}
		if err := s.parse(&cfg, v); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", from, err))
		}
	}
	problems = append(problems, cfg.natsProblems()...)
	problems = append(problems, cfg.tokenProblems()...)
	if len(problems) > 0 {
		return config{}, fmt.Errorf("invalid configuration:\n  %w", joinLines(problems))
	}
	return cfg, nil
}

// secretFile reads a secret setting from the file named by ENV_FILE (or
// --flag-file) when that is set: v, the value from the variable or the
// flag, must then be empty. One trailing newline is dropped. Errors name
// the file, never what it holds.
func secretFile(s setting, v, from string, flags map[string]*string, set map[string]bool, getenv func(string) string) (string, string, error) {
	path, fileFrom := getenv(s.env+"_FILE"), s.env+"_FILE"
	if set[s.flag+"-file"] {
		path, fileFrom = *flags[s.flag+"-file"], "--"+s.flag+"-file"
	}
	if path = strings.TrimSpace(path); path == "" {
		return v, from, nil
	}
	if v != "" {
		return "", "", fmt.Errorf("%s and %s are both set: give the secret one way", from, fileFrom)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("%s: cannot read the secret file: %w", fileFrom, err)
	}
	text := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if strings.TrimSpace(text) == "" {
		return "", "", fmt.Errorf("%s: %s is empty", fileFrom, path)
	}
	return strings.TrimSpace(text), fileFrom + " (" + path + ")", nil
}

// joinLines joins errors one per indented line.
func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// parseTokens reads "tok1,wh2:tok2": each entry is split at its first colon
// into a name and a token (the token may hold colons); a bare token is
// named bare. Errors never quote a token.
func parseTokens(v, bare string) ([]apiToken, error) {
	var out []apiToken
	seen := make(map[string]bool)
	entries := strings.Split(v, ",")
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		which := fmt.Sprintf("entry %d of %d", i+1, len(entries))
		if entry == "" {
			return nil, fmt.Errorf("%s is empty", which)
		}
		t := apiToken{Name: bare, Token: entry}
		if name, tok, ok := strings.Cut(entry, ":"); ok {
			t = apiToken{Name: strings.TrimSpace(name), Token: strings.TrimSpace(tok)}
		}
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("%s has no name before its ':' (want name:token)", which)
		case t.Token == "":
			return nil, fmt.Errorf("%s (%s) has no token after its ':' (want name:token)", which, printable(t.Name))
		case len(t.Token) < 16:
			return nil, fmt.Errorf("%s (%s): the token is shorter than 16 characters", which, printable(t.Name))
		case printable(t.Name) != t.Name || strings.ContainsAny(t.Name, " \t"):
			return nil, fmt.Errorf("%s: the name %s holds spaces or control characters", which, strconv.Quote(t.Name))
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("token name %q used twice", t.Name)
		}
		seen[t.Name] = true
		out = append(out, t)
	}
	return out, nil
}

// tokenProblems checks the warehouse tokens against the admin tokens: a
// token is one or the other, and a name says who acted (acknowledgement.by,
// created_by), so no name is both.
func (c config) tokenProblems() []error {
	var out []error
	for _, a := range c.AdminTokens {
		for _, w := range c.APITokens {
			switch {
			case a.Token == w.Token:
				out = append(out, fmt.Errorf("FULFILLMENT_ADMIN_TOKEN (%s) and FULFILLMENT_API_TOKEN (%s) hold the same token: give an admin its own", a.Name, w.Name))
			case a.Name == w.Name:
				out = append(out, fmt.Errorf("token name %q is both an admin's (FULFILLMENT_ADMIN_TOKEN) and a warehouse's (FULFILLMENT_API_TOKEN): names say who acted, use another", a.Name))
			}
		}
	}
	return out
}

func (c config) dbPath() string  { return filepath.Join(c.DataDir, "fulfillment.db") }
func (c config) natsDir() string { return filepath.Join(c.DataDir, "nats") }

// stripeHTTPClient is the client for Stripe's API: nil (stripeapi's default
// timeout) when StripeTimeout is unset, as in configs built in code.
func (c config) stripeHTTPClient() *http.Client {
	if c.StripeTimeout <= 0 {
		return nil
	}
	return &http.Client{Timeout: c.StripeTimeout}
}

// stripeClient is the Stripe API client of c's settings, logging to log. m
// (nil outside serve) instruments it: request metrics and limiter waits.
func (c config) stripeClient(log *slog.Logger, m *metrics) *stripeapi.Client {
	sc := stripeapi.Config{SecretKey: c.StripeSecretKey, BaseURL: c.StripeAPIBase, MaxRPS: c.StripeMaxRPS,
		HTTPClient: c.stripeHTTPClient(), Log: log}
	if m != nil {
		sc.HTTPClient, sc.OnWait = m.stripeClient(sc.HTTPClient), m.limiterWaited
	}
	return stripeapi.New(sc)
}

// parseSetting applies one setting's parser, by environment variable name,
// for commands that take a single setting as their own flag.
func parseSetting(cfg *config, env, v string) error {
	for _, s := range settings() {
		if s.env == env {
			return s.parse(cfg, v)
		}
	}
	return fmt.Errorf("unknown setting %s", env)
}

// parseNATSURL accepts one NATS URL or a comma-separated list (nats://,
// tls://, or host:port as nats.go reads it). Errors never quote the value:
// it may carry a password or a token.
func parseNATSURL(c *config, v string) error {
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "nats" && p.Scheme != "tls" && p.Scheme != "ws" && p.Scheme != "wss") {
			return errors.New("want nats://host:port, tls://host:port or a comma-separated list of them (value not shown: it may hold credentials)")
		}
	}
	c.NATSURL = v
	return nil
}

// natsProblems checks the NATS settings against each other: the client
// certificate and its key go together, and one way to authenticate is used.
func (c config) natsProblems() []error {
	var out []error
	a := c.NATSAuth
	if a.Creds != "" && a.NKey != "" {
		out = append(out, errors.New("NATS_CREDS and NATS_NKEY are both set: use one"))
	}
	if (a.Creds != "" || a.NKey != "") && broker.HasURLCredentials(c.NATSURL) {
		out = append(out, errors.New("NATS_URL holds a user or token and NATS_CREDS or NATS_NKEY is set: use one"))
	}
	if a.Cert != "" || a.Key != "" {
		if err := broker.CheckClientCert(a.Cert, a.Key); err != nil {
			out = append(out, fmt.Errorf("NATS_CERT, NATS_KEY: %w", err))
		}
	}
	if c.NATSURL == "" && (a != broker.Auth{}) {
		out = append(out, errors.New("NATS_CREDS, NATS_NKEY, NATS_CA, NATS_CERT and NATS_KEY apply to NATS_URL, which is not set (the embedded broker needs none)"))
	}
	switch {
	case c.NATSURL != "" && (c.NATSListen != "" || c.NATSConfig != ""):
		out = append(out, errors.New("FULFILLMENT_NATS_LISTEN and FULFILLMENT_NATS_CONFIG configure the embedded broker, which NATS_URL replaces: "+
			"with NATS_URL, warehouses read the push feed from that NATS"))
	case c.NATSListen != "" || c.NATSConfig != "":
		if err := broker.CheckEmbeddedListen(c.NATSListen, c.NATSConfig); err != nil {
			out = append(out, fmt.Errorf("FULFILLMENT_NATS_LISTEN, FULFILLMENT_NATS_CONFIG: %w", err))
		}
	}
	return out
}

// Roles of serve. One process can do everything (all: the default, with the
// embedded broker or an external one), or the work is split for scale-out:
// receivers (stateless, on as many machines as needed) publish verified
// webhooks to an external NATS cluster, and one worker process owns the
// SQLite database, runs the workers, the relays and the warehouse API.
const (
	roleAll      = "all"
	roleReceiver = "receiver"
	roleWorker   = "worker"
)

func parseRole(c *config, v string) error {
	switch v {
	case roleAll, roleReceiver, roleWorker:
		c.Role = v
		return nil
	}
	return errors.New("want all, receiver or worker")
}

// works reports whether the role runs the workers and owns the database.
func (c config) works() bool { return c.Role != roleReceiver }

// checkRole refuses a split role with the embedded broker: it serves its
// own process (FULFILLMENT_NATS_LISTEN opens it to push-feed readers, not
// to other fulfillmentd roles), so a receiver's events would never reach a
// worker.
func (c config) checkRole() error {
	if c.Role != roleAll && c.Role != "" && c.NATSURL == "" {
		return fmt.Errorf("--role %s needs an external NATS (NATS_URL): the embedded broker serves its own process only (FULFILLMENT_NATS_LISTEN is for push-feed readers); "+
			"run receivers and one worker against a NATS server or cluster, or --role all", c.Role)
	}
	return nil
}

// roleIn reads the role from args (--role X, --role=X) or FULFILLMENT_ROLE,
// ahead of the full parse, since what a role requires depends on it. The
// full parse validates it.
func roleIn(args []string, getenv func(string) string) string {
	role := getenv("FULFILLMENT_ROLE")
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "role" {
			continue
		}
		if hasValue {
			role = value
		} else if i+1 < len(args) {
			role = args[i+1]
		}
	}
	return strings.TrimSpace(role)
}

// settingsForRole drops the requirements a role does not have: a receiver
// never calls Stripe's API (no secret key on the edge machines). A worker
// needs the webhook secrets too: it verifies every stream message's
// Stripe-Signature again.
func settingsForRole(all []setting, role string) []setting {
	for i := range all {
		if role == roleReceiver && all[i].env == "STRIPE_SECRET_KEY" {
			all[i].required = false
		}
	}
	return all
}

// parseEvery reads --reconcile-every: a duration of at least 1s.
func parseEvery(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, errors.New("want a duration of at least 1s, such as 15m")
	}
	return d, nil
}

// parseWindow reads a look-back window: a Go duration (72h) or whole days
// (3d), longer than zero. These are parseSince's relative forms; a window
// takes no date, time or "all".
func parseWindow(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err != nil || n < 1 {
			return 0, fmt.Errorf("%q: want a whole number of days such as 3d", v)
		}
	} else if d, err := time.ParseDuration(v); err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a duration such as 72h or 3d", v)
	}
	ref := time.Unix(0, 0).UTC()
	since, err := parseSince(v, ref)
	if err != nil {
		return 0, err
	}
	return ref.Sub(since), nil
}
