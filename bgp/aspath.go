package bgp

// ASPath returns the AS_PATH edgesim announces for a customer prefix: 13335
// (DefaultLocalAS), then customerASN when it is not 13335 (or zero), then
// prepend further 13335s in front, as the addressing documentation describes
// for asn_prepend_count. A negative prepend counts as zero.
//
//	ASPath(64500, 0) = [13335 64500]
//	ASPath(64500, 2) = [13335 13335 13335 64500]
//	ASPath(13335, 1) = [13335 13335]
func ASPath(customerASN uint32, prepend int) []uint32 {
	prepend = max(prepend, 0)
	p := make([]uint32, 0, prepend+2)
	for range prepend + 1 {
		p = append(p, DefaultLocalAS)
	}
	if customerASN != DefaultLocalAS && customerASN != 0 {
		p = append(p, customerASN)
	}
	return p
}
