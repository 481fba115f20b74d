package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDemoDecodes(t *testing.T) {
	t.Parallel()
	d := Demo()
	if len(d.Accounts) != 2 || len(d.Zones) != 2 {
		t.Fatalf("demo: %d accounts, %d zones; want 2 and 2", len(d.Accounts), len(d.Zones))
	}
	var keys, tokens int
	for _, c := range d.Credentials {
		if c.Token != "" {
			tokens++
		} else {
			keys++
		}
	}
	if keys != 2 || tokens != 2 {
		t.Errorf("demo: %d keys, %d tokens; want 2 and 2", keys, tokens)
	}
	if got := d.Timing.Delays().Provisioning; got != 18*time.Second {
		t.Errorf("demo provisioning delay = %v, want 18s (5h x 0.001)", got)
	}
}

func TestDelaysDefaults(t *testing.T) {
	t.Parallel()
	got := Timing{}.Delays()
	want := Delays{Validation: time.Minute, Provisioning: 5 * time.Hour, Advertise: 5 * time.Minute, Withdraw: 15 * time.Minute}
	if got != want {
		t.Errorf("Timing{}.Delays() = %+v, want %+v", got, want)
	}
	zero := 0.0
	if got := (Timing{TimeFactor: &zero}).Delays(); got != (Delays{}) {
		t.Errorf("time factor 0: Delays() = %+v, want all zero", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		paths []string // every FieldError path expected, in order
		text  string   // or a substring of the (non-field) error
	}{
		{name: "empty", in: "", text: "empty document"},
		{name: "unknown field", in: "version: 1\nvalidation: {auto_valid: true}\nlisten: {apii: x}\n", text: "field apii not found"},
		{name: "trailing document", in: "version: 1\nvalidation: {auto_valid: true}\n---\nversion: 1\n", text: "trailing data"},
		{name: "bad duration", in: "version: 1\nvalidation: {auto_valid: true}\ntiming: {provisioning: 5 hours}\n", text: `parsing duration "5 hours"`},
		{name: "everything at once", in: `
version: 2
listen: {api: "localhost:80"}
accounts:
  - {id: "ABC"}
  - {id: 258def64c72dae45f3e4c8516e2111f2}
  - {id: 258def64c72dae45f3e4c8516e2111f2}
zones:
  - {id: 023e105f4ecef8ad9ca31a8372d0c353, name: "bad name!", account_id: 258def64c72dae45f3e4c8516e2111f2}
  - {id: 023e105f4ecef8ad9ca31a8372d0c353, name: example.com, account_id: b1946ac92492d2347c6235b4d2611184}
credentials:
  - {email: a@example.com, token: t, accounts: [258def64c72dae45f3e4c8516e2111f2]}
  - {email: a@example.com, accounts: []}
  - {token: t2, permissions: ["IP Prefixes: Everything"], accounts: [b1946ac92492d2347c6235b4d2611184]}
validation: {rtr: "rtr.example.com:323"}
timing: {time_factor: -1, withdraw: -5m}
`, paths: []string{
			"version", "listen.api", "accounts[0].id", "accounts[2].id",
			"zones[0].name", "zones[1].id", "zones[1].account_id",
			"credentials[0]", "credentials[1]", "credentials[1].accounts",
			"credentials[2].permissions[0]", "credentials[2].accounts[0]",
			"validation.rtr", "timing.time_factor", "timing.withdraw",
		}},
		{name: "no validation source", in: "version: 1\n", paths: []string{"validation"}},
		{name: "etcd", in: `
version: 1
validation: {auto_valid: true}
state:
  etcd:
    endpoints: ["127.0.0.1:2379", "http://127.0.0.1:2379", "unix:///run/etcd.sock", "http://[::1]", "https://etcd.example.com:2379/v3", "http://%zz"]
    username: root
    dial_timeout: -1s
`, paths: []string{
			"state.etcd.endpoints[0]", "state.etcd.endpoints[2]", "state.etcd.endpoints[3]",
			"state.etcd.endpoints[4]", "state.etcd.endpoints[5]", "state.etcd", "state.etcd.dial_timeout",
		}},
		{name: "rate limit", in: "version: 1\nvalidation: {auto_valid: true}\napi: {rate_limit: {requests: -1, window: -5m}}\n",
			paths: []string{"api.rate_limit.requests", "api.rate_limit.window"}},
		{name: "rate limit unknown field", in: "version: 1\nvalidation: {auto_valid: true}\napi: {rate_limit: {per_minute: 5}}\n", text: "field per_minute not found"},
		{name: "etcd without endpoints", in: "version: 1\nvalidation: {auto_valid: true}\nstate: {etcd: {prefix: /edgesim/}}\n", paths: []string{"state.etcd.endpoints"}},
		{name: "bgp", in: `
version: 1
validation: {auto_valid: true}
bgp:
  router_id: 2001:db8::1
  listen_port: 70000
  next_hop4: "2001:db8::1"
  communities: ["13335:70000", "x"]
  large_communities: ["1:2"]
  peers:
    - {address: 192.0.2.2}
    - {address: 192.0.2.2, peer_as: 65001, hold_time: 2s}
    - {address: nope, peer_as: 65001, hold_time: 9s, keepalive: 9s}
`, paths: []string{
			"bgp.router_id", "bgp.listen_port", "bgp.next_hop4",
			"bgp.communities[0]", "bgp.communities[1]", "bgp.large_communities[0]",
			"bgp.peers[0].peer_as", "bgp.peers[1].address", "bgp.peers[1].hold_time",
			"bgp.peers[2].address", "bgp.peers[2].keepalive",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			if tt.text != "" {
				if !strings.Contains(err.Error(), tt.text) {
					t.Fatalf("Decode error = %q, want it to contain %q", err, tt.text)
				}
				return
			}
			var paths []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FieldError", e)
				}
				paths = append(paths, fe.Path)
			}
			if !slices.Equal(paths, tt.paths) {
				t.Errorf("field paths:\n got %q\nwant %q\nfull error:\n%v", paths, tt.paths, err)
			}
		})
	}
}

