package corruption

import "math"

// Image is one image in height × width × channel order (the reference's
// HWC numpy layout), values in [0, 1] (the reference's pixel/255).
type Image struct {
	H, W, C int
	P       []float64
}

// NewImage returns a zero image of the given size.
func NewImage(h, w, c int) *Image { return &Image{H: h, W: w, C: c, P: make([]float64, h*w*c)} }

func (m *Image) idx(y, x, c int) int { return (y*m.W+x)*m.C + c }

// Clone returns a copy of m.
func (m *Image) Clone() *Image {
	o := *m
	o.P = append([]float64(nil), m.P...)
	return &o
}

func clip01(v float64) float64 { return min(max(v, 0), 1) }

func (m *Image) clip() {
	for i, v := range m.P {
		m.P[i] = clip01(v)
	}
}

// Boundary modes, by scipy.ndimage's names.
type boundary int

const (
	nearest boundary = iota // a a | a b c d | d d (scipy nearest, cv2 BORDER_REPLICATE)
	halfSym                 // b a | a b c d | d c (scipy reflect, half-sample symmetric)
	mirror                  // c b | a b c d | c b (scipy mirror, cv2 BORDER_REFLECT_101)
)

// at maps index i into [0, n) by mode b.
func (b boundary) at(i, n int) int {
	if i >= 0 && i < n {
		return i
	}
	if n == 1 {
		return 0
	}
	switch b {
	case halfSym:
		p := 2 * n
		i %= p
		if i < 0 {
			i += p
		}
		if i >= n {
			i = p - 1 - i
		}
		return i
	case mirror:
		p := 2*n - 2
		i %= p
		if i < 0 {
			i += p
		}
		if i >= n {
			i = p - i
		}
		return i
	}
	return min(max(i, 0), n-1)
}

// gaussKernel writes into k scipy.ndimage's 1-D Gaussian weights of σ
// sigma truncated at truncate·σ (radius int(truncate·σ + 0.5)),
// normalised, and returns them (k resliced).
func gaussKernel(k []float64, sigma, truncate float64) []float64 {
	r := int(truncate*sigma + 0.5)
	k = grow(k, 2*r+1)
	var s float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-0.5 * float64(i*i) / (sigma * sigma))
		k[i+r] = v
		s += v
	}
	for i := range k {
		k[i] /= s
	}
	return k
}

// gaussian blurs every channel of m into dst as scipy.ndimage.gaussian_filter
// with σ sigma on the two spatial axes (skimage.filters.gaussian with
// multichannel=True): rows first, then columns. σ ≤ 1e-15 is the identity,
// as in scipy. dst must not be m or sc.tmp.
func (sc *scratch) gaussian(dst, m *Image, sigma, truncate float64, b boundary) *Image {
	if sigma <= 1e-15 {
		return dst.set(m)
	}
	sc.gk = gaussKernel(sc.gk, sigma, truncate)
	return correlateSep(dst, &sc.tmp, m, sc.gk, sc.gk, b)
}

// correlateSep correlates m with ky along the rows axis (y) into tmp and
// then tmp with kx along the columns axis (x) into dst, both centred.
func correlateSep(dst, tmp, m *Image, ky, kx []float64, b boundary) *Image {
	t := tmp.resize(m.H, m.W, m.C)
	ry, rx := len(ky)/2, len(kx)/2
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < m.C; c++ {
				var s float64
				for i, w := range ky {
					s += w * m.P[m.idx(b.at(y+i-ry, m.H), x, c)]
				}
				t.P[t.idx(y, x, c)] = s
			}
		}
	}
	o := dst.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < m.C; c++ {
				var s float64
				for i, w := range kx {
					s += w * t.P[t.idx(y, b.at(x+i-rx, m.W), c)]
				}
				o.P[o.idx(y, x, c)] = s
			}
		}
	}
	return o
}

// tap is one non-zero weight of a 2-D kernel at offset (dy, dx) from its
// centre.
type tap struct {
	dy, dx int
	w      float64
}

// kernelTaps returns the non-zero weights of the kh×kw kernel k (row
// major), anchored at its centre.
func kernelTaps(k []float64, kh, kw int) []tap {
	var taps []tap
	for i := 0; i < kh; i++ {
		for j := 0; j < kw; j++ {
			if w := k[i*kw+j]; w != 0 {
				taps = append(taps, tap{i - kh/2, j - kw/2, w})
			}
		}
	}
	return taps
}

