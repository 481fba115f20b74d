package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// defaultTimeout is Options.Timeout when it is zero.
const defaultTimeout = 2 * time.Second

// Options configures a Validator. Every source is optional; a check with no
// configured source reports missing.
type Options struct {
	// IRRFiles are RPSL files (IRR dumps or whois output) holding route
	// and route6 objects. All files are searched.
	IRRFiles []string
	// ROAFile is a VRP export in rpki-client or stayrtr JSON form; see
	// ParseROAJSON.
	ROAFile string
	// RTRAddr is the host:port of an RFC 8210 RTR cache such as stayrtr.
	// Its VRPs are added to those of ROAFile.
	RTRAddr string
	// DNSServer is the host:port of the DNS server asked for TXT
	// cf-validation.<reverse zone> records.
	DNSServer string
	// Timeout bounds each DNS query, the RTR dial and writes, and how long
	// Validate waits for the first RTR End of Data. Zero means 2s.
	Timeout time.Duration
	// Logger receives logs with component=registry. Nil discards them.
	Logger *slog.Logger
}

func (o *Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return defaultTimeout
	}
	return o.Timeout
}

// fileStamp identifies one version of a file cheaply.
type fileStamp struct {
	size    int64
	modTime time.Time
}

// fileData is the parsed content of all files. It is immutable once
// published.
type fileData struct {
	irr    map[netip.Prefix][]route
	roas   vrpIndex
	stamps []fileStamp // IRRFiles in order, then ROAFile if set
}

// Validator answers the IRR, RPKI and ownership checks for prefixes.
// Create it with New; the zero value is not usable. It is safe for
// concurrent use. Close stops the RTR client.
type Validator struct {
	opts Options
	log  *slog.Logger
	rtr  *rtrClient // nil without RTRAddr

	mu   sync.Mutex // serialises reloads
	data atomic.Pointer[fileData]

	closeOnce sync.Once
}

// New loads the IRR and ROA files and, if RTRAddr is set, starts an RTR
// client in the background. The client runs until Close is called or ctx
// is cancelled; New does not wait for it (see WaitSynced). It returns an
// error if a file cannot be read or parsed.
func New(ctx context.Context, opts Options) (*Validator, error) {
	opts.IRRFiles = append([]string(nil), opts.IRRFiles...)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	v := &Validator{opts: opts, log: log.With("component", "registry")}
	if err := v.Reload(); err != nil {
		return nil, err
	}
	if opts.RTRAddr != "" {
		v.rtr = startRTR(ctx, opts.RTRAddr, opts.timeout(), v.log)
	}
	return v, nil
}

// Close stops the RTR client and waits for it to exit. It is safe to call
// more than once.
func (v *Validator) Close() error {
	v.closeOnce.Do(func() {
		if v.rtr != nil {
			v.rtr.close()
		}
	})
	return nil
}

// WaitSynced blocks until the RTR client has received its first End of
// Data, or ctx is done. It returns nil at once without RTRAddr.
func (v *Validator) WaitSynced(ctx context.Context) error {
	if v.rtr == nil {
		return nil
	}
	return v.rtr.wait(ctx)
}

// Reload re-reads every file. On error the previously loaded data stays in
// use. Validate also reloads by itself when a file's size or modification
// time changed, so calling Reload is only needed to force a re-read.
func (v *Validator) Reload() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reloadLocked()
}

