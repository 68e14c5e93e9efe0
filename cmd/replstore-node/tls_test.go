package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
)

// writePEM writes a CA and, signed by it, a certificate for 127.0.0.1
// usable as client and server; it returns the three file names.
func writePEM(t *testing.T, dir, prefix string) (cert, key, ca string) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: prefix + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, prefix+"-"+name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		return p
	}
	return write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

// With -tls-cert, -tls-key and -tls-ca the nodes replicate over mutual
// TLS; a node whose certificate another CA signed is kept out.
func TestProcessTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	dir := t.TempDir()
	cert, key, ca := writePEM(t, dir, "good")
	topo := []string{"-leader", "n1", "-sync", "n2", "-async", "n3", "-tls-cert", cert, "-tls-key", key, "-tls-ca", ca}
	c.start("n1", topo...)
	c.start("n2", topo...)
	c.waitReady("n1")
	c.waitReady("n2")
	a, r, ok := c.put("n2", "over-tls", "secret")
	require.True(t, ok, "%d %s", r.status, r.body)
	c.checkRead("n2", a, "?mode=local", headerToken, replstore.Token(a.pos).String())

	// n3 with a certificate from another CA: its connections are refused,
	// so it never hears of a leader.
	badCert, badKey, badCA := writePEM(t, dir, "bad")
	c.start("n3", "-leader", "n1", "-sync", "n2", "-async", "n3", "-tls-cert", badCert, "-tls-key", badKey, "-tls-ca", badCA)
	eventually(t, "n3 /healthz", func() bool {
		r, err := c.do("n3", "GET", "/healthz", nil)
		return err == nil && r.status == http.StatusOK
	})
	eventually(t, "n3 to log the refused TLS handshakes", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.dir, "n3.1.log"))
		return strings.Contains(string(b), "certificate")
	})
	_, r, ok = c.put("n1", "still-over-tls", "v")
	require.True(t, ok, "%d %s", r.status, r.body)
	r = c.must("n3", "GET", "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	c.kill("n3", syscall.SIGTERM)
}
