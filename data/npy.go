package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/sbinet/npyio/npy"
)

// maxHeaderLen bounds the .npy header dictionary we are willing to allocate
// for; NumPy writes headers of 118 bytes or so, so anything near this is a
// corrupt length field.
const maxHeaderLen = 1 << 20

// maxArrayBytes bounds the data size a header may claim (1 TiB); it only
// guards the size arithmetic against overflow. Memory is allocated up front
// only up to maxPrealloc elements; beyond that buffers grow as data actually
// arrives, so a corrupt shape fails as a truncated file, not out of memory.
const maxArrayBytes = 1 << 40

// maxPrealloc is the most elements allocated before any data has been read
// (64 MiB of float32); larger arrays grow as their data arrives.
const maxPrealloc = 1 << 24

// chunkBytes is the size of the buffer array data is decoded through.
const chunkBytes = 64 << 10

// npyArray describes a .npy array whose header has been read.
type npyArray struct {
	descr string           // dtype as written, e.g. "<f4"
	kind  byte             // 'f', 'i', 'u' or 'b'
	size  int              // bytes per element
	order binary.ByteOrder // byte order of the elements
	shape []int
	n     int // number of elements
}

// dtypeName returns the NumPy name of a's dtype, for messages.
func (a *npyArray) dtypeName() string {
	switch a.kind {
	case 'f':
		return "float" + strconv.Itoa(8*a.size)
	case 'i':
		return "int" + strconv.Itoa(8*a.size)
	case 'u':
		return "uint" + strconv.Itoa(8*a.size)
	case 'b':
		return "bool"
	}
	return a.descr
}

// readNPYHeader reads the preamble and header dictionary of a .npy stream,
// leaving r at the first byte of the array data. The dictionary is parsed by
// npyio; its parser slices without bounds checks, so it runs behind a recover
// and a corrupt header becomes an error, never a panic.
func readNPYHeader(r io.Reader) (*npyArray, error) {
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, fmt.Errorf("not a .npy array: %w", eofToShort(err))
	}
	if !bytes.Equal(pre[:6], npy.Magic[:]) {
		return nil, errors.New("not a .npy array (bad magic bytes)")
	}
	var hlen, plen int
	switch pre[6] {
	case 1:
		plen = 10
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fmt.Errorf("truncated .npy header: %w", eofToShort(err))
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case 2:
		plen = 12
		if _, err := io.ReadFull(r, pre[8:12]); err != nil {
			return nil, fmt.Errorf("truncated .npy header: %w", eofToShort(err))
		}
		h := binary.LittleEndian.Uint32(pre[8:12])
		if h > maxHeaderLen {
			return nil, fmt.Errorf("corrupt .npy header: length %d", h)
		}
		hlen = int(h)
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d", pre[6], pre[7])
	}
	buf := make([]byte, plen+hlen)
	copy(buf, pre[:plen])
	if _, err := io.ReadFull(r, buf[plen:]); err != nil {
		return nil, fmt.Errorf("truncated .npy header: %w", eofToShort(err))
	}
	if bytes.IndexByte(buf[plen:], '\n') < 0 {
		return nil, errors.New("corrupt .npy header: no newline terminator")
	}
	h, err := parseNPYHeader(buf)
	if err != nil {
		return nil, err
	}
	if h.Descr.Fortran && !orderFree(h.Descr.Shape) {
		return nil, fmt.Errorf("array is in Fortran order (fortran_order: True); only C order is supported: save it with np.ascontiguousarray")
	}
	a := &npyArray{descr: h.Descr.Type, shape: h.Descr.Shape}
	if err := a.setDtype(); err != nil {
		return nil, err
	}
	a.n = 1
	for _, s := range a.shape {
		if s < 0 {
			return nil, fmt.Errorf("corrupt .npy header: negative dimension in shape %v", a.shape)
		}
		if s != 0 && a.n > maxArrayBytes/a.size/s {
			return nil, fmt.Errorf("array shape %v is too large", a.shape)
		}
		a.n *= s
	}
	return a, nil
}

// orderFree reports whether C and Fortran order lay out an array of this
// shape identically (at most one dimension longer than 1).
func orderFree(shape []int) bool {
	long := 0
	for _, s := range shape {
		if s > 1 {
			long++
		}
	}
	return long <= 1
}

// parseNPYHeader runs npyio's header parser on the complete header bytes b.
func parseNPYHeader(b []byte) (h npy.Header, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("corrupt .npy header dictionary")
		}
	}()
	rd, err := npy.NewReader(bytes.NewReader(b))
	if err != nil {
		return h, fmt.Errorf("corrupt .npy header: %w", err)
	}
	return rd.Header, nil
}

// setDtype decodes a.descr ("<f4", "|u1", ">i8", ...).
func (a *npyArray) setDtype() error {
	d := a.descr
	bad := fmt.Errorf("unsupported dtype %q", d)
	if len(d) < 2 {
		return bad
	}
	a.order = binary.LittleEndian
	switch d[0] {
	case '<', '|':
		d = d[1:]
	case '>':
		a.order = binary.BigEndian
		d = d[1:]
	}
	if len(d) < 2 {
		return bad
	}
	size, err := strconv.Atoi(d[1:])
	if err != nil {
		return bad
	}
	a.kind, a.size = d[0], size
	switch {
	case a.kind == 'f' && (size == 4 || size == 8),
		(a.kind == 'i' || a.kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8),
		a.kind == 'b' && size == 1:
		return nil
	}
	return bad
}

