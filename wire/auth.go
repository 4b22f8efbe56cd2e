package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// authenticate relays the start-up exchange between the client and the
// upstream until the upstream is ready for queries: the database checks the
// password (trust, cleartext, MD5, SCRAM-SHA-256), so the proxy stores none
// and pg_hba.conf stays in force. The upstream's BackendKeyData is kept
// and the client gets the backend's PID with a secret of the proxy's own
// (see cancelKey).
func (s *session) authenticate() error {
	if err := s.uw.Flush(); err != nil {
		return &upstreamStartupError{err}
	}
	for {
		typ, n, err := s.ur.next()
		if err != nil {
			return &upstreamStartupError{err}
		}
		body, err := s.ur.body(n)
		if err != nil {
			return &upstreamStartupError{err}
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				return &ProtocolError{"malformed authentication request from upstream"}
			}
			code := binary.BigEndian.Uint32(body)
			if code == 10 { // AuthenticationSASL
				body = stripChannelBinding(body)
			}
			if err := s.toClient(typ, body); err != nil {
				return err
			}
			if code == 0 || code == 12 { // AuthenticationOk, SASLFinal: nothing to answer
				continue
			}
			if err := s.cw.Flush(); err != nil {
				return err
			}
			if err := s.relayAuthResponse(); err != nil {
				return err
			}
		case 'K':
			if err := s.srv.register(s, body); err != nil {
				return err
			}
			s.log = s.log.With("pid", s.key.pid)
			key := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(s.key.secret)), s.key.pid)
			if err := s.toClient('K', append(key, s.key.secret...)); err != nil {
				return err
			}
		case 'Z':
			if err := s.toClient(typ, body); err != nil {
				return err
			}
			return s.cw.Flush()
		case 'E':
			_ = s.toClient(typ, body)
			_ = s.cw.Flush()
			return errors.New("upstream refused the session")
		default: // ParameterStatus, NoticeResponse, NegotiateProtocolVersion
			if err := s.toClient(typ, body); err != nil {
				return err
			}
		}
	}
}

func (s *session) toClient(typ byte, body []byte) error { return writeFrame(s.cw, typ, body) }

// upstreamStartupError is the upstream hanging up (or failing) during
// start-up without an ErrorResponse: a PostgreSQL killed or restarting
// just then. The client is told with a FATAL of its own, as a direct
// connection's client would learn from libpq, rather than by a bare EOF.
type upstreamStartupError struct{ err error }

func (e *upstreamStartupError) Error() string {
	return "the upstream PostgreSQL closed the connection during start-up: " + e.err.Error()
}
func (e *upstreamStartupError) Unwrap() error { return e.err }

// relayAuthResponse forwards the client's answer to an authentication
// request (PasswordMessage, SASLInitialResponse, SASLResponse: all 'p').
func (s *session) relayAuthResponse() error {
	typ, n, err := s.cr.next()
	if err != nil {
		return err
	}
	if typ != 'p' {
		return &ProtocolError{fmt.Sprintf("expected password response, got message type %q", typ)}
	}
	body, err := s.cr.body(n)
	if err != nil {
		return err
	}
	if err := writeFrame(s.uw, typ, body); err != nil {
		return err
	}
	return s.uw.Flush()
}

// stripChannelBinding removes SCRAM-SHA-256-PLUS from the mechanisms the
// upstream offers: channel binding ties SCRAM to the TLS connection it runs
// over, and the client's TLS ends at the proxy.
func stripChannelBinding(body []byte) []byte {
	out := append([]byte(nil), body[:4]...)
	for _, m := range strings.Split(string(body[4:]), "\x00") {
		if m == "" || strings.HasSuffix(m, "-PLUS") {
			continue
		}
		out = append(out, m...)
		out = append(out, 0)
	}
	return append(out, 0)
}
