package config

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Version is the only daemon config version this build understands.
const Version = 1

// Token permissions, as the product names them.
const (
	PermPrefixesRead      = "IP Prefixes: Read"
	PermPrefixesWrite     = "IP Prefixes: Write"
	PermBGPOnDemandWrite  = "IP Prefixes: BGP On Demand Write"
	PermMagicTransitWrite = "Magic Transit Write"
)

// AllPermissions lists every permission a token can hold.
var AllPermissions = []string{PermPrefixesRead, PermPrefixesWrite, PermBGPOnDemandWrite, PermMagicTransitWrite}

// Daemon is edged's configuration file.
type Daemon struct {
	Version     int          `yaml:"version"`
	Listen      Listen       `yaml:"listen"`
	State       StateConfig  `yaml:"state"`
	Accounts    []Account    `yaml:"accounts"`
	Zones       []Zone       `yaml:"zones"`
	Credentials []Credential `yaml:"credentials"`
	Validation  Sources      `yaml:"validation"`
	Timing      Timing       `yaml:"timing"`
	BGP         BGP          `yaml:"bgp"`
	// AnycastPool holds the edge's own anycast prefixes: dynamic Spectrum
	// apps get their addresses from it, and DNS answers proxied hostnames
	// without an address map with it. Canonical prefixes that do not
	// overlap; empty means dynamic apps cannot be created.
	AnycastPool []string `yaml:"anycast_pool"`
	// Rules switches optional strictness of the API's rules.
	Rules RulesConfig `yaml:"rules"`
	// API configures the Cloudflare-compatible API's request handling.
	API APIConfig `yaml:"api"`
}

// APIConfig configures the Cloudflare-compatible API.
type APIConfig struct {
	// RateLimit limits requests per credential, like Cloudflare's global
	// API limit (1200 requests per 5 minutes per user). Default off.
	RateLimit RateLimit `yaml:"rate_limit"`
}

// RateLimit is a fixed-window request limit per credential (email+key or
// token). The zero value is off.
type RateLimit struct {
	// Requests is how many authenticated requests a credential may send per
	// window; the next is answered 429 until the window ends. 0 is off.
	Requests int `yaml:"requests"`
	// Window is the window's length on the control-plane clock (admin
	// fast-forward ends it; timing.time_factor does not scale it). Default
	// 5m when Requests is set.
	Window Duration `yaml:"window"`
}

// DefaultRateWindow is the window of a RateLimit without one: Cloudflare's
// five minutes.
const DefaultRateWindow = 5 * time.Minute

// Enabled reports whether the limit is on.
func (r RateLimit) Enabled() bool { return r.Requests > 0 }

// WindowOrDefault returns Window, or DefaultRateWindow when it is not set.
func (r RateLimit) WindowOrDefault() time.Duration {
	if r.Window <= 0 {
		return DefaultRateWindow
	}
	return r.Window.Std()
}

// RulesConfig switches the rules where the product docs disagree.
type RulesConfig struct {
	// SpectrumStrict requires, for Spectrum apps, an active Spectrum binding
	// covering every static edge IP (otherwise only a warning), ADDRESS dns
	// with static edge IPs and CNAME dns with dynamic ones. Default false.
	SpectrumStrict bool `yaml:"spectrum_strict"`
}

