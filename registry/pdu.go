package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// PDUType is an RTR PDU type (RFC 8210 §5, IANA "rpki-rtr-pdu").
type PDUType uint8

// RTR PDU types.
const (
	PDUSerialNotify  PDUType = 0
	PDUSerialQuery   PDUType = 1
	PDUResetQuery    PDUType = 2
	PDUCacheResponse PDUType = 3
	PDUIPv4Prefix    PDUType = 4
	PDUIPv6Prefix    PDUType = 6
	PDUEndOfData     PDUType = 7
	PDUCacheReset    PDUType = 8
	PDURouterKey     PDUType = 9
	PDUErrorReport   PDUType = 10
	PDUASPA          PDUType = 11 // draft-ietf-sidrops-8210bis, version 2
)

// RTR error codes (RFC 8210 §12).
const (
	ErrCodeCorruptData                uint16 = 0
	ErrCodeInternalError              uint16 = 1
	ErrCodeNoDataAvailable            uint16 = 2
	ErrCodeInvalidRequest             uint16 = 3
	ErrCodeUnsupportedProtocolVersion uint16 = 4
	ErrCodeUnsupportedPDUType         uint16 = 5
	ErrCodeWithdrawalOfUnknownRecord  uint16 = 6
	ErrCodeDuplicateAnnouncement      uint16 = 7
	ErrCodeUnexpectedProtocolVersion  uint16 = 8
)

const (
	pduHeaderLen = 8
	// maxPDULen bounds a PDU so a hostile length field cannot make the
	// reader allocate much. Prefix PDUs are 32 bytes; Error Reports, Router
	// Keys and ASPA PDUs are the only variable-length ones.
	maxPDULen = 64 << 10
	// flagAnnounce is bit 0 of the prefix PDU flags: 1 announce, 0 withdraw.
	flagAnnounce = 1
)

// ErrShortPDU means the buffer holds less than one whole PDU; read more.
var ErrShortPDU = errors.New("registry: short rtr pdu")

// PDU is one decoded RTR PDU. Which fields are meaningful depends on Type:
//
//   - Serial Notify, Serial Query: SessionID, Serial
//   - Reset Query, Cache Reset: none
//   - Cache Response: SessionID
//   - IPv4/IPv6 Prefix: Flags, VRP
//   - End of Data: SessionID, Serial, and for version >= 1 Refresh, Retry, Expire (seconds)
//   - Error Report: ErrorCode, ErrPDU (the offending PDU), ErrText
//   - Router Key, ASPA: Header2 and Body, kept opaque
type PDU struct {
	Version   uint8
	Type      PDUType
	SessionID uint16
	ErrorCode uint16
	Header2   uint16 // the 16-bit header field of opaque types
	Serial    uint32
	Flags     uint8
	VRP       VRP
	Refresh   uint32
	Retry     uint32
	Expire    uint32
	ErrPDU    []byte
	ErrText   string
	Body      []byte
}

// Announce reports whether a prefix PDU announces (rather than withdraws).
func (p PDU) Announce() bool { return p.Flags&flagAnnounce != 0 }

// PDULen returns the total length of the PDU at the start of b, as its
// header says, after checking it against the type's fixed length and
// maxPDULen. It returns ErrShortPDU when b holds less than a header.
func PDULen(b []byte) (int, error) {
	if len(b) < pduHeaderLen {
		return 0, ErrShortPDU
	}
	typ := PDUType(b[1])
	n := binary.BigEndian.Uint32(b[4:8])
	if n < pduHeaderLen || n > maxPDULen {
		return 0, fmt.Errorf("rtr pdu type %d: bad length %d", typ, n)
	}
	want := 0
	switch typ {
	case PDUSerialNotify, PDUSerialQuery:
		want = 12
	case PDUResetQuery, PDUCacheResponse, PDUCacheReset:
		want = 8
	case PDUIPv4Prefix:
		want = 20
	case PDUIPv6Prefix:
		want = 32
	case PDUEndOfData:
		want = 24
		if b[0] == 0 {
			want = 12
		}
	}
	if want != 0 && int(n) != want {
		return 0, fmt.Errorf("rtr pdu type %d version %d: length %d, want %d", typ, b[0], n, want)
	}
	return int(n), nil
}

