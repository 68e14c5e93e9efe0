package tcpnet

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"

	"github.com/replstore/replstore"
)

// verifyPeer runs Config.VerifyPeer on c, a TLS connection (or not: then
// VerifyPeer does not apply).
func (t *Transport) verifyPeer(id replstore.NodeID, c net.Conn) error {
	tc, ok := c.(*tls.Conn)
	if !ok || t.cfg.VerifyPeer == nil {
		return nil
	}
	if err := t.cfg.VerifyPeer(id, tc.ConnectionState()); err != nil {
		return fmt.Errorf("certificate does not identify node %q: %w", id, err)
	}
	return nil
}

// VerifyCommonName is a Config.VerifyPeer that accepts a peer whose leaf
// certificate (already verified by TLS) names id as its subject common
// name or one of its DNS names.
func VerifyCommonName(id replstore.NodeID, state tls.ConnectionState) error {
	if len(state.PeerCertificates) == 0 {
		return fmt.Errorf("no peer certificate")
	}
	leaf := state.PeerCertificates[0]
	if leaf.Subject.CommonName == string(id) || slices.Contains(leaf.DNSNames, string(id)) {
		return nil
	}
	return fmt.Errorf("its certificate names %q %v", leaf.Subject.CommonName, leaf.DNSNames)
}
