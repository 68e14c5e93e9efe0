package replstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadToken is returned for a session token that does not parse
// ("epoch:lsn", e.g. "3:1042"), or that this cluster cannot have issued
// (it lies past the end of the leader's log).
var ErrBadToken = errors.New("replstore: bad token")

// ErrTokenLost is returned for a session token naming an entry that a
// failover lost: the new leader's log holds another entry at its LSN. Only
// asynchronous commit (or AllowDataLoss) can lose an acknowledged write;
// the loss was reported by EventDataLoss. The session cannot have
// read-your-writes for it: start from a new token.
var ErrTokenLost = errors.New("replstore: token names a lost entry")

// Token is a session's causal high-water mark: the highest Position it has
// written or read. It prints as "epoch:lsn" (Position's form, e.g.
// "3:1042") and implements encoding.TextMarshaler and TextUnmarshaler, so
// it travels in HTTP headers and JSON; ParseToken reads it back, and
// Session.Adopt hands it to a session in another service or process.
//
// A replica may serve a SessionConsistent read for a token once its
// applied Position reaches it (SatisfiedBy): an LSN at least the token's,
// in an epoch at least the token's. Within one history epochs only grow
// with LSNs, so that is "applied LSN >= token LSN"; the epoch keeps a node
// that has not seen the token's epoch from answering. The zero Token asks
// for nothing.
//
// Tokens survive failover: a token whose entry the new leader holds (same
// LSN, same epoch) stays valid. A token naming an entry that a failover
// lost (possible only with asynchronous commit) fails with ErrTokenLost
// instead of being waited for, or served from the new history.
type Token Position

// String returns "epoch:lsn", e.g. "3:1042".
func (t Token) String() string { return string(t.appendText(nil)) }

// IsZero reports whether t is the zero Token, which every replica satisfies.
func (t Token) IsZero() bool { return t == Token{} }

// Merge returns the least token that asks for everything t and u ask for:
// the larger epoch and the larger LSN. Within one history that is simply
// the later of the two positions. Merge is commutative, associative and
// idempotent, so sessions may merge tokens in any order.
func (t Token) Merge(u Token) Token {
	return Token{Epoch: max(t.Epoch, u.Epoch), LSN: max(t.LSN, u.LSN)}
}

// SatisfiedBy reports whether a replica whose view has applied everything
// up to applied may serve a read for t: its LSN and epoch are both at
// least t's.
func (t Token) SatisfiedBy(applied Position) bool {
	return applied.LSN >= t.LSN && applied.Epoch >= t.Epoch
}

// AppendText implements encoding.TextAppender.
func (t Token) AppendText(b []byte) ([]byte, error) { return t.appendText(b), nil }

// MarshalText implements encoding.TextMarshaler.
func (t Token) MarshalText() ([]byte, error) { return t.appendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler, with ParseToken's
// rules. On error t is unchanged.
func (t *Token) UnmarshalText(text []byte) error {
	parsed, err := ParseToken(string(text))
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

func (t Token) appendText(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(t.Epoch), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(t.LSN), 10)
}

// maxTokenText is the longest text a token can have: two 20-digit
// numbers and a colon.
const maxTokenText = 41

// ParseToken reads a token in Token.String's form, "epoch:lsn" with both
// in decimal, e.g. "3:1042"; "0:0" is the zero Token. Anything else (an
// empty string, a sign, spaces, a missing or second colon, a number out
// of range, an LSN without an epoch or an epoch without an LSN) is an
// error wrapping ErrBadToken.
func ParseToken(s string) (Token, error) {
	bad := func(why string) (Token, error) {
		shown := s
		if len(shown) > maxTokenText+8 {
			shown = shown[:maxTokenText] + "..."
		}
		return Token{}, fmt.Errorf("%w %q: %s; want \"epoch:lsn\", e.g. \"3:1042\"", ErrBadToken, shown, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > maxTokenText {
		return bad(fmt.Sprintf("%d bytes, at most %d", len(s), maxTokenText))
	}
	epochText, lsnText, found := strings.Cut(s, ":")
	if !found {
		return bad("no colon")
	}
	epoch, err := parseTokenNumber(epochText)
	if err != nil {
		return bad("epoch: " + err.Error())
	}
	lsn, err := parseTokenNumber(lsnText)
	if err != nil {
		return bad("LSN: " + err.Error())
	}
	t := Token{Epoch: Epoch(epoch), LSN: LSN(lsn)}
	if !t.wellFormed() {
		return bad(tokenHalfEmpty)
	}
	return t, nil
}

// tokenHalfEmpty says why a token with only one of epoch and LSN is bad.
const tokenHalfEmpty = "an entry has both an epoch and an LSN (only \"0:0\" has neither)"

// wellFormed reports whether t could name an entry: both its epoch and its
// LSN are set, or neither is (the zero Token).
func (t Token) wellFormed() bool { return (t.Epoch == 0) == (t.LSN == 0) }

// check returns an error wrapping ErrBadToken for a token ParseToken would
// refuse, nil otherwise.
func (t Token) check() error {
	if !t.wellFormed() {
		return fmt.Errorf("%w %v: %s", ErrBadToken, t, tokenHalfEmpty)
	}
	return nil
}

// parseTokenNumber accepts decimal digits only: no sign, space or
// underscore, which strconv would otherwise allow in some forms.
func parseTokenNumber(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range", s)
	}
	return n, nil
}
