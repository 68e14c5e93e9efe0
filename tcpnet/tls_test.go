package tcpnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
)

// testCA is a certificate authority made in memory for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a certificate for node id, valid for 127.0.0.1, as both a
// server and a client.
func (ca *testCA) leaf(t testing.TB, id replstore.NodeID) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(id)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsConfig is node id's config: its certificate from ca, trusting ca;
// mutual requires the peer's certificate too.
func (ca *testCA) tlsConfig(t testing.TB, id replstore.NodeID, mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, id)}, RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	if mutual {
		c.ClientCAs = ca.pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

func TestTLS(t *testing.T) {
	ca := newTestCA(t, "replstore test CA")
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String()}
	cfg1, cfg2 := fastConfig("n1", ln1, peers), fastConfig("n2", ln2, peers)
	cfg1.TLS, cfg2.TLS = ca.tlsConfig(t, "n1", false), ca.tlsConfig(t, "n2", false)
	n1, n2 := start(t, cfg1), start(t, cfg2)
	for seq := uint64(1); seq <= 100; seq++ {
		n1.Send(appendMsg("n1", "n2", seq))
		n2.Send(appendMsg("n2", "n1", seq))
	}
	n2.inbox.wait(t, "100 messages over TLS", func(ms []replstore.Message) bool { return len(ms) == 100 })
	n1.inbox.wait(t, "100 messages over TLS", func(ms []replstore.Message) bool { return len(ms) == 100 })

	// A plain-TCP dialer cannot talk to a TLS node.
	cfg3 := fastConfig("n3", listen(t), map[replstore.NodeID]string{"n1": ln1.Addr().String()})
	n3 := start(t, cfg3)
	n3.Send(appendMsg("n3", "n1", 1))
	waitEvent(t, n1.events, EventRefused, "")
	require.Equal(t, uint64(100), n1.Stats().Delivered)
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "replstore test CA")
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String(), "n3": freeAddr(t)}
	cfg1, cfg2 := fastConfig("n1", ln1, peers), fastConfig("n2", ln2, peers)
	cfg1.TLS, cfg2.TLS = ca.tlsConfig(t, "n1", true), ca.tlsConfig(t, "n2", true)
	n1, n2 := start(t, cfg1), start(t, cfg2)
	n2.Send(appendMsg("n2", "n1", 1))
	n1.Send(appendMsg("n1", "n2", 1))
	n1.inbox.wait(t, "a message over mutual TLS", func(ms []replstore.Message) bool { return len(ms) == 1 })
	n2.inbox.wait(t, "a message over mutual TLS", func(ms []replstore.Message) bool { return len(ms) == 1 })

	other := newTestCA(t, "another CA")
	cases := []struct {
		name string
		tls  *tls.Config
	}{
		// n3 is a configured peer of n1: only TLS keeps it out.
		{"no client certificate", &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}},
		{"certificate from another CA", &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{other.leaf(t, "n3")}, MinVersion: tls.VersionTLS13}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := n1.events.count(func(e Event) bool { return e.Kind == EventRefused })
			cfg3 := fastConfig("n3", listen(t), peers)
			cfg3.TLS = tc.tls
			n3 := start(t, cfg3)
			n3.Send(appendMsg("n3", "n1", 1))
			es := n1.events.wait(t, "n1 refusing n3", func(es []Event) bool { return countEvents(es, EventRefused) > before })
			i := slices.IndexFunc(es, func(e Event) bool { return e.Kind == EventRefused })
			require.Contains(t, es[i].Reason, "TLS handshake failed")
			waitEvent(t, n3.events, EventDialFailed, "n1")
			require.Zero(t, n1.inbox.count(func(m replstore.Message) bool { return m.From == "n3" }))
		})
	}
}

// With VerifyPeer, a node holding a valid certificate for one node ID
// cannot claim another.
func TestMutualTLSVerifyPeer(t *testing.T) {
	ca := newTestCA(t, "replstore test CA")
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String(), "n3": freeAddr(t)}
	cfg1, cfg2 := fastConfig("n1", ln1, peers), fastConfig("n2", ln2, peers)
	cfg1.TLS, cfg2.TLS = ca.tlsConfig(t, "n1", true), ca.tlsConfig(t, "n2", true)
	cfg1.VerifyPeer, cfg2.VerifyPeer = VerifyCommonName, VerifyCommonName
	n1, n2 := start(t, cfg1), start(t, cfg2)
	n2.Send(appendMsg("n2", "n1", 1))
	n1.inbox.wait(t, "a message from n2", func(ms []replstore.Message) bool { return len(ms) == 1 })

	// n3 holds n2's certificate (valid, same CA) but claims to be n3.
	cfg3 := fastConfig("n3", listen(t), peers)
	cfg3.TLS = ca.tlsConfig(t, "n2", true)
	n3 := start(t, cfg3)
	n3.Send(appendMsg("n3", "n1", 1))
	e := waitEvent(t, n1.events, EventRefused, "n3")
	require.Contains(t, e.Reason, `certificate does not identify node "n3"`)
	e = waitEvent(t, n3.events, EventRefusedByPeer, "n1")
	require.Contains(t, e.Reason, `certificate does not identify node "n3"`)
	require.Zero(t, n1.inbox.count(func(m replstore.Message) bool { return m.From == "n3" }))
}
