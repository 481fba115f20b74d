package api

import (
	"fmt"
	"net/http"

	"github.com/edgesim/edgesim/config"
)

// Code is a stable numeric error code in the envelope's errors[].code.
// Clients branch on codes, never on messages. A number, once assigned, keeps
// its meaning forever and is never reused. Codes 6003, 7000, 7003, 9106,
// 9109 and 10000 follow codes observed from Cloudflare's API; 1000-1999 are
// edgesim's own.
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
	CodeBadHeaders       Code = 6003  // 400: malformed Authorization header
	CodeNoRoute          Code = 7000  // 404: no route for that URI
	CodeMethodNotAllowed Code = 7001  // 405: the route exists but not for this method
	CodeNotFound         Code = 7003  // 404: unknown object ID, or an account the credential cannot reach
	CodeMissingAuth      Code = 9106  // 400: no X-Auth-Email+X-Auth-Key and no Authorization: Bearer
	CodeForbidden        Code = 9109  // 403: the token lacks the permission the route needs
	CodeAuth             Code = 10000 // 403: unknown key, email or token

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

	// Admin API.
	CodeAdminBadDuration Code = 1601 // 400: fast-forward duration missing, unparsable or not positive
	CodeAdminBadIP       Code = 1602 // 400: lookup address is not an IP address
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
