package registry

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets act as unit tests over their seeds (and testdata/fuzz/)
// when run without -fuzz.

func FuzzParseRPSL(f *testing.F) {
	for _, tt := range rpslTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		objs := ParseRPSL([]byte(in))
		for _, o := range objs {
			if len(o.Attrs) == 0 {
				t.Fatalf("object without attributes: %+v", o)
			}
			for _, a := range o.Attrs {
				if a.Name != strings.ToLower(a.Name) || !validAttrName(a.Name) {
					t.Fatalf("bad attribute name %q", a.Name)
				}
				if strings.ContainsAny(a.Value, "\n#") {
					t.Fatalf("value %q keeps a newline or comment", a.Value)
				}
			}
			// routeOf must not panic on anything the parser returns.
			if r, ok := routeOf(o); ok && r.prefix.Masked() != r.prefix {
				t.Fatalf("route prefix %s not masked", r.prefix)
			}
		}
	})
}

func FuzzParseROAJSON(f *testing.F) {
	for _, tt := range roaJSONTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		vrps, err := ParseROAJSON([]byte(in))
		if err != nil {
			return
		}
		for _, v := range vrps {
			if err := v.check(); err != nil {
				t.Fatalf("ParseROAJSON returned bad VRP %v: %v", v, err)
			}
		}
		// Round trip through the rpki-client shape.
		type entry struct {
			Prefix string `json:"prefix"`
			MaxLen uint8  `json:"maxLength"`
			ASN    uint32 `json:"asn"`
		}
		doc := struct {
			ROAs []entry `json:"roas"`
		}{ROAs: []entry{}}
		for _, v := range vrps {
			doc.ROAs = append(doc.ROAs, entry{v.Prefix.String(), v.MaxLen, v.ASN})
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseROAJSON(b)
		if err != nil || len(again) != len(vrps) || (len(vrps) > 0 && !reflect.DeepEqual(again, vrps)) {
			t.Fatalf("round trip of %v = (%v, %v)", vrps, again, err)
		}
	})
}

func FuzzParsePDU(f *testing.F) {
	for _, tt := range pduTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, n, err := ParsePDU(in)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParsePDU error %v with n = %d", err, n)
			}
			if errors.Is(err, ErrShortPDU) && len(in) >= pduHeaderLen {
				if want, lerr := PDULen(in); lerr != nil || want <= len(in) {
					t.Fatalf("ErrShortPDU for %d bytes, PDULen = %d, %v", len(in), want, lerr)
				}
			}
			return
		}
		if n < pduHeaderLen || n > len(in) {
			t.Fatalf("ParsePDU consumed %d of %d bytes", n, len(in))
		}
		enc := AppendPDU(nil, p)
		if len(enc) != n {
			t.Fatalf("AppendPDU(%+v) is %d bytes, parsed %d", p, len(enc), n)
		}
		again, m, err := ParsePDU(enc)
		if err != nil || m != n || !reflect.DeepEqual(again, p) {
			t.Fatalf("ParsePDU(AppendPDU(%+v)) = (%+v, %d, %v)", p, again, m, err)
		}
	})
}
