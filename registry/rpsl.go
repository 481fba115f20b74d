package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Attr is one RPSL attribute. Name is lower-cased; Value has continuation
// lines joined with a single space and end-of-line comments removed.
type Attr struct {
	Name  string
	Value string
}

// Object is one RPSL object: the attributes between blank lines, in order.
// The first attribute names the class (route, route6, aut-num, ...).
type Object struct {
	Line  int    // 1-based line number of the first attribute
	Attrs []Attr // never empty for an Object returned by ParseRPSL
	// Err is the first syntax problem found inside the object, or nil.
	// The attributes parsed before and after the problem are still kept,
	// so a caller can tell which prefix a malformed object is about.
	Err error
}

// Class returns the name of the first attribute, or "" for an empty object.
func (o Object) Class() string {
	if len(o.Attrs) == 0 {
		return ""
	}
	return o.Attrs[0].Name
}

// Values returns the values of every attribute called name (case-insensitive).
func (o Object) Values(name string) []string {
	name = strings.ToLower(name)
	var vs []string
	for _, a := range o.Attrs {
		if a.Name == name {
			vs = append(vs, a.Value)
		}
	}
	return vs
}

// ParseRPSL splits RPSL text (an IRR database dump or a whois answer) into
// objects. It is pure, never fails as a whole and never panics: syntax
// problems are recorded per object in Object.Err.
//
// Rules: objects are separated by blank (or whitespace-only) lines; "name:
// value" starts an attribute, with the name matched case-insensitively; a
// line starting with a space, a tab or '+' continues the previous value;
// lines starting with '#' or '%' are comments, and '#' also starts an
// end-of-line comment inside a value.
func ParseRPSL(data []byte) []Object {
	var (
		objs []Object
		cur  *Object
	)
	flush := func() {
		if cur != nil && len(cur.Attrs) > 0 {
			objs = append(objs, *cur)
		}
		cur = nil
	}
	setErr := func(o *Object, err error) {
		if o.Err == nil {
			o.Err = err
		}
	}
	lineNo := 0
	for line := range strings.Lines(string(data)) {
		lineNo++
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		switch line[0] {
		case '#', '%':
			continue
		case ' ', '\t', '+':
			if cur == nil || len(cur.Attrs) == 0 {
				cur = &Object{Line: lineNo}
				setErr(cur, fmt.Errorf("line %d: continuation line without an attribute", lineNo))
				// Keep it as an object only if attributes follow.
				continue
			}
			v := stripComment(line[1:])
			last := &cur.Attrs[len(cur.Attrs)-1]
			switch {
			case v == "":
			case last.Value == "":
				last.Value = v
			default:
				last.Value += " " + v
			}
			continue
		}
		if cur == nil {
			cur = &Object{Line: lineNo}
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validAttrName(name) {
			setErr(cur, fmt.Errorf("line %d: malformed attribute line %q", lineNo, truncate(line, 64)))
			continue
		}
		if len(cur.Attrs) == 0 {
			cur.Line = lineNo
		}
		cur.Attrs = append(cur.Attrs, Attr{Name: strings.ToLower(name), Value: stripComment(value)})
	}
	flush()
	return objs
}

func validAttrName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// route is the part of a route/route6 object that validation uses.
type route struct {
	prefix netip.Prefix
	origin uint32
	tokens []string // cf-validation tokens found in descr and remarks
	err    error    // why the object is malformed, or nil
}

// routeOf extracts a route from a route or route6 object. ok is false when
// the object is of another class or its key cannot be read as a prefix, so
// it cannot be attributed to any prefix.
func routeOf(o Object) (r route, ok bool) {
	class := o.Class()
	if class != "route" && class != "route6" {
		return route{}, false
	}
	keys := o.Values(class)
	p, err := netip.ParsePrefix(keys[0])
	if err != nil {
		return route{}, false
	}
	var errs []error
	if o.Err != nil {
		errs = append(errs, o.Err)
	}
	if len(keys) > 1 {
		errs = append(errs, fmt.Errorf("%d %s attributes", len(keys), class))
	}
	if (class == "route") != p.Addr().Is4() || p.Addr().Is4In6() {
		errs = append(errs, fmt.Errorf("%s %q has the wrong address family", class, keys[0]))
	}
	if m := p.Masked(); m != p {
		errs = append(errs, fmt.Errorf("%s %q has host bits set; expected %s", class, keys[0], m))
		p = m
	}
	r.prefix = p
	switch origins := o.Values("origin"); len(origins) {
	case 0:
		errs = append(errs, errors.New("missing origin"))
	case 1:
		asn, err := parseASN(origins[0], true)
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing origin %q: %w", origins[0], err))
		}
		r.origin = asn
	default:
		errs = append(errs, fmt.Errorf("%d origin attributes", len(origins)))
	}
	for _, a := range o.Attrs {
		if a.Name == "descr" || a.Name == "remarks" {
			if tok, found := cfToken(a.Value); found {
				r.tokens = append(r.tokens, tok)
			}
		}
	}
	r.err = errors.Join(errs...)
	return r, true
}

const cfLabel = "cf-validation"

// cfToken finds "cf-validation: <token>" (label case-insensitive, ':' or
// '=' as separator) in an attribute value and returns the token.
func cfToken(v string) (string, bool) {
	i := strings.Index(strings.ToLower(v), cfLabel)
	if i < 0 {
		return "", false
	}
	rest := strings.TrimLeft(v[i+len(cfLabel):], " \t")
	if rest == "" || (rest[0] != ':' && rest[0] != '=') {
		return "", false
	}
	fields := strings.Fields(rest[1:])
	if len(fields) == 0 {
		return "", true
	}
	return fields[0], true
}

// parseASN reads "AS64496", "as64496", asdot "AS1.10" and, unless needAS
// is set, a bare "64496".
func parseASN(s string, needAS bool) (uint32, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && strings.EqualFold(s[:2], "as") {
		s = s[2:]
	} else if needAS {
		return 0, errors.New(`missing "AS" prefix`)
	}
	if hi, lo, dot := strings.Cut(s, "."); dot {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, errors.New("bad asdot number")
		}
		return uint32(h)<<16 | uint32(l), nil
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, errors.New("bad AS number")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errors.New("bad AS number")
	}
	return uint32(n), nil
}
