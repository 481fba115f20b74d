package api

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesim/edgesim/config"
)

const (
	tableBegin = "<!-- codes:begin (generated from codes.go by go test ./api -run TestCodeTable -update) -->"
	tableEnd   = "<!-- codes:end -->"
)

// codeTable renders the Code constants of codes.go, with their comments, as
// a Markdown table, and checks that no number is used twice.
func codeTable(t *testing.T) string {
	t.Helper()
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, "codes.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| Code | Name | HTTP status: meaning |\n|---:|---|---|\n")
	seen := map[int]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			lit := vs.Values[0].(*ast.BasicLit)
			n, _ := strconv.Atoi(lit.Value)
			name := vs.Names[0].Name
			if prev, dup := seen[n]; dup {
				t.Errorf("code %d used by %s and %s", n, prev, name)
			}
			seen[n] = name
			if vs.Comment == nil {
				t.Errorf("%s has no comment", name)
				continue
			}
			fmt.Fprintf(&b, "| %d | `%s` | %s |\n", n, name, strings.TrimSpace(vs.Comment.Text()))
		}
	}
	return b.String()
}

func TestCodeTable(t *testing.T) {
	t.Parallel()
	table := codeTable(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", tableBegin, tableEnd)
	}
	want := tableBegin + "\n" + table + tableEnd
	if s[i:j+len(tableEnd)] == want {
		return
	}
	if !*update {
		t.Fatal("README.md code table is out of date with codes.go (run go test ./api -run TestCodeTable -update)")
	}
	if err := os.WriteFile("README.md", []byte(s[:i]+want+s[j+len(tableEnd):]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEveryRuleHasACode: config rules without a code would answer 400 with
// CodeInternal.
func TestEveryRuleHasACode(t *testing.T) {
	t.Parallel()
	for _, r := range []config.Rule{
		config.RuleCIDRInvalid, config.RuleCIDRNotCanonical, config.RuleCIDRTooSpecific, config.RuleASNInvalid,
		config.RuleDescriptionTooLong, config.RulePrefixOverlapsForeign, config.RulePrefixOverlapsOwn,
		config.RulePrefixApproved, config.RulePrefixNotApproved, config.RuleDelegationOutside, config.RuleDelegationToOwner,
		config.RuleDelegationUnknownAccount, config.RuleDelegationOverlap, config.RuleBindingFirstNotPrefix,
		config.RuleBindingOutside, config.RuleMagicTransitNotDefault, config.RuleBindingDuplicate, config.RuleUnknownService,
		config.RuleDefaultBindingInUse, config.RuleDefaultBindingAdvertised, config.RuleBGPPrefixOutside,
		config.RuleBGPPrefixDuplicate, config.RuleAdvertiseNoDefault, config.RuleOnDemandLocked, config.RuleBGPNotReady,
		config.RuleToggleTooSoon, config.RuleASNPrependRange, config.RuleNoBGPPrefix,
		config.RuleSpectrumProtocol, config.RuleSpectrumOrigin, config.RuleSpectrumOriginScheme, config.RuleSpectrumOriginRange,
		config.RuleSpectrumOriginChoice, config.RuleSpectrumOriginPort, config.RuleSpectrumOriginDNS, config.RuleSpectrumProxyProtocol,
		config.RuleSpectrumTCPOnly, config.RuleSpectrumTLS, config.RuleSpectrumTrafficType, config.RuleSpectrumEdgeIPs,
		config.RuleSpectrumEdgeIPNotOwned, config.RuleSpectrumEdgeIPUnbound, config.RuleSpectrumDNS, config.RuleSpectrumDNSOutsideZone,
		config.RuleSpectrumDNSTypeMode, config.RuleSpectrumHostnameIPs, config.RuleSpectrumPortConflict, config.RuleSpectrumPoolExhausted,
		config.RuleZoneName, config.RuleZoneDuplicate, config.RuleZoneVanityNS, config.RuleDNSRecordType, config.RuleDNSRecordName, config.RuleDNSRecordContent,
		config.RuleDNSRecordTTL, config.RuleDNSRecordProxied, config.RuleDNSRecordConflict, config.RuleDNSRecordComment,
		config.RuleAddressMapIP, config.RuleAddressMapIPNotOwned, config.RuleAddressMapManaged, config.RuleAddressMapEnabled,
		config.RuleAddressMapMembership, config.RuleAddressMapSNI,
		config.RuleAccessRuleMode, config.RuleAccessRuleTarget, config.RuleAccessRuleValue, config.RuleAccessRuleDuplicate,
		config.RuleSpectrumNameTaken, config.RuleDNSRecordSpectrum, config.RuleLOANotPDF,
	} {
		if _, ok := ruleCodes[r]; !ok {
			t.Errorf("rule %q has no code", r)
		}
	}
}