func TestDefaultsApplied(t *testing.T) {
	t.Parallel()
	d, err := Decode(strings.NewReader("version: 1\nvalidation: {auto_valid: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Listen.API != "127.0.0.1:8080" || d.State.Path != "var/edgesim.db" {
		t.Errorf("defaults: listen.api=%q state.path=%q", d.Listen.API, d.State.Path)
	}
	if d.Listen.Proxy || d.Listen.AnyIP {
		t.Errorf("defaults: listen.proxy=%v listen.anyip=%v, want both off", d.Listen.Proxy, d.Listen.AnyIP)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		enabled bool
		window  time.Duration
	}{
		{"absent", "", false, DefaultRateWindow},
		{"zero is off", "api: {rate_limit: {requests: 0, window: 1m}}\n", false, time.Minute},
		{"cloudflare", "api: {rate_limit: {requests: 1200, window: 5m}}\n", true, 5 * time.Minute},
		{"default window", "api: {rate_limit: {requests: 10}}\n", true, DefaultRateWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decode(strings.NewReader("version: 1\nvalidation: {auto_valid: true}\n" + tt.in))
			if err != nil {
				t.Fatal(err)
			}
			rl := d.API.RateLimit
			if rl.Enabled() != tt.enabled || rl.WindowOrDefault() != tt.window {
				t.Errorf("rate_limit %+v: Enabled() = %v, WindowOrDefault() = %v; want %v, %v", rl, rl.Enabled(), rl.WindowOrDefault(), tt.enabled, tt.window)
			}
		})
	}
	if Demo().API.RateLimit.Enabled() {
		t.Error("the demo config limits the API rate; the walkthrough and labs expect it off")
	}
}

func TestStateEtcd(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	e := d.State.Etcd
	if e == nil {
		t.Fatal("state.etcd not decoded")
	}
	want := EtcdState{
		Endpoints: []string{"http://127.0.0.1:2379", "https://[2001:db8::1]:2379"},
		Prefix:    "/edgesim/lab/", Username: "edged", Password: "s3cret",
		DialTimeout: Duration(2 * time.Second),
	}
	if !slices.Equal(e.Endpoints, want.Endpoints) || e.Prefix != want.Prefix || e.Username != want.Username ||
		e.Password != want.Password || e.DialTimeout != want.DialTimeout {
		t.Errorf("state.etcd = %+v, want %+v", *e, want)
	}
}

func TestListenSwitches(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/listen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Listen{API: "127.0.0.1:8080", DNS: "127.0.0.1:8053", Proxy: true, AnyIP: true}); d.Listen != want {
		t.Errorf("listen = %+v, want %+v", d.Listen, want)
	}
}

// TestExamples decodes every example config in testdata: *.yaml must be
// valid, *.bad.yaml must fail.
func TestExamples(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs in testdata")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(bytes.NewReader(b))
		if bad := strings.HasSuffix(f, ".bad.yaml"); bad != (err != nil) {
			t.Errorf("%s: Decode error = %v", f, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(DemoYAML())
	f.Add([]byte("version: 1\nvalidation: {auto_valid: true}\n"))
	f.Add([]byte("{\"version\": 1, \"validation\": {\"auto_valid\": true}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Anything accepted must validate again and name known accounts only.
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
	})
}
