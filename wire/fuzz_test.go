package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzStartup feeds arbitrary bytes to the start-up packet reader and the
// StartupMessage decoder: they must return an error or a packet, never
// panic or read past the declared length.
func FuzzStartup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})                          // SSLRequest
	f.Add([]byte{0, 0, 0, 16, 4, 210, 22, 46, 0, 0, 0, 1, 0, 0, 0, 2}) // CancelRequest
	f.Add(append([]byte{0, 0, 0, 41, 0, 3, 0, 0}, "user\x00postgres\x00database\x00postgres\x00\x00"...))
	f.Add([]byte{0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			code, body, err := readStartup(r)
			if err != nil {
				return
			}
			if len(body) > maxStartup {
				t.Fatalf("body of %d bytes", len(body))
			}
			if code>>16 == protocolMaj {
				var sm pgproto3.StartupMessage
				_ = sm.Decode(body)
			}
		}
	})
}

// FuzzFrames feeds arbitrary bytes to the message frame reader, both
// buffering and streaming bodies, and to the DataRow splitter.
func FuzzFrames(f *testing.F) {
	f.Add([]byte("Q\x00\x00\x00\x0dSELECT 1\x00"))
	f.Add([]byte("D\x00\x00\x00\x0e\x00\x02\x00\x00\x00\x011\xff\xff\xff\xff"))
	f.Add([]byte("d\x00\x00\x00\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data), 1<<16)
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		for i := 0; ; i++ {
			typ, n, err := fr.next()
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				return
			}
			if n < 0 || n > 1<<16 {
				t.Fatalf("length %d passed the checks", n)
			}
			if i%2 == 0 {
				body, err := fr.body(n)
				if err != nil {
					return
				}
				if typ == 'D' {
					_, _ = decodeDataRow(body, nil)
				}
				if typ == 'R' && len(body) >= 4 {
					_ = stripChannelBinding(body)
				}
			} else if err := fr.copyTo(w, n); err != nil {
				return
			}
		}
	})
}