// readX decodes the array data of a (r is positioned at it), multiplying every value by scale. uint8 data
// with scale 0 is divided by 255 (rounded once to float32, as NumPy's
// (x / 255).astype(float32) does); any other scale 0 means 1. Only float32,
// float64, uint8, int32 and int64 are accepted.
func readX(r io.Reader, a *npyArray, scale float64) ([]float32, error) {
	switch {
	case a.kind == 'f', a.kind == 'u' && a.size == 1, a.kind == 'i' && (a.size == 4 || a.size == 8):
	default:
		return nil, fmt.Errorf("unsupported dtype %s (%q) for x: want float32, float64, uint8, int32 or int64", a.dtypeName(), a.descr)
	}
	var lut *[256]float32
	if a.kind == 'u' {
		lut = new([256]float32)
		for k := range lut {
			if scale == 0 {
				lut[k] = float32(float64(k) / 255)
			} else {
				lut[k] = float32(float64(k) * scale)
			}
		}
	}
	if scale == 0 {
		scale = 1
	}
	dst := make([]float32, 0, min(a.n, maxPrealloc))
	err := decode(r, a, func(b []byte, off int) {
		k := len(b) / a.size
		dst = slices.Grow(dst, k)[:off+k]
		out := dst[off:]
		switch {
		case lut != nil:
			for i, v := range b {
				out[i] = lut[v]
			}
		case a.kind == 'f' && a.size == 4:
			for i := range len(b) / 4 {
				v := math.Float32frombits(a.order.Uint32(b[4*i:]))
				if scale != 1 {
					v = float32(float64(v) * scale)
				}
				out[i] = v
			}
		case a.kind == 'f' && a.size == 8:
			for i := range len(b) / 8 {
				out[i] = float32(math.Float64frombits(a.order.Uint64(b[8*i:])) * scale)
			}
		case a.size == 4:
			for i := range len(b) / 4 {
				out[i] = float32(float64(int32(a.order.Uint32(b[4*i:]))) * scale)
			}
		default: // int64
			for i := range len(b) / 8 {
				out[i] = float32(float64(int64(a.order.Uint64(b[8*i:]))) * scale)
			}
		}
	})
	return dst, err
}

// readY decodes the label array data of a (r is positioned at it). Integer
// dtypes int64, int32 and uint8 are taken as they are; float32/float64 must
// hold integral values.
func readY(r io.Reader, a *npyArray) ([]int64, error) {
	switch {
	case a.kind == 'f', a.kind == 'u' && a.size == 1, a.kind == 'i' && (a.size == 4 || a.size == 8):
	default:
		return nil, fmt.Errorf("unsupported dtype %s (%q) for y: want int64, int32, uint8, or float holding integers", a.dtypeName(), a.descr)
	}
	bad := -1
	var badV float64
	dst := make([]int64, 0, min(a.n, maxPrealloc))
	err := decode(r, a, func(b []byte, off int) {
		k := len(b) / a.size
		dst = slices.Grow(dst, k)[:off+k]
		out := dst[off:]
		switch {
		case a.kind == 'u':
			for i, v := range b {
				out[i] = int64(v)
			}
		case a.kind == 'i' && a.size == 4:
			for i := range len(b) / 4 {
				out[i] = int64(int32(a.order.Uint32(b[4*i:])))
			}
		case a.kind == 'i':
			for i := range len(b) / 8 {
				out[i] = int64(a.order.Uint64(b[8*i:]))
			}
		default:
			for i := range len(b) / a.size {
				var v float64
				if a.size == 4 {
					v = float64(math.Float32frombits(a.order.Uint32(b[4*i:])))
				} else {
					v = math.Float64frombits(a.order.Uint64(b[8*i:]))
				}
				if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
					if bad < 0 {
						bad, badV = off+i, v
					}
					continue
				}
				out[i] = int64(v)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if bad >= 0 {
		return nil, fmt.Errorf("label at row %d is %v, not an integer class id", bad, badV)
	}
	return dst, nil
}

// decode reads the a.n elements of a from r in chunks and hands each chunk
// to fn together with the index of its first element.
func decode(r io.Reader, a *npyArray, fn func(b []byte, off int)) error {
	per := chunkBytes / a.size
	buf := make([]byte, per*a.size)
	for off := 0; off < a.n; {
		k := min(per, a.n-off)
		if _, err := io.ReadFull(r, buf[:k*a.size]); err != nil {
			return fmt.Errorf("truncated array data: shape %v needs %d bytes of %s, file ends early: %w",
				a.shape, a.n*a.size, a.dtypeName(), eofToShort(err))
		}
		fn(buf[:k*a.size], off)
		off += k
	}
	return nil
}

// expectEOF checks that r holds no bytes after the array data.
func expectEOF(r io.Reader) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	if n > 0 {
		return errors.New("trailing bytes after the array data (corrupt file?)")
	}
	if err != io.EOF {
		return err
	}
	return nil
}

// eofToShort makes a bare io.EOF read as a truncation.
func eofToShort(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
