package registry

// State is one validation state of a prefix, using the values Cloudflare's
// API reports in irr_validation_state, rpki_validation_state and
// ownership_validation_state.
type State string

const (
	// StatePending is what the API shows before validation ran. The
	// Validator never returns it; an unreachable source is an error.
	StatePending State = "pending"
	// StateValid means the source confirms the prefix, ASN or token.
	StateValid State = "valid"
	// StateInvalid means the source has data for the prefix, but it is
	// malformed, too short (ROA maxLength), AS0, or carries a wrong token.
	StateInvalid State = "invalid"
	// StateMissing means the source has no data for the prefix.
	StateMissing State = "missing"
	// StateMismatchASN means the source has data for the prefix, but only
	// for other ASNs.
	StateMismatchASN State = "mismatch_asn"
)

// String returns the state as the API spells it.
func (s State) String() string { return string(s) }

// Result holds the three independent validation states of one prefix.
type Result struct {
	IRR       State
	RPKI      State
	Ownership State
}

// Valid reports whether all three checks passed, which is when the API
// turns a prefix's approved field to "V".
func (r Result) Valid() bool {
	return r.IRR == StateValid && r.RPKI == StateValid && r.Ownership == StateValid
}
