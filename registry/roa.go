package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// VRP is a validated ROA payload: an ASN authorised to originate Prefix and
// its more-specifics up to MaxLen bits.
type VRP struct {
	Prefix netip.Prefix // masked; IPv4 or IPv6, never IPv4-mapped
	MaxLen uint8        // Prefix.Bits() <= MaxLen <= 32 or 128
	ASN    uint32
}

// String formats v as "192.0.2.0/24-24 AS64496".
func (v VRP) String() string {
	return fmt.Sprintf("%s-%d AS%d", v.Prefix, v.MaxLen, v.ASN)
}

func (v VRP) check() error {
	if !v.Prefix.IsValid() {
		return errors.New("invalid prefix")
	}
	if v.Prefix.Addr().Is4In6() {
		return fmt.Errorf("prefix %s is IPv4-mapped", v.Prefix)
	}
	if v.Prefix.Masked() != v.Prefix {
		return fmt.Errorf("prefix %s has host bits set", v.Prefix)
	}
	if int(v.MaxLen) < v.Prefix.Bits() || int(v.MaxLen) > v.Prefix.Addr().BitLen() {
		return fmt.Errorf("maxLength %d out of range for %s", v.MaxLen, v.Prefix)
	}
	return nil
}

type roaJSON struct {
	Prefix    string          `json:"prefix"`
	MaxLength json.RawMessage `json:"maxLength"`
	ASN       json.RawMessage `json:"asn"`
}

// maxROAErrors bounds how many per-entry problems ParseROAJSON reports.
const maxROAErrors = 10

// ParseROAJSON parses a VRP export as written by rpki-client ("asn": 64496),
// stayrtr/gortr/OctoRPKI and Routinator ("asn": "AS64496"):
//
//	{"metadata": {...}, "roas": [{"prefix": "192.0.2.0/24", "maxLength": 24, "asn": "AS64496", "ta": "..."}]}
//
// A bare top-level array of entries is accepted too. Unknown fields are
// ignored; "maxLength" defaults to the prefix length. Any bad entry fails
// the whole file (so a reload keeps the previous data); up to
// maxROAErrors problems are reported at once. ParseROAJSON never panics.
func ParseROAJSON(data []byte) ([]VRP, error) {
	var entries []roaJSON
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	dec := json.NewDecoder(bytes.NewReader(data))
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := dec.Decode(&entries); err != nil {
			return nil, fmt.Errorf("decoding roa json: %w", err)
		}
	} else {
		var doc struct {
			ROAs *[]roaJSON `json:"roas"`
		}
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("decoding roa json: %w", err)
		}
		if doc.ROAs == nil {
			return nil, errors.New(`decoding roa json: no "roas" array`)
		}
		entries = *doc.ROAs
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding roa json: trailing data after json value")
	}
	vrps := make([]VRP, 0, len(entries))
	var errs []error
	for i, e := range entries {
		v, err := e.vrp()
		if err != nil {
			if len(errs) < maxROAErrors {
				errs = append(errs, fmt.Errorf("roas[%d]: %w", i, err))
			}
			continue
		}
		vrps = append(vrps, v)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return vrps, nil
}

func (e roaJSON) vrp() (VRP, error) {
	p, err := netip.ParsePrefix(e.Prefix)
	if err != nil {
		return VRP{}, fmt.Errorf("parsing prefix %q: %w", e.Prefix, err)
	}
	v := VRP{Prefix: p, MaxLen: uint8(p.Bits())}
	if len(e.ASN) == 0 || string(e.ASN) == "null" {
		return VRP{}, errors.New("missing asn")
	}
	if e.ASN[0] == '"' {
		var s string
		if err := json.Unmarshal(e.ASN, &s); err != nil {
			return VRP{}, fmt.Errorf("parsing asn %s: %w", e.ASN, err)
		}
		if v.ASN, err = parseASN(s, false); err != nil {
			return VRP{}, fmt.Errorf("parsing asn %q: %w", s, err)
		}
	} else {
		n, err := strconv.ParseUint(string(e.ASN), 10, 32)
		if err != nil {
			return VRP{}, fmt.Errorf("parsing asn %s: bad AS number", truncate(string(e.ASN), 32))
		}
		v.ASN = uint32(n)
	}
	if len(e.MaxLength) > 0 && string(e.MaxLength) != "null" {
		n, err := strconv.ParseUint(string(e.MaxLength), 10, 8)
		if err != nil {
			return VRP{}, fmt.Errorf("parsing maxLength %s: bad number", truncate(string(e.MaxLength), 32))
		}
		v.MaxLen = uint8(n)
	}
	if err := v.check(); err != nil {
		return VRP{}, err
	}
	return v, nil
}
