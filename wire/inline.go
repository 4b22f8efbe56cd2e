package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// inlineMax bounds the client bytes the upstream goroutine relays itself.
// With no request outstanding the server is waiting to read, so a write
// this small goes straight into its socket buffer without blocking.
const inlineMax = 8 << 10

// inlineReader is a frameReader over bytes the spinner already read.
type inlineReader struct {
	src bytes.Reader
	fr  *frameReader
}

// inlineClient relays client bytes from the upstream goroutine while it
// busy-polls, when they are whole messages that need nothing but relaying
// and the server has nothing outstanding: the same handlers run, so the
// queue and the session's state are exactly what the client goroutine
// would have left. Nothing that may reach the planner qualifies (its side
// queries wait for this very goroutine), hence no prepared call
// statements of either kind. It reports whether it took them; if not, the
// client goroutine gets them.
func (s *session) inlineClient(b []byte) (bool, error) {
	if !s.upFree || len(b) > inlineMax || len(s.stmts) > 0 || s.unnamed.active || s.ex.Prepared.Len() > 0 || s.clientSkip || !plainMessages(b, s.ex.Mentions) {
		return false, nil
	}
	s.q.mu.Lock()
	idle := s.q.n == 0 && s.q.closed == nil && !s.q.copyIn && !s.q.skipping
	s.q.mu.Unlock()
	if !idle {
		return false, nil
	}
	in := &s.inline
	in.src.Reset(b)
	if in.fr == nil {
		in.fr = &frameReader{r: bufio.NewReaderSize(&in.src, 4<<10), max: s.cr.max}
	} else {
		in.fr.r.Reset(&in.src)
	}
	// The client goroutine is parked in a read lent to us, at a message
	// boundary, so its reader can be swapped for the bytes' own while the
	// handlers run.
	cr := s.cr
	s.cr = in.fr
	defer func() { s.cr = cr }()
	for {
		typ, n, err := s.cr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return true, err
		}
		if err := s.onClient(typ, n); err != nil {
			return true, err
		}
	}
	return true, s.uw.Flush()
}

// plainMessages reports whether b is whole messages that the client
// goroutine would only relay: no model-function call, nothing that ends
// the session or starts a COPY's data.
func plainMessages(b []byte, mentions func([]byte) bool) bool {
	for len(b) > 0 {
		if len(b) < 5 {
			return false
		}
		typ, l := b[0], int(binary.BigEndian.Uint32(b[1:5]))
		if l < 4 || l > len(b)-1 {
			return false
		}
		body := b[5 : 1+l]
		switch typ {
		case 'Q':
			if len(body) == 0 || mentions(body[:len(body)-1]) {
				return false
			}
		case 'P':
			_, rest, ok := cstring(body)
			if !ok {
				return false
			}
			query, _, ok := cstring(rest)
			if !ok || mentions(query) {
				return false
			}
		case 'B', 'D', 'E', 'C', 'S', 'H':
		default:
			return false
		}
		b = b[1+l:]
	}
	return true
}