// ParsePDU decodes the PDU at the start of b and returns it with the number
// of bytes it used. It returns ErrShortPDU (possibly wrapped) when b is an
// incomplete PDU, and another error for a corrupt one. It is pure and never
// panics; slices in the result are copies.
func ParsePDU(b []byte) (PDU, int, error) {
	n, err := PDULen(b)
	if err != nil {
		return PDU{}, 0, err
	}
	if len(b) < n {
		return PDU{}, 0, ErrShortPDU
	}
	b = b[:n]
	p := PDU{Version: b[0], Type: PDUType(b[1])}
	h2 := binary.BigEndian.Uint16(b[2:4])
	body := b[pduHeaderLen:]
	switch p.Type {
	case PDUSerialNotify, PDUSerialQuery:
		p.SessionID = h2
		p.Serial = binary.BigEndian.Uint32(body)
	case PDUCacheResponse:
		p.SessionID = h2
	case PDUResetQuery, PDUCacheReset:
	case PDUIPv4Prefix, PDUIPv6Prefix:
		p.Flags = body[0]
		plen, maxLen := body[1], body[2]
		var addr netip.Addr
		if p.Type == PDUIPv4Prefix {
			addr = netip.AddrFrom4([4]byte(body[4:8]))
			p.VRP.ASN = binary.BigEndian.Uint32(body[8:12])
		} else {
			addr = netip.AddrFrom16([16]byte(body[4:20]))
			p.VRP.ASN = binary.BigEndian.Uint32(body[20:24])
		}
		if int(plen) > addr.BitLen() || maxLen < plen || int(maxLen) > addr.BitLen() {
			return PDU{}, 0, fmt.Errorf("rtr prefix pdu: bad lengths %d-%d for %s", plen, maxLen, addr)
		}
		// PrefixFrom cannot fail here: plen <= BitLen was checked above.
		p.VRP.Prefix = netip.PrefixFrom(addr, int(plen)).Masked()
		p.VRP.MaxLen = maxLen
	case PDUEndOfData:
		p.SessionID = h2
		p.Serial = binary.BigEndian.Uint32(body)
		if p.Version >= 1 {
			p.Refresh = binary.BigEndian.Uint32(body[4:8])
			p.Retry = binary.BigEndian.Uint32(body[8:12])
			p.Expire = binary.BigEndian.Uint32(body[12:16])
		}
	case PDUErrorReport:
		p.ErrorCode = h2
		if len(body) < 4 {
			return PDU{}, 0, fmt.Errorf("rtr error report: length %d too short", n)
		}
		el := binary.BigEndian.Uint32(body)
		body = body[4:]
		if uint64(el)+4 > uint64(len(body)) {
			return PDU{}, 0, fmt.Errorf("rtr error report: encapsulated pdu length %d exceeds pdu", el)
		}
		p.ErrPDU = append([]byte(nil), body[:el]...)
		body = body[el:]
		tl := binary.BigEndian.Uint32(body)
		body = body[4:]
		if uint64(tl) != uint64(len(body)) {
			return PDU{}, 0, fmt.Errorf("rtr error report: text length %d, have %d bytes", tl, len(body))
		}
		p.ErrText = string(body)
	default:
		// Router Key, ASPA and unknown types: keep opaque. The client
		// decides whether an unknown type is an error.
		p.Header2 = h2
		p.Body = append([]byte(nil), body...)
	}
	return p, n, nil
}

// AppendPDU appends the wire form of p to b. Fields that p.Type does not
// use are ignored; a prefix of the wrong family is written as zeros. It is the inverse of ParsePDU for every PDU ParsePDU
// accepts.
func AppendPDU(b []byte, p PDU) []byte {
	var h2 uint16
	var body []byte
	switch p.Type {
	case PDUSerialNotify, PDUSerialQuery:
		h2 = p.SessionID
		body = binary.BigEndian.AppendUint32(body, p.Serial)
	case PDUCacheResponse:
		h2 = p.SessionID
	case PDUResetQuery, PDUCacheReset:
	case PDUIPv4Prefix, PDUIPv6Prefix:
		body = append(body, p.Flags, uint8(p.VRP.Prefix.Bits()), p.VRP.MaxLen, 0)
		if p.Type == PDUIPv4Prefix {
			var a [4]byte
			if addr := p.VRP.Prefix.Addr(); addr.Is4() {
				a = addr.As4()
			}
			body = append(body, a[:]...)
		} else {
			a := p.VRP.Prefix.Addr().As16()
			body = append(body, a[:]...)
		}
		body = binary.BigEndian.AppendUint32(body, p.VRP.ASN)
	case PDUEndOfData:
		h2 = p.SessionID
		body = binary.BigEndian.AppendUint32(body, p.Serial)
		if p.Version >= 1 {
			body = binary.BigEndian.AppendUint32(body, p.Refresh)
			body = binary.BigEndian.AppendUint32(body, p.Retry)
			body = binary.BigEndian.AppendUint32(body, p.Expire)
		}
	case PDUErrorReport:
		h2 = p.ErrorCode
		body = binary.BigEndian.AppendUint32(body, uint32(len(p.ErrPDU)))
		body = append(body, p.ErrPDU...)
		body = binary.BigEndian.AppendUint32(body, uint32(len(p.ErrText)))
		body = append(body, p.ErrText...)
	default:
		h2 = p.Header2
		body = p.Body
	}
	b = append(b, p.Version, uint8(p.Type))
	b = binary.BigEndian.AppendUint16(b, h2)
	b = binary.BigEndian.AppendUint32(b, uint32(pduHeaderLen+len(body)))
	return append(b, body...)
}
