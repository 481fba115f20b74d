package registry_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/edgesim/edgesim/registry"
)

func Example() {
	dir, err := os.MkdirTemp("", "registry-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	irr := filepath.Join(dir, "irr.rpsl")
	roa := filepath.Join(dir, "vrps.json")
	os.WriteFile(irr, []byte(`route:   192.0.2.0/24
descr:   example
remarks: cf-validation: 1234a5b6-1234-1abc-12a3-1234a5b6789c
origin:  AS13335
source:  TEST
`), 0o644)
	os.WriteFile(roa, []byte(`{"roas":[{"prefix":"192.0.2.0/24","maxLength":24,"asn":"AS13335","ta":"test"}]}`), 0o644)

	ctx := context.Background()
	v, err := registry.New(ctx, registry.Options{IRRFiles: []string{irr}, ROAFile: roa})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	p := netip.MustParsePrefix("192.0.2.0/24")
	res, err := v.Validate(ctx, p, 13335, "1234a5b6-1234-1abc-12a3-1234a5b6789c")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.IRR, res.RPKI, res.Ownership, res.Valid())

	res, err = v.Validate(ctx, p, 64496, "other-token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.IRR, res.RPKI, res.Ownership, res.Valid())
	// Output:
	// valid valid valid true
	// mismatch_asn mismatch_asn invalid false
}

func ExampleReverseZones() {
	for _, s := range []string{"192.0.2.0/24", "2001:db8::/34"} {
		fmt.Println(s, registry.ReverseZones(netip.MustParsePrefix(s)))
	}
	// Output:
	// 192.0.2.0/24 [2.0.192.in-addr.arpa.]
	// 2001:db8::/34 [0.8.b.d.0.1.0.0.2.ip6.arpa. 1.8.b.d.0.1.0.0.2.ip6.arpa. 2.8.b.d.0.1.0.0.2.ip6.arpa. 3.8.b.d.0.1.0.0.2.ip6.arpa.]
}
