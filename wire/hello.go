package wire

import (
	"github.com/replstore/replstore"
)

// Hello is the first frame on a connection, from the dialer. The
// acceptor checks it and answers with a HelloAnswer before anything else
// flows; it refuses a Hello from another cluster, from a node it does
// not know, for a node it is not (Want), or of a version it cannot speak.
type Hello struct {
	ClusterID string
	Version   uint8            // the dialer's protocol version (Version)
	From      replstore.NodeID // the dialer
	Want      replstore.NodeID // the node the dialer means to reach; "" for any
}

// HelloAnswer is the acceptor's answer to a Hello.
type HelloAnswer struct {
	Accepted bool
	Version  uint8            // the acceptor's protocol version
	From     replstore.NodeID // the acceptor
	Reason   string           // why it refused; "" when Accepted
}

// A Hello payload is version (byte), then the cluster ID, From and Want
// as strings. The version comes first so that a future layout can still
// be recognised and refused.

// AppendHello appends h's payload to dst.
func AppendHello(dst []byte, h *Hello) []byte {
	dst = append(dst, h.Version)
	dst = appendString(dst, h.ClusterID)
	dst = appendString(dst, string(h.From))
	return appendString(dst, string(h.Want))
}

// DecodeHello decodes a payload written by AppendHello.
func DecodeHello(payload []byte) (Hello, error) {
	d := decoder{b: payload}
	var h Hello
	h.Version = d.byte("hello version")
	h.ClusterID = d.string("hello cluster")
	h.From = replstore.NodeID(d.string("hello from"))
	h.Want = replstore.NodeID(d.string("hello want"))
	d.end("hello")
	return h, d.err
}

// An answer payload is version (byte), accepted (byte 0 or 1), From and
// Reason as strings.

// AppendHelloAnswer appends a's payload to dst.
func AppendHelloAnswer(dst []byte, a *HelloAnswer) []byte {
	var ok byte
	if a.Accepted {
		ok = 1
	}
	dst = append(dst, a.Version, ok)
	dst = appendString(dst, string(a.From))
	return appendString(dst, a.Reason)
}

// DecodeHelloAnswer decodes a payload written by AppendHelloAnswer.
func DecodeHelloAnswer(payload []byte) (HelloAnswer, error) {
	d := decoder{b: payload}
	var a HelloAnswer
	a.Version = d.byte("answer version")
	switch ok := d.byte("answer accepted"); ok {
	case 0, 1:
		a.Accepted = ok == 1
	default:
		d.fail("answer accepted: %d is not 0 or 1", ok)
	}
	a.From = replstore.NodeID(d.string("answer from"))
	a.Reason = d.string("answer reason")
	d.end("answer")
	return a, d.err
}