// Pool returns the parsed anycast pool; Validate rejects configs whose pool
// does not parse, so invalid entries are skipped here.
func (d *Daemon) Pool() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range d.AnycastPool {
		if p, err := ParseCIDR(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// ZoneByID returns the configured zone with the given ID.
func (d *Daemon) ZoneByID(id string) (Zone, bool) {
	for _, z := range d.Zones {
		if z.ID == id {
			return z, true
		}
	}
	return Zone{}, false
}

// Listen holds listen addresses.
type Listen struct {
	// API is the HTTP address of the Cloudflare-compatible API and, under
	// /admin/, the admin endpoints. Default 127.0.0.1:8080.
	API string `yaml:"api"`
	// DNS is the UDP and TCP address of the authoritative DNS responder
	// (the same IP:port for both). Empty: DNS is off.
	DNS string `yaml:"dns"`
	// Proxy turns on the Spectrum L4 proxy: wildcard listeners on every
	// transport and port a Spectrum app uses, serving the apps' edge IPs
	// (which must be local, e.g. an AnyIP route). Default off.
	Proxy bool `yaml:"proxy"`
	// AnyIP keeps AnyIP local routes (type local, table local, dev lo,
	// proto 237) in edged's network namespace for every announced prefix
	// and the anycast pool, so that the whole of each is local and the
	// proxy's wildcard listeners receive its traffic. Needs CAP_NET_ADMIN;
	// edged removes the routes when it stops. Default off.
	AnyIP bool `yaml:"anyip"`
}

// StateConfig says where the control-plane state lives.
type StateConfig struct {
	// Path of the embedded state file. Default var/edgesim.db (relative to
	// the working directory). Ignored when Etcd is set.
	Path string `yaml:"path"`
	// Etcd, when set, keeps the state in etcd instead of the file, so that
	// several edge nodes (edged processes) share one state.
	Etcd *EtcdState `yaml:"etcd,omitempty"`
}

// EtcdState locates a state kept in etcd.
type EtcdState struct {
	// Endpoints are etcd client URLs (http:// or https://; https uses the
	// system roots). At least one.
	Endpoints []string `yaml:"endpoints"`
	// Prefix is the key namespace of the state; nodes sharing a state use
	// the same one. Default /edgesim/.
	Prefix string `yaml:"prefix,omitempty"`
	// Username and Password authenticate to etcd; both or neither.
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
	// DialTimeout bounds connecting to etcd at start. Default 5s.
	DialTimeout Duration `yaml:"dial_timeout,omitempty"`
}

// Account is a tenant.
type Account struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// BYOIPOnlyMap, when set, seeds the immutable account-wide address map
	// of an account that may proxy only through BYOIP: enabled, an account
	// membership for this account, these IPs, can_delete and
	// can_modify_ips false. See Daemon.ManagedAddressMaps.
	BYOIPOnlyMap []string `yaml:"byoip_only_map,omitempty"`
}

// Zone is a DNS zone owned by one account.
type Zone struct {
	ID        string `yaml:"id" json:"id"`
	Name      string `yaml:"name" json:"name"`
	AccountID string `yaml:"account_id" json:"account_id"`
	// CreatedOn is set for zones created through the API (persisted as
	// store kind "zones"); config-seeded zones have none.
	CreatedOn time.Time `yaml:"-" json:"created_on,omitzero"`
	// ModifiedOn is the last PATCH that changed the zone; zero means
	// CreatedOn.
	ModifiedOn time.Time `yaml:"-" json:"modified_on,omitzero"`
	// Paused (PATCH paused) makes the zone DNS-only: its proxied records
	// answer their own content, as DNS-only records do. Only zones created
	// through the API can be paused.
	Paused bool `yaml:"-" json:"paused,omitempty"`
	// VanityNameServers (PATCH vanity_name_servers) are recorded and
	// reported; the DNS responder's NS records do not change.
	VanityNameServers []string `yaml:"-" json:"vanity_name_servers,omitempty"`
}

// Clone returns a copy of z that shares no slice with it.
func (z Zone) Clone() Zone {
	z.VanityNameServers = slices.Clone(z.VanityNameServers)
	return z
}

// Credential is either a global API key (Email+Key) or an API token
// (Token, with Permissions). Either reaches only Accounts.
type Credential struct {
	Email       string   `yaml:"email,omitempty"`
	Key         string   `yaml:"key,omitempty"`
	Token       string   `yaml:"token,omitempty"`
	Permissions []string `yaml:"permissions,omitempty"`
	Accounts    []string `yaml:"accounts"`
}

// Sources are the validation sources of the registry.
type Sources struct {
	// AutoValid skips the registry and marks every check valid (for demos
	// and tests that are not about validation).
	AutoValid bool     `yaml:"auto_valid"`
	IRRFiles  []string `yaml:"irr_files"`
	ROAFile   string   `yaml:"roa_file"`
	RTR       string   `yaml:"rtr"`
	DNSServer string   `yaml:"dns_server"`
}

// Duration is a time.Duration written as a Go duration string ("5h", "90s").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parsing duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Timing holds the real-world delays of the product and the factor that
// scales them all. A delay of 5h with TimeFactor 0.001 lasts 18s.
type Timing struct {
	// TimeFactor multiplies every delay below: 1 is real time, 0 makes
	// everything instant. Default 1.
	TimeFactor *float64 `yaml:"time_factor"`
	// Validation is how long an asynchronous prefix validation takes. Default 1m.
	Validation *Duration `yaml:"validation"`
	// Provisioning is how long a service binding stays provisioning. Default 5h (docs: 4-6 h).
	Provisioning *Duration `yaml:"provisioning"`
	// Advertise is how long an advertisement takes to reach the edge. Default 5m (docs: 2-7 min).
	Advertise *Duration `yaml:"advertise"`
	// Withdraw is how long a withdrawal takes. Default 15m (docs: about 15 min).
	Withdraw *Duration `yaml:"withdraw"`
	// ReadyAfter is how long after the default binding a BGP prefix may
	// first be advertised. Default 0 (off); the docs say "allow five hours".
	ReadyAfter *Duration `yaml:"ready_after"`
	// MinToggleInterval is the minimum time between two changes of a BGP
	// prefix's advertisement. Default 0 (off).
	MinToggleInterval *Duration `yaml:"min_toggle_interval"`
}

// Delays are the scaled delays the control plane applies.
type Delays struct {
	Validation, Provisioning, Advertise, Withdraw, ReadyAfter, MinToggleInterval time.Duration
}

// Delays returns the delays scaled by the time factor, defaults applied.
func (t Timing) Delays() Delays {
	f := 1.0
	if t.TimeFactor != nil {
		f = *t.TimeFactor
	}
	scale := func(d *Duration, def time.Duration) time.Duration {
		if d != nil {
			def = time.Duration(*d)
		}
		return time.Duration(float64(def) * f)
	}
	return Delays{
		Validation:        scale(t.Validation, time.Minute),
		Provisioning:      scale(t.Provisioning, 5*time.Hour),
		Advertise:         scale(t.Advertise, 5*time.Minute),
		Withdraw:          scale(t.Withdraw, 15*time.Minute),
		ReadyAfter:        scale(t.ReadyAfter, 0),
		MinToggleInterval: scale(t.MinToggleInterval, 0),
	}
}

// FieldError is one problem in a config, at a field path such as
// "credentials[1].accounts[0]".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

//go:embed demo.yaml
var demoYAML []byte

// Demo returns the embedded demo configuration: two accounts, a zone each,
// a key+email and a token per account, lab timing.
func Demo() *Daemon {
	d, err := Decode(bytes.NewReader(demoYAML))
	if err != nil {
		panic("config: embedded demo config is invalid: " + err.Error())
	}
	return d
}

// DemoRegistry holds the demo's lab registry files, demo/irr.rpsl (RPSL
// route objects) and demo/roas.json (ROAs), which the demo config's
// validation sources name (under var/).
//
//go:embed demo/irr.rpsl demo/roas.json
var DemoRegistry embed.FS

// DemoYAML returns the embedded demo configuration text.
func DemoYAML() []byte { return slices.Clone(demoYAML) }

// Decode reads a YAML (or JSON) daemon config strictly: unknown fields and
// trailing documents are errors, the version must be supported. It applies
// defaults and runs Validate, returning every problem at once.
func Decode(r io.Reader) (*Daemon, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var d Daemon
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("decoding config: empty document")
		}
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding config: trailing data after the first document")
	}
	d.applyDefaults()
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *Daemon) applyDefaults() {
	if d.Listen.API == "" {
		d.Listen.API = "127.0.0.1:8080"
	}
	if d.State.Path == "" {
		d.State.Path = "var/edgesim.db"
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// IsID reports whether s is a 32-character lowercase hex identifier.
func IsID(s string) bool { return hex32.MatchString(s) }

// Validate checks the whole config and returns every problem, joined, each a
// *FieldError.
func (d *Daemon) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if d.Version != Version {
		bad("version", "unsupported version %d (this build reads version %d)", d.Version, Version)
	}
	if _, err := netip.ParseAddrPort(d.Listen.API); err != nil {
		bad("listen.api", "not an IP:port: %q", d.Listen.API)
	}
	if d.Listen.DNS != "" {
		if _, err := netip.ParseAddrPort(d.Listen.DNS); err != nil {
			bad("listen.dns", "not an IP:port: %q", d.Listen.DNS)
		}
	}
	accounts := map[string]bool{}
	for i, a := range d.Accounts {
		p := fmt.Sprintf("accounts[%d]", i)
		switch {
		case !IsID(a.ID):
			bad(p+".id", "must be 32 lowercase hex characters, got %q", a.ID)
		case accounts[a.ID]:
			bad(p+".id", "duplicate account %q", a.ID)
		}
		accounts[a.ID] = true
	}
	for i, a := range d.Accounts {
		for j, ip := range a.BYOIPOnlyMap {
			if addr, err := netip.ParseAddr(ip); err != nil || addr.Zone() != "" || addr.Is4In6() {
				bad(fmt.Sprintf("accounts[%d].byoip_only_map[%d]", i, j), "not an IP address: %q", ip)
			}
		}
	}
	zones := map[string]bool{}
	zoneNames := map[string]bool{}
	for i, z := range d.Zones {
		p := fmt.Sprintf("zones[%d]", i)
		switch {
		case !IsID(z.ID):
			bad(p+".id", "must be 32 lowercase hex characters, got %q", z.ID)
		case zones[z.ID]:
			bad(p+".id", "duplicate zone %q", z.ID)
		}
		zones[z.ID] = true
		name := strings.ToLower(strings.TrimSuffix(z.Name, "."))
		switch {
		case !validHostname(name):
			bad(p+".name", "not a DNS name: %q", z.Name)
		case zoneNames[name]:
			bad(p+".name", "duplicate zone name %q", z.Name)
		}
		zoneNames[name] = true
		if !accounts[z.AccountID] {
			bad(p+".account_id", "unknown account %q", z.AccountID)
		}
	}
	secrets := map[string]bool{}
	for i, c := range d.Credentials {
		p := fmt.Sprintf("credentials[%d]", i)
		key := c.Email != "" || c.Key != ""
		secret := c.Token
		if key {
			secret = c.Email + "\x00" + c.Key
		}
		switch {
		case key && c.Token != "":
			bad(p, "set either email and key, or token, not both")
		case key && (c.Email == "" || c.Key == ""):
			bad(p, "a key credential needs both email and key")
		case !key && c.Token == "":
			bad(p, "set email and key, or token")
		case secrets[secret]:
			bad(p, "duplicate credential")
		}
		secrets[secret] = true
		if key && len(c.Permissions) > 0 {
			bad(p+".permissions", "only tokens carry permissions; a key has all of them")
		}
		for j, perm := range c.Permissions {
			if !slices.Contains(AllPermissions, perm) {
				bad(fmt.Sprintf("%s.permissions[%d]", p, j), "unknown permission %q (known: %s)", perm, strings.Join(AllPermissions, ", "))
			}
		}
		if len(c.Accounts) == 0 {
			bad(p+".accounts", "a credential must reach at least one account")
		}
		for j, a := range c.Accounts {
			if !accounts[a] {
				bad(fmt.Sprintf("%s.accounts[%d]", p, j), "unknown account %q", a)
			}
		}
	}
	if v := d.Validation; !v.AutoValid && len(v.IRRFiles) == 0 && v.ROAFile == "" && v.RTR == "" && v.DNSServer == "" {
		bad("validation", "no validation source: set auto_valid, or irr_files, roa_file, rtr or dns_server")
	}
	for _, addr := range []struct{ path, v string }{{"validation.rtr", d.Validation.RTR}, {"validation.dns_server", d.Validation.DNSServer}} {
		if addr.v == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(addr.v); err != nil {
			bad(addr.path, "not an IP:port: %q", addr.v)
		}
	}
	var pool []netip.Prefix
	for i, s := range d.AnycastPool {
		p, err := ParseCIDR(s)
		if err != nil {
			bad(fmt.Sprintf("anycast_pool[%d]", i), "%v", err)
			continue
		}
		for _, o := range pool {
			if o.Overlaps(p) {
				bad(fmt.Sprintf("anycast_pool[%d]", i), "%s overlaps %s", p, o)
			}
		}
		pool = append(pool, p)
	}
	d.State.validate(bad)
	t := d.Timing
	if t.TimeFactor != nil && (*t.TimeFactor < 0 || *t.TimeFactor > 1000) {
		bad("timing.time_factor", "must be between 0 and 1000, got %v", *t.TimeFactor)
	}
	for _, f := range []struct {
		path string
		v    *Duration
	}{
		{"timing.validation", t.Validation}, {"timing.provisioning", t.Provisioning},
		{"timing.advertise", t.Advertise}, {"timing.withdraw", t.Withdraw},
		{"timing.ready_after", t.ReadyAfter}, {"timing.min_toggle_interval", t.MinToggleInterval},
	} {
		if f.v != nil && *f.v < 0 {
			bad(f.path, "must not be negative")
		}
	}
	if d.API.RateLimit.Requests < 0 {
		bad("api.rate_limit.requests", "must not be negative (0 is off)")
	}
	if d.API.RateLimit.Window < 0 {
		bad("api.rate_limit.window", "must not be negative")
	}
	d.BGP.validate(bad)
	return errors.Join(errs...)
}

func (s StateConfig) validate(bad func(path, format string, args ...any)) {
	e := s.Etcd
	if e == nil {
		return
	}
	if len(e.Endpoints) == 0 {
		bad("state.etcd.endpoints", "at least one endpoint is required")
	}
	for i, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			bad(fmt.Sprintf("state.etcd.endpoints[%d]", i), "not an etcd client URL (http://host:port or https://host:port): %q", ep)
		}
	}
	if (e.Username == "") != (e.Password == "") {
		bad("state.etcd", "set username and password together")
	}
	if e.DialTimeout < 0 {
		bad("state.etcd.dial_timeout", "must not be negative")
	}
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ValidHostname reports whether s (lowercase, no trailing dot) is a DNS name.
func ValidHostname(s string) bool { return validHostname(s) }