func (v *Validator) reloadLocked() error {
	d := &fileData{irr: make(map[netip.Prefix][]route), roas: make(vrpIndex)}
	var errs []error
	for _, name := range v.opts.IRRFiles {
		b, st, err := readFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.stamps = append(d.stamps, st)
		for _, o := range ParseRPSL(b) {
			if r, ok := routeOf(o); ok {
				d.irr[r.prefix] = append(d.irr[r.prefix], r)
			}
		}
	}
	if name := v.opts.ROAFile; name != "" {
		b, st, err := readFile(name)
		if err != nil {
			errs = append(errs, err)
		} else {
			d.stamps = append(d.stamps, st)
			vrps, err := ParseROAJSON(b)
			if err != nil {
				errs = append(errs, fmt.Errorf("parsing roa file %q: %w", name, err))
			}
			for _, x := range vrps {
				d.roas.add(x)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	v.data.Store(d)
	v.log.Debug("registry files loaded", "irr_prefixes", len(d.irr), "roa_prefixes", len(d.roas))
	return nil
}

func readFile(name string) ([]byte, fileStamp, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("reading %q: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("reading %q: %w", name, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("reading %q: %w", name, err)
	}
	return b, fileStamp{size: fi.Size(), modTime: fi.ModTime()}, nil
}

// files returns the current file data, reloading first if any file changed
// on disk.
func (v *Validator) files() (*fileData, error) {
	if d := v.data.Load(); !v.changed(d) {
		return d, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d := v.data.Load(); !v.changed(d) {
		return d, nil
	}
	if err := v.reloadLocked(); err != nil {
		return nil, fmt.Errorf("reloading registry files: %w", err)
	}
	return v.data.Load(), nil
}

func (v *Validator) changed(d *fileData) bool {
	names := v.opts.IRRFiles
	if v.opts.ROAFile != "" {
		names = append(names[:len(names):len(names)], v.opts.ROAFile)
	}
	if len(names) != len(d.stamps) {
		return true
	}
	for i, name := range names {
		fi, err := os.Stat(name)
		if err != nil || fi.Size() != d.stamps[i].size || !fi.ModTime().Equal(d.stamps[i].modTime) {
			return true
		}
	}
	return false
}

// Validate runs the three checks for prefix p originated by asn with the
// ownership token. It returns an error, and no states, when a configured
// source cannot be used: a file that fails to (re)load, an RTR cache that
// has not synced within Timeout (or ctx) or whose data expired, or a DNS
// query that fails. p must be a valid, masked prefix.
func (v *Validator) Validate(ctx context.Context, p netip.Prefix, asn uint32, token string) (Result, error) {
	if !p.IsValid() || p.Addr().Is4In6() || p.Masked() != p {
		return Result{}, fmt.Errorf("validating prefix %q: not a valid masked prefix", p)
	}
	d, err := v.files()
	if err != nil {
		return Result{}, fmt.Errorf("validating prefix %s: %w", p, err)
	}
	routes := d.irr[p]
	res := Result{IRR: irrState(routes, asn)}

	idxs := []vrpIndex{d.roas}
	if v.rtr != nil {
		wctx, cancel := context.WithTimeout(ctx, v.opts.timeout())
		err := v.rtr.wait(wctx)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("validating prefix %s: %w", p, err)
		}
		s, err := v.rtr.current(time.Now())
		if err != nil {
			return Result{}, fmt.Errorf("validating prefix %s: %w", p, err)
		}
		idxs = append(idxs, s.vrps)
	}
	res.RPKI = rpkiState(p, asn, idxs...)

	res.Ownership, err = v.ownership(ctx, p, routes, token)
	if err != nil {
		return Result{}, fmt.Errorf("validating prefix %s: %w", p, err)
	}
	v.log.Debug("prefix validated", "prefix", p, "asn", asn, "irr", res.IRR, "rpki", res.RPKI, "ownership", res.Ownership)
	return res, nil
}

// ownership: an empty token is invalid; the token in a route object for
// exactly p is valid; otherwise the reverse-DNS result decides, except that
// a wrong token in the IRR turns missing into invalid.
func (v *Validator) ownership(ctx context.Context, p netip.Prefix, routes []route, token string) (State, error) {
	if token == "" {
		return StateInvalid, nil
	}
	found, present := irrOwnership(routes, token)
	if found {
		return StateValid, nil
	}
	st := StateMissing
	if v.opts.DNSServer != "" {
		var err error
		st, err = dnsOwnership(ctx, v.opts.DNSServer, v.opts.timeout(), ReverseZones(p), token)
		if err != nil {
			return "", err
		}
	}
	if st == StateMissing && present {
		return StateInvalid, nil
	}
	return st, nil
}
