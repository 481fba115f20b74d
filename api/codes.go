package api

import (
	"fmt"
	"net/http"

	"github.com/edgesim/edgesim/config"
)

// Code is a stable numeric error code in the envelope's errors[].code.
// Clients branch on codes, never on messages. A number, once assigned, keeps
// its meaning forever and is never reused. Codes 971, 6003, 7000, 7003,
// 9106, 9109 and 10000 follow codes observed from Cloudflare's API (971 is
// below the OpenAPI schema's minimum of 1000, but it is what the API sends
// with a rate-limit 429); 1000-2999 are edgesim's own.
type Code int

// Every code the API answers with. The README's code table is copied from
// this block; TestCodeTable keeps the two in sync.
const (
	// Generic and wire-level codes.
	CodeInternal         Code = 1000  // 500: an unexpected server error (details only in the log)
	CodeBadJSON          Code = 1001  // 400: the body is not valid JSON, or has trailing data
	CodeUnknownField     Code = 1002  // 400: the body has a field the endpoint does not know
	CodeBodyTooLarge     Code = 1003  // 413: the body is larger than 1 MiB
	CodeMissingField     Code = 1004  // 400: a required field is missing or null
	CodeFieldType        Code = 1005  // 400: a field has the wrong JSON type
	CodeBadQuery         Code = 1006  // 400: a query parameter (page, per_page, order, direction) is invalid
	CodeBadHeaders       Code = 6003  // 400: malformed Authorization header
	CodeNoRoute          Code = 7000  // 404: no route for that URI
	CodeMethodNotAllowed Code = 7001  // 405: the route exists but not for this method
	CodeNotFound         Code = 7003  // 404: unknown object ID, or an account the credential cannot reach
	CodeMissingAuth      Code = 9106  // 400: no X-Auth-Email+X-Auth-Key and no Authorization: Bearer
	CodeForbidden        Code = 9109  // 403: the token lacks the permission the route needs
	CodeAuth             Code = 10000 // 403: unknown key, email or token
	CodeRateLimited      Code = 971   // 429: over api.rate_limit for the credential (or an injected 429 fault); wait Retry-After seconds

	// Prefixes.
	CodeCIDRInvalid          Code = 1101 // 400: cidr is not an IP prefix
	CodeCIDRNotCanonical     Code = 1102 // 400: cidr has host bits set
	CodeCIDRTooSpecific      Code = 1103 // 400: prefix or bgp prefix longer than /24 (IPv4) or /48 (IPv6)
	CodeASNInvalid           Code = 1104 // 400: asn outside 1..4294967295
	CodeDescriptionTooLong   Code = 1105 // 400: description longer than 1000 characters
	CodePrefixOverlapForeign Code = 1106 // 409: cidr overlaps another account's prefix
	CodePrefixOverlapOwn     Code = 1107 // 409: cidr duplicates or overlaps one of the account's prefixes
	CodePrefixApproved       Code = 1108 // 409: an approved prefix cannot be deleted
	CodePrefixNotApproved    Code = 1109 // 400: delegations, bindings, bgp prefixes and advertising need an approved prefix

	// Delegations.
	CodeDelegationOutside        Code = 1201 // 400: delegated cidr not inside the prefix
	CodeDelegationToOwner        Code = 1202 // 400: delegated_account_id is the prefix's own account
	CodeDelegationUnknownAccount Code = 1203 // 400: delegated_account_id does not exist
	CodeDelegationOverlap        Code = 1204 // 409: overlaps another delegation of the prefix

	// Service bindings.
	CodeBindingFirstNotPrefix    Code = 1301 // 400: the first binding must equal the prefix cidr
	CodeBindingOutside           Code = 1302 // 400: later bindings must be strictly inside the prefix
	CodeMagicTransitNotDefault   Code = 1303 // 400: Magic Transit only as the default binding
	CodeBindingDuplicate         Code = 1304 // 409: a binding for that cidr exists
	CodeUnknownService           Code = 1305 // 400: service_id names no service
	CodeDefaultBindingInUse      Code = 1306 // 409: delete the more-specific bindings before the default one
	CodeDefaultBindingAdvertised Code = 1307 // 409: withdraw the bgp prefixes before deleting the default binding

	// BGP prefixes and advertisement.
	CodeBGPPrefixOutside   Code = 1401 // 400: bgp prefix not inside the prefix
	CodeBGPPrefixDuplicate Code = 1402 // 409: a bgp prefix for that cidr exists
	CodeAdvertiseNoDefault Code = 1403 // 400: advertising needs the default binding
	CodeOnDemandLocked     Code = 1404 // 400: the advertisement is locked (on_demand_locked)
	CodeBGPNotReady        Code = 1405 // 400: too early after the default binding (ready_after)
	CodeToggleTooSoon      Code = 1406 // 400: within min_toggle_interval of the last change
	CodeASNPrependRange    Code = 1407 // 400: asn_prepend_count outside 0..3
	CodeNoBGPPrefix        Code = 1408 // 400: bgp/status PATCH before the prefix has its own bgp prefix

	// Spectrum apps.
	CodeSpectrumProtocol       Code = 1701 // 400: protocol is not tcp|udp/PORT or tcp|udp/LOW-HIGH (1-65535, LOW < HIGH)
	CodeSpectrumOrigin         Code = 1702 // 400: an origin_direct URI is not tcp|udp://IP:PORT or IP:LOW-HIGH
	CodeSpectrumOriginScheme   Code = 1703 // 400: an origin_direct scheme differs from the protocol's transport
	CodeSpectrumOriginRange    Code = 1704 // 400: an origin port range has a different size than the edge range
	CodeSpectrumOriginChoice   Code = 1705 // 400: set exactly one of origin_direct and origin_dns
	CodeSpectrumOriginPort     Code = 1706 // 400: origin_port is invalid or set without origin_dns
	CodeSpectrumOriginDNS      Code = 1707 // 400: origin_dns name, ttl or type is invalid
	CodeSpectrumProxyProtocol  Code = 1708 // 400: proxy_protocol unknown, or v1 on udp, or simple on tcp
	CodeSpectrumTCPOnly        Code = 1709 // 400: ip_firewall or argo_smart_routing on a udp app
	CodeSpectrumTLS            Code = 1710 // 400: tls is not off, flexible, full or strict
	CodeSpectrumTrafficType    Code = 1711 // 400: traffic_type is not direct, http or https
	CodeSpectrumEdgeIPs        Code = 1712 // 400: edge_ips type, connectivity or ips malformed
	CodeSpectrumEdgeIPNotOwned Code = 1713 // 400: a static edge ip is not in a prefix owned by or delegated to the zone's account
	CodeSpectrumEdgeIPUnbound  Code = 1714 // 400: strict mode: a static edge ip has no active Spectrum binding (otherwise a warning in messages)
	CodeSpectrumDNS            Code = 1715 // 400: dns type is not ADDRESS or CNAME, or the name is not a DNS name
	CodeSpectrumDNSOutsideZone Code = 1716 // 400: dns name is not the zone or inside it
	CodeSpectrumDNSTypeMode    Code = 1717 // 400: strict mode: static edge ips need ADDRESS dns, dynamic need CNAME
	CodeSpectrumHostnameIPs    Code = 1718 // 409: another app with the same dns name uses other edge ips
	CodeSpectrumPortConflict   Code = 1719 // 409: another app serves the same edge ip, transport and port
	CodeSpectrumPoolExhausted  Code = 1720 // 400: no free anycast pool address for a dynamic app (or no pool configured)
	CodeSpectrumNameTaken      Code = 1721 // 409: a DNS record of the zone has the app's dns name

	// Zones and DNS records.
	CodeZoneName          Code = 1801 // 400: zone name is not a DNS name with two labels, or type is not full
	CodeZoneDuplicate     Code = 1802 // 409: a zone of that name exists
	CodeZoneConfigured    Code = 1803 // 400: a zone of the daemon config (zones:) cannot be edited or deleted through the API
	CodeZoneImmutable     Code = 1804 // 400: a zone PATCH names a read-only zone field (name, account, status, ...)
	CodeZoneEditOne       Code = 1805 // 400: a zone PATCH must change exactly one of paused, type and vanity_name_servers
	CodeZoneVanityNS      Code = 1806 // 400: vanity_name_servers are not distinct DNS names (at most 10)
	CodeDNSRecordType     Code = 1811 // 400: record type is not A, AAAA, CNAME or TXT
	CodeDNSRecordName     Code = 1812 // 400: record name is not a DNS name
	CodeDNSRecordContent  Code = 1813 // 400: content does not fit the type (IPv4, IPv6, hostname, 1-2048 characters)
	CodeDNSRecordTTL      Code = 1814 // 400: ttl is not 1 (automatic) or 60..86400
	CodeDNSRecordProxied  Code = 1815 // 400: only A, AAAA and CNAME records can be proxied
	CodeDNSRecordConflict Code = 1816 // 409: an identical record exists, or a CNAME would share its name
	CodeDNSRecordComment  Code = 1817 // 400: comment longer than 100 characters
	CodeDNSRecordSpectrum Code = 1818 // 409: the name belongs to a Spectrum app (its dns name or CNAME target)

	// Address maps.
	CodeAddressMapIP         Code = 1901 // 400: not an IP address (body or path)
	CodeAddressMapIPNotOwned Code = 1902 // 400: ip not in a prefix owned by or delegated to the account
	CodeAddressMapManaged    Code = 1903 // 400: a managed map (can_delete/can_modify_ips false) cannot be changed that way
	CodeAddressMapEnabled    Code = 1904 // 409: an enabled map cannot be deleted; disable it first
	CodeAddressMapMembership Code = 1905 // 400: membership kind not zone/account, or a zone/account outside the map's account
	CodeAddressMapSNI        Code = 1906 // 400: default_sni is not a DNS name

	// IP access rules.
	CodeAccessRuleMode      Code = 2001 // 400: mode is not block, challenge, whitelist, js_challenge or managed_challenge
	CodeAccessRuleTarget    Code = 2002 // 400: target is not ip, ip6 or ip_range (asn and country are not simulated)
	CodeAccessRuleValue     Code = 2003 // 400: value does not fit the target (ip_range: IPv4 /16 or /24, IPv6 /32, /48 or /64)
	CodeAccessRuleDuplicate Code = 2004 // 409: the zone or account has a rule for that value

	// LOA documents.
	CodeLOANotPDF   Code = 2101 // 400: the loa_document is empty or not a PDF (%PDF- header)
	CodeLOATooLarge Code = 2102 // 413: the loa_document is larger than 750 KiB (768000 bytes; what one store value holds)
	CodeLOAFilename Code = 2103 // 400: the loa_document's filename is longer than 255 bytes

	// Admin API.
	CodeAdminBadDuration Code = 1601 // 400: fast-forward duration missing, unparsable or not positive
	CodeAdminBadIP       Code = 1602 // 400: lookup address is not an IP address
	CodeAdminBadFault    Code = 1603 // 400: a fault's status, count, retry_after or match is invalid
	CodeInjectedFault    Code = 1604 // the fault's status (not 429): an injected fault (POST /admin/v1/faults) answered the request
)

