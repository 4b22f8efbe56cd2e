package functions

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// stateMagic opens every state blob.
const stateMagic = "FWMS"

// maxStateDim bounds decoded dimensions (rows, columns, clusters,
// features): indices are 32-bit in places, and a count beyond it is
// damage, not a model.
const maxStateDim = math.MaxInt32

// Errors a state decoder wraps, so a caller can tell a damaged blob from
// one written by a newer Flywheel or one of another kind.
var (
	ErrStateCorrupt = errors.New("model state is corrupt")
	ErrStateVersion = errors.New("model state version is not supported")
	ErrStateKind    = errors.New("model state is of another kind")
)

// castagnoli is CRC-32C's table; crc32.MakeTable returns the shared,
// hardware-accelerated one, so this is a constant in all but name.
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// Encoder writes a trained model's state blob; Decoder reads one. This
// comment is the format's documentation.
//
// A model trained once (flywheel.train) is stored as a bytea and decoded
// by later calls, possibly by a newer Flywheel, so every state type here
// implements encoding.BinaryMarshaler and encoding.BinaryUnmarshaler with
// the small format below. It is documented here and nowhere else.
//
// # Blob layout
//
//	magic    4 bytes  "FWMS" (Flywheel model state)
//	kind     string   which type the payload holds, e.g. "usercf"
//	version  uvarint  the kind's format version, from 1
//	payload  ...      the kind's fields, in the order its version defines
//	crc      4 bytes  CRC-32C (Castagnoli) of every byte before it, little-endian
//
// The payload is built from these primitives (Encoder and Decoder):
//
//	Uvarint   encoding/binary's unsigned varint (LEB128)
//	Varint    encoding/binary's zig-zag signed varint
//	Float64   the IEEE 754 bits, 8 bytes little-endian: bit-exact, NaN included
//	Float64s  Uvarint count, then count Float64s
//	Int32s    Uvarint count, then count Varints
//	Ints      Uvarint count, then count Varints
//	String    Uvarint byte length, then the bytes
//	Strings   Uvarint count, then count Strings
//	Bytes     Uvarint length, then the bytes
//	Bool      one byte, 0 or 1
//
// A zero count decodes as a nil slice. The kinds:
//
//	usercf     *UserCF            ratings by user; the rest is rebuilt
//	nmf        *NMFModel          W, H and fit statistics
//	kmeans     *KMeansModel       scaled centres, comparison order, scaler
//	sgd        *SGDRegressor      options and the whole training state
//	holt       *HoltModel         one series' parameters and final state
//	holt-many  MarshalHoltModels  several series, as one blob
//	tfidf      *TfidfIndex        vocabulary, idf, document vectors
//
// # Versions
//
// Every kind carries its own version. A change to a kind's payload (a
// field added, removed or re-encoded) bumps that kind's version; the
// decoder keeps a branch for every version it has ever written, so a
// model stored by an older Flywheel still loads, with the documented
// default for whatever the older payload lacks. A version newer than the
// decoder knows is refused with ErrStateVersion: reading it as an older
// one would mistake its fields. The magic, the kind string and the CRC
// trailer are fixed for all versions.
//
// # Robustness
//
// Decoding never panics on bad bytes. The CRC catches storage corruption;
// beyond it, every count is checked against the bytes remaining before
// anything is allocated, every index against the dimension it indexes,
// and every decoded state is validated as its constructor would, so a
// decoded model's methods cannot index out of range. Errors wrap
// ErrStateCorrupt, ErrStateVersion or ErrStateKind.
//
// # Use
//
// NewEncoder writes the header, the methods append payload fields,
// Finish appends the CRC and returns the blob.
type Encoder struct {
	buf []byte
}

// NewEncoder starts a blob of the given kind and format version, with
// room for sizeHint payload bytes (0 if unknown).
func NewEncoder(kind string, version uint64, sizeHint int) *Encoder {
	e := &Encoder{buf: make([]byte, 0, len(stateMagic)+len(kind)+2*binary.MaxVarintLen64+max(sizeHint, 0)+4)}
	e.buf = append(e.buf, stateMagic...)
	e.String(kind)
	e.Uvarint(version)
	return e
}

