package corruption

// scratch holds the working images and buffers of the image families, so
// that a worker that corrupts sample after sample allocates them once: each
// is resized in place (its capacity kept) at every use. A scratch serves
// one goroutine at a time.
type scratch struct {
	in, out      Image // the sample and the corrupted result
	tmp          Image // correlateSep's intermediate pass
	a, b         Image // glass blur's and elastic's intermediate images
	fx, fy       Image // elastic's displacement fields
	crop, zm     Image // clippedZoom's crop and zoomed crop
	zoom         Image // zoom blur's one zoomed copy
	layer, layr2 Image // snow's layer
	u8, small    Image // pixelate's and jpeg's 8-bit images
	box          Image // boxResize's horizontal pass
	gk           []float64
	mk           []float64 // motion blur's kernel and offsets
	mox, moy     []int
	pl, lt, tt   []float64 // plasma's height map and diamond sums
	px           []float64
	disks        map[[2]float64][]tap
	boxes        map[[2]int]boxCoeffs
}

// resize makes m an h×w×c image of zeros, reusing its pixel storage when
// it is large enough, and returns m.
func (m *Image) resize(h, w, c int) *Image {
	m.H, m.W, m.C = h, w, c
	m.P = grow(m.P, h*w*c)
	clear(m.P)
	return m
}

// set makes m a copy of src, reusing its pixel storage when it is large
// enough, and returns m.
func (m *Image) set(src *Image) *Image {
	m.H, m.W, m.C = src.H, src.W, src.C
	m.P = grow(m.P, len(src.P))
	copy(m.P, src.P)
	return m
}

// grow returns s resliced to n elements, reallocated only when its
// capacity is below n; its contents are unspecified.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