// ruleCodes maps each config rule to its HTTP status and code.
var ruleCodes = map[config.Rule]struct {
	status int
	code   Code
}{
	config.RuleCIDRInvalid:              {http.StatusBadRequest, CodeCIDRInvalid},
	config.RuleCIDRNotCanonical:         {http.StatusBadRequest, CodeCIDRNotCanonical},
	config.RuleCIDRTooSpecific:          {http.StatusBadRequest, CodeCIDRTooSpecific},
	config.RuleASNInvalid:               {http.StatusBadRequest, CodeASNInvalid},
	config.RuleDescriptionTooLong:       {http.StatusBadRequest, CodeDescriptionTooLong},
	config.RulePrefixOverlapsForeign:    {http.StatusConflict, CodePrefixOverlapForeign},
	config.RulePrefixOverlapsOwn:        {http.StatusConflict, CodePrefixOverlapOwn},
	config.RulePrefixApproved:           {http.StatusConflict, CodePrefixApproved},
	config.RulePrefixNotApproved:        {http.StatusBadRequest, CodePrefixNotApproved},
	config.RuleDelegationOutside:        {http.StatusBadRequest, CodeDelegationOutside},
	config.RuleDelegationToOwner:        {http.StatusBadRequest, CodeDelegationToOwner},
	config.RuleDelegationUnknownAccount: {http.StatusBadRequest, CodeDelegationUnknownAccount},
	config.RuleDelegationOverlap:        {http.StatusConflict, CodeDelegationOverlap},
	config.RuleBindingFirstNotPrefix:    {http.StatusBadRequest, CodeBindingFirstNotPrefix},
	config.RuleBindingOutside:           {http.StatusBadRequest, CodeBindingOutside},
	config.RuleMagicTransitNotDefault:   {http.StatusBadRequest, CodeMagicTransitNotDefault},
	config.RuleBindingDuplicate:         {http.StatusConflict, CodeBindingDuplicate},
	config.RuleUnknownService:           {http.StatusBadRequest, CodeUnknownService},
	config.RuleDefaultBindingInUse:      {http.StatusConflict, CodeDefaultBindingInUse},
	config.RuleDefaultBindingAdvertised: {http.StatusConflict, CodeDefaultBindingAdvertised},
	config.RuleBGPPrefixOutside:         {http.StatusBadRequest, CodeBGPPrefixOutside},
	config.RuleBGPPrefixDuplicate:       {http.StatusConflict, CodeBGPPrefixDuplicate},
	config.RuleAdvertiseNoDefault:       {http.StatusBadRequest, CodeAdvertiseNoDefault},
	config.RuleOnDemandLocked:           {http.StatusBadRequest, CodeOnDemandLocked},
	config.RuleBGPNotReady:              {http.StatusBadRequest, CodeBGPNotReady},
	config.RuleToggleTooSoon:            {http.StatusBadRequest, CodeToggleTooSoon},
	config.RuleASNPrependRange:          {http.StatusBadRequest, CodeASNPrependRange},
	config.RuleNoBGPPrefix:              {http.StatusBadRequest, CodeNoBGPPrefix},
	config.RuleSpectrumProtocol:         {http.StatusBadRequest, CodeSpectrumProtocol},
	config.RuleSpectrumOrigin:           {http.StatusBadRequest, CodeSpectrumOrigin},
	config.RuleSpectrumOriginScheme:     {http.StatusBadRequest, CodeSpectrumOriginScheme},
	config.RuleSpectrumOriginRange:      {http.StatusBadRequest, CodeSpectrumOriginRange},
	config.RuleSpectrumOriginChoice:     {http.StatusBadRequest, CodeSpectrumOriginChoice},
	config.RuleSpectrumOriginPort:       {http.StatusBadRequest, CodeSpectrumOriginPort},
	config.RuleSpectrumOriginDNS:        {http.StatusBadRequest, CodeSpectrumOriginDNS},
	config.RuleSpectrumProxyProtocol:    {http.StatusBadRequest, CodeSpectrumProxyProtocol},
	config.RuleSpectrumTCPOnly:          {http.StatusBadRequest, CodeSpectrumTCPOnly},
	config.RuleSpectrumTLS:              {http.StatusBadRequest, CodeSpectrumTLS},
	config.RuleSpectrumTrafficType:      {http.StatusBadRequest, CodeSpectrumTrafficType},
	config.RuleSpectrumEdgeIPs:          {http.StatusBadRequest, CodeSpectrumEdgeIPs},
	config.RuleSpectrumEdgeIPNotOwned:   {http.StatusBadRequest, CodeSpectrumEdgeIPNotOwned},
	config.RuleSpectrumEdgeIPUnbound:    {http.StatusBadRequest, CodeSpectrumEdgeIPUnbound},
	config.RuleSpectrumDNS:              {http.StatusBadRequest, CodeSpectrumDNS},
	config.RuleSpectrumDNSOutsideZone:   {http.StatusBadRequest, CodeSpectrumDNSOutsideZone},
	config.RuleSpectrumDNSTypeMode:      {http.StatusBadRequest, CodeSpectrumDNSTypeMode},
	config.RuleSpectrumHostnameIPs:      {http.StatusConflict, CodeSpectrumHostnameIPs},
	config.RuleSpectrumPortConflict:     {http.StatusConflict, CodeSpectrumPortConflict},
	config.RuleSpectrumPoolExhausted:    {http.StatusBadRequest, CodeSpectrumPoolExhausted},
	config.RuleSpectrumNameTaken:        {http.StatusConflict, CodeSpectrumNameTaken},
	config.RuleZoneName:                 {http.StatusBadRequest, CodeZoneName},
	config.RuleZoneDuplicate:            {http.StatusConflict, CodeZoneDuplicate},
	config.RuleZoneVanityNS:             {http.StatusBadRequest, CodeZoneVanityNS},
	config.RuleDNSRecordType:            {http.StatusBadRequest, CodeDNSRecordType},
	config.RuleDNSRecordName:            {http.StatusBadRequest, CodeDNSRecordName},
	config.RuleDNSRecordContent:         {http.StatusBadRequest, CodeDNSRecordContent},
	config.RuleDNSRecordTTL:             {http.StatusBadRequest, CodeDNSRecordTTL},
	config.RuleDNSRecordProxied:         {http.StatusBadRequest, CodeDNSRecordProxied},
	config.RuleDNSRecordConflict:        {http.StatusConflict, CodeDNSRecordConflict},
	config.RuleDNSRecordComment:         {http.StatusBadRequest, CodeDNSRecordComment},
	config.RuleDNSRecordSpectrum:        {http.StatusConflict, CodeDNSRecordSpectrum},
	config.RuleAddressMapIP:             {http.StatusBadRequest, CodeAddressMapIP},
	config.RuleAddressMapIPNotOwned:     {http.StatusBadRequest, CodeAddressMapIPNotOwned},
	config.RuleAddressMapManaged:        {http.StatusBadRequest, CodeAddressMapManaged},
	config.RuleAddressMapEnabled:        {http.StatusConflict, CodeAddressMapEnabled},
	config.RuleAddressMapMembership:     {http.StatusBadRequest, CodeAddressMapMembership},
	config.RuleAddressMapSNI:            {http.StatusBadRequest, CodeAddressMapSNI},
	config.RuleAccessRuleMode:           {http.StatusBadRequest, CodeAccessRuleMode},
	config.RuleAccessRuleTarget:         {http.StatusBadRequest, CodeAccessRuleTarget},
	config.RuleAccessRuleValue:          {http.StatusBadRequest, CodeAccessRuleValue},
	config.RuleAccessRuleDuplicate:      {http.StatusConflict, CodeAccessRuleDuplicate},
	config.RuleLOANotPDF:                {http.StatusBadRequest, CodeLOANotPDF},
}

// apiError is an error the client may see: an HTTP status, a stable code and
// a lowercase message. Any other error a handler returns is internal: it is
// logged and answered with 500 CodeInternal.
type apiError struct {
	Status int
	Code   Code
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d (code %d): %s", e.Status, e.Code, e.Msg) }

func errorf(status int, code Code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, CodeNotFound, "could not route to "+format+", perhaps your object identifier is invalid?", args...)
}