// filter2D correlates every channel of m with the kernel taps (from
// kernelTaps: zero weights, the corners of a defocus disk, skipped) into
// dst, with cv2's default border (BORDER_REFLECT_101), as
// cv2.filter2D(x, -1, k).
func filter2D(dst, m *Image, taps []tap) *Image {
	o := dst.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < m.C; c++ {
				var s float64
				for _, t := range taps {
					s += t.w * m.P[m.idx(mirror.at(y+t.dy, m.H), mirror.at(x+t.dx, m.W), c)]
				}
				o.P[o.idx(y, x, c)] = s
			}
		}
	}
	return o
}

// zoomLinear resizes m to oh×ow into dst by linear interpolation with the
// corners mapped onto the corners, as scipy.ndimage.zoom(order=1)
// (grid_mode False): input coordinate = output coordinate · (n−1)/(m−1).
func zoomLinear(dst, m *Image, oh, ow int) *Image {
	o := dst.resize(oh, ow, m.C)
	coord := func(i, n, out int) (int, int, float64) {
		if out <= 1 || n <= 1 {
			return 0, 0, 0
		}
		f := float64(i) * float64(n-1) / float64(out-1)
		i0 := min(int(math.Floor(f)), n-1)
		i1 := min(i0+1, n-1)
		return i0, i1, f - float64(i0)
	}
	for y := 0; y < oh; y++ {
		y0, y1, fy := coord(y, m.H, oh)
		for x := 0; x < ow; x++ {
			x0, x1, fx := coord(x, m.W, ow)
			for c := 0; c < m.C; c++ {
				v00, v01 := m.P[m.idx(y0, x0, c)], m.P[m.idx(y0, x1, c)]
				v10, v11 := m.P[m.idx(y1, x0, c)], m.P[m.idx(y1, x1, c)]
				o.P[o.idx(y, x, c)] = (1-fy)*((1-fx)*v00+fx*v01) + fy*((1-fx)*v10+fx*v11)
			}
		}
	}
	return o
}

// roundHalfEven is Python 3's round.
func roundHalfEven(v float64) int { return int(math.RoundToEven(v)) }

// clippedZoom is the reference's clipped_zoom on each spatial axis, into
// dst: crop the central ceil(n/z) pixels, zoom them by z (scipy, order 1,
// to round(size·z) pixels) and trim the centre n. The reference crops rows
// and columns by the height alone (square images); here each axis uses its
// own. dst must not be m, sc.crop or sc.zm.
func (sc *scratch) clippedZoom(dst, m *Image, z float64) *Image {
	ch := int(math.Ceil(float64(m.H) / z))
	cw := int(math.Ceil(float64(m.W) / z))
	top, left := (m.H-ch)/2, (m.W-cw)/2
	crop := sc.crop.resize(ch, cw, m.C)
	for y := 0; y < ch; y++ {
		for x := 0; x < cw; x++ {
			for c := 0; c < m.C; c++ {
				crop.P[crop.idx(y, x, c)] = m.P[m.idx(y+top, x+left, c)]
			}
		}
	}
	zm := zoomLinear(&sc.zm, crop, roundHalfEven(float64(ch)*z), roundHalfEven(float64(cw)*z))
	ty, tx := (zm.H-m.H)/2, (zm.W-m.W)/2
	o := dst.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < m.C; c++ {
				yy, xx := y+ty, x+tx
				if yy < zm.H && xx < zm.W && yy >= 0 && xx >= 0 {
					o.P[o.idx(y, x, c)] = zm.P[zm.idx(yy, xx, c)]
				}
			}
		}
	}
	return o
}

// gray returns cv2's RGB2GRAY (0.299 R + 0.587 G + 0.114 B) of pixel
// (y, x); the pixel itself for one channel.
func (m *Image) gray(y, x int) float64 {
	if m.C < 3 {
		return m.P[m.idx(y, x, 0)]
	}
	i := m.idx(y, x, 0)
	return 0.299*m.P[i] + 0.587*m.P[i+1] + 0.114*m.P[i+2]
}

// bilinear samples channel c of m at (fy, fx) with neighbours mapped by b
// (scipy.ndimage.map_coordinates, order 1).
func (m *Image) bilinear(fy, fx float64, c int, b boundary) float64 {
	y0, x0 := int(math.Floor(fy)), int(math.Floor(fx))
	wy, wx := fy-float64(y0), fx-float64(x0)
	ya, yb := b.at(y0, m.H), b.at(y0+1, m.H)
	xa, xb := b.at(x0, m.W), b.at(x0+1, m.W)
	return (1-wy)*((1-wx)*m.P[m.idx(ya, xa, c)]+wx*m.P[m.idx(ya, xb, c)]) +
		wy*((1-wx)*m.P[m.idx(yb, xa, c)]+wx*m.P[m.idx(yb, xb, c)])
}