// Uvarint appends an unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

// Varint appends a zig-zag signed varint.
func (e *Encoder) Varint(v int64) { e.buf = binary.AppendVarint(e.buf, v) }

// Int appends an int as a Varint.
func (e *Encoder) Int(v int) { e.Varint(int64(v)) }

// Bool appends one byte, 0 or 1.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// Float64 appends v's IEEE 754 bits, little-endian.
func (e *Encoder) Float64(v float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v))
}

// Float64s appends a count and the values.
func (e *Encoder) Float64s(v []float64) {
	e.Uvarint(uint64(len(v)))
	e.buf = growBytes(e.buf, 8*len(v))
	for _, f := range v {
		e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(f))
	}
}

// Int32s appends a count and the values as Varints.
func (e *Encoder) Int32s(v []int32) {
	e.Uvarint(uint64(len(v)))
	for _, x := range v {
		e.Varint(int64(x))
	}
}

// Ints appends a count and the values as Varints.
func (e *Encoder) Ints(v []int) {
	e.Uvarint(uint64(len(v)))
	for _, x := range v {
		e.Varint(int64(x))
	}
}

// String appends a length and the bytes of s.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// Strings appends a count and the strings.
func (e *Encoder) Strings(v []string) {
	e.Uvarint(uint64(len(v)))
	for _, s := range v {
		e.String(s)
	}
}

// Bytes appends a length and b.
func (e *Encoder) Bytes(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// Finish appends the CRC and returns the blob. The Encoder must not be
// used afterwards.
func (e *Encoder) Finish() []byte {
	e.buf = binary.LittleEndian.AppendUint32(e.buf, crc32.Checksum(e.buf, castagnoli()))
	b := e.buf
	e.buf = nil
	return b
}

// growBytes makes room for n more bytes in one allocation.
func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n+len(b)/4)
	copy(nb, b)
	return nb
}

// StateHeader reads a blob's kind and version without decoding its
// payload, e.g. for a model store to check what it holds. It checks the
// magic and the CRC.
func StateHeader(b []byte) (kind string, version uint64, err error) {
	d, err := openState(b)
	if err != nil {
		return "", 0, err
	}
	return d.kind, d.Version, nil
}

// Decoder reads a state blob's payload. Its methods never panic: the
// first failure is kept (see Err) and every later read returns a zero
// value, so a payload decoder can read all its fields and check once.
type Decoder struct {
	buf  []byte // payload, CRC removed
	off  int
	err  error
	kind string
	// Version is the blob's format version, for decoders with a branch
	// per version.
	Version uint64
}

// openState checks the magic and the CRC and reads the header.
func openState(b []byte) (*Decoder, error) {
	if len(b) < len(stateMagic)+4 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: not a Flywheel model state (no %q header)", ErrStateCorrupt, stateMagic)
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli()), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (%08x, stored %08x): the bytes were damaged or truncated", ErrStateCorrupt, got, want)
	}
	d := &Decoder{buf: body, off: len(stateMagic)}
	d.kind = d.String()
	d.Version = d.Uvarint()
	if d.err != nil {
		return nil, fmt.Errorf("header: %w", d.err)
	}
	return d, nil
}

// NewDecoder opens a blob that must be of the given kind with a version
// in [1, maxVersion].
func NewDecoder(b []byte, kind string, maxVersion uint64) (*Decoder, error) {
	d, err := openState(b)
	if err != nil {
		return nil, err
	}
	if d.kind != kind {
		return nil, fmt.Errorf("%w: want a %q state, got %q", ErrStateKind, kind, d.kind)
	}
	if d.Version == 0 {
		return nil, fmt.Errorf("%w: %q state has format version 0", ErrStateCorrupt, kind)
	}
	if d.Version > maxVersion {
		return nil, fmt.Errorf("%w: %q state has format version %d, this Flywheel reads versions 1 to %d (was it written by a newer Flywheel?)", ErrStateVersion, kind, d.Version, maxVersion)
	}
	return d, nil
}

// Err returns the first decoding failure, or nil.
func (d *Decoder) Err() error { return d.err }

