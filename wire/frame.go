package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// DefaultMaxMessageSize is PostgreSQL's own limit on a message (1 GiB).
const DefaultMaxMessageSize = 1 << 30

// bufferedBodyLimit is the largest body read whole into memory when the
// proxy does not need to look inside it; larger ones are streamed through.
const bufferedBodyLimit = 64 << 10

// frameReader reads protocol messages: a type byte, a 4-byte length that
// counts itself, and a body. It decodes nothing; callers decide whether to
// buffer a body or stream it to the other side.
type frameReader struct {
	r   *bufio.Reader
	hdr [5]byte
	buf []byte
	max int
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// ProtocolError is a framing violation: the connection cannot go on.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// next reads a message header and returns the type and body length.
func (f *frameReader) next() (byte, int, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return 0, 0, err
	}
	n := int(binary.BigEndian.Uint32(f.hdr[1:]))
	if n < 4 {
		return 0, 0, &ProtocolError{fmt.Sprintf("invalid message length %d for message type %q", n, f.hdr[0])}
	}
	if n-4 > f.max {
		return 0, 0, &ProtocolError{fmt.Sprintf("message of type %q is %d bytes, over the limit of %d", f.hdr[0], n-4, f.max)}
	}
	return f.hdr[0], n - 4, nil
}

// body reads a whole body of n bytes into the reader's reusable buffer.
// The slice is valid until the next call.
func (f *frameReader) body(n int) ([]byte, error) {
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	b := f.buf[:n]
	if _, err := io.ReadFull(f.r, b); err != nil {
		return nil, err
	}
	// Do not keep a huge buffer alive after a one-off huge message.
	if cap(f.buf) > 4<<20 {
		f.buf = nil
	}
	return b, nil
}

// copyTo writes the current message (header already read) to w, streaming
// the body through the read buffer without copying it elsewhere.
func (f *frameReader) copyTo(w *bufio.Writer, n int) error {
	if _, err := w.Write(f.hdr[:]); err != nil {
		return err
	}
	for n > 0 {
		chunk := f.r.Buffered()
		if chunk == 0 {
			chunk = 1 // Peek blocks until at least this much arrives
			if _, err := f.r.Peek(1); err != nil {
				return err
			}
			chunk = f.r.Buffered()
		}
		if chunk > n {
			chunk = n
		}
		p, err := f.r.Peek(chunk)
		if err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		_, _ = f.r.Discard(chunk)
		n -= chunk
	}
	return nil
}

// skip discards the current message's body.
func (f *frameReader) skip(n int) error {
	_, err := f.r.Discard(n)
	return err
}

// writeFrame writes a message with the given type and body.
func writeFrame(w *bufio.Writer, typ byte, body []byte) error {
	// Byte by byte: a local header array passed to Write would escape to
	// the heap, one allocation per message.
	n := uint32(len(body) + 4)
	_ = w.WriteByte(typ)
	_ = w.WriteByte(byte(n >> 24))
	_ = w.WriteByte(byte(n >> 16))
	_ = w.WriteByte(byte(n >> 8))
	if err := w.WriteByte(byte(n)); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// appendFrame appends a message with the given type and body to dst.
func appendFrame(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)+4))
	return append(dst, body...)
}

// cstring splits a NUL-terminated string off the front of b.
func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}