// Fail records a failure (the first one wins), for payload decoders'
// own checks; it wraps ErrStateCorrupt.
func (d *Decoder) Fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s state: %s", ErrStateCorrupt, d.kind, fmt.Sprintf(format, a...))
	}
}

// Finish returns the first failure, or an error if payload bytes remain
// unread (a sign of a mismatched version or damage the CRC missed).
func (d *Decoder) Finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.Fail("%d bytes left after the payload", len(d.buf)-d.off)
	}
	return d.err
}

// Remaining is the number of unread payload bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.Fail("bad or truncated varint at byte %d", d.off)
		return 0
	}
	d.off += n
	return v
}

// Varint reads a zig-zag signed varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.Fail("bad or truncated varint at byte %d", d.off)
		return 0
	}
	d.off += n
	return v
}

// Int reads a Varint that must lie in [lo, hi].
func (d *Decoder) Int(what string, lo, hi int) int {
	v := d.Varint()
	if d.err != nil {
		return 0
	}
	if v < int64(lo) || v > int64(hi) {
		d.Fail("%s %d is outside [%d, %d]", what, v, lo, hi)
		return 0
	}
	return int(v)
}

// Bool reads one byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	if d.err != nil {
		return false
	}
	if d.off >= len(d.buf) || d.buf[d.off] > 1 {
		d.Fail("bad or truncated bool at byte %d", d.off)
		return false
	}
	d.off++
	return d.buf[d.off-1] == 1
}

// Float64 reads 8 bytes of IEEE 754 bits.
func (d *Decoder) Float64() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.buf)-d.off < 8 {
		d.Fail("truncated float at byte %d", d.off)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.buf[d.off:]))
	d.off += 8
	return v
}

// Count reads a count of elements taking at least minBytes each and
// checks it against the bytes remaining, so that no allocation can
// exceed the blob's own size by more than a constant factor.
func (d *Decoder) Count(minBytes int) int {
	v := d.Uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(d.Remaining()/max(minBytes, 1)) {
		d.Fail("count %d at byte %d exceeds the %d bytes remaining", v, d.off, d.Remaining())
		return 0
	}
	return int(v)
}

// Float64s reads a count and the values. Here and in every slice reader
// a zero count reads as nil, which is what states hold for "none".
func (d *Decoder) Float64s() []float64 {
	n := d.Count(8)
	if d.err != nil || n == 0 {
		return nil
	}
	v := make([]float64, n)
	b := d.buf[d.off : d.off+8*n]
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	d.off += 8 * n
	return v
}

// Int32s reads a count and the values.
func (d *Decoder) Int32s() []int32 {
	n := d.Count(1)
	if d.err != nil || n == 0 {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		x := d.Varint()
		if x < math.MinInt32 || x > math.MaxInt32 {
			d.Fail("value %d does not fit in 32 bits", x)
		}
		if d.err != nil {
			return nil
		}
		v[i] = int32(x)
	}
	return v
}

// Ints reads a count and the values.
func (d *Decoder) Ints() []int {
	n := d.Count(1)
	if d.err != nil || n == 0 {
		return nil
	}
	v := make([]int, n)
	for i := range v {
		x := d.Varint()
		if x < math.MinInt || x > math.MaxInt {
			d.Fail("value %d does not fit in an int", x)
		}
		if d.err != nil {
			return nil
		}
		v[i] = int(x)
	}
	return v
}

// raw reads n bytes without copying them.
func (d *Decoder) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// String reads a length and that many bytes.
func (d *Decoder) String() string {
	return string(d.raw(d.Count(1)))
}

// Strings reads a count and the strings.
func (d *Decoder) Strings() []string {
	n := d.Count(1) // every string has at least its length byte
	if d.err != nil || n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.String()
		if d.err != nil {
			return nil
		}
	}
	return v
}

// Bytes reads a length and a copy of that many bytes.
func (d *Decoder) Bytes() []byte {
	b := d.raw(d.Count(1))
	if d.err != nil || len(b) == 0 {
		return nil
	}
	return append([]byte{}, b...)
}
