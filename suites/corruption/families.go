package corruption

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Families are the 15 ImageNet-C corruption families in the paper's order
// (noise, blur, weather, digital).
var Families = []string{
	"gaussian_noise", "shot_noise", "impulse_noise",
	"defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
	"snow", "frost", "fog",
	"brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
}

// Corrupt applies family at severity s (1…5) with the parameters of p to a
// copy of m, drawing randomness from r, and returns the result clipped to
// [0, 1]. Each family follows the reference function of the same name; the
// differences are named in docs/metrics/corruption.md.
func Corrupt(family string, s int, p ParamSet, m *Image, r *rand.Rand) (*Image, error) {
	if s < 1 || s > 5 {
		return nil, fmt.Errorf("corruption %s: severity %d is outside 1..5", family, s)
	}
	return new(scratch).corrupt(family, s, p, m, r)
}

// corrupt is Corrupt with the working images of sc, whose out image it
// returns (valid until the next call): once sc has seen an image size,
// every family but jpeg_compression allocates nothing. m must not be one
// of sc's working images other than sc.in.
func (sc *scratch) corrupt(family string, s int, p ParamSet, m *Image, r *rand.Rand) (*Image, error) {
	if s < 1 || s > 5 {
		return nil, fmt.Errorf("corruption %s: severity %d is outside 1..5", family, s)
	}
	o := sc.apply(family, s, p, m, r)
	if o == nil {
		return nil, fmt.Errorf("corruption: unknown image family %q", family)
	}
	return o, nil
}

func (sc *scratch) apply(family string, s int, p ParamSet, m *Image, r *rand.Rand) *Image {
	i := s - 1
	switch family {
	case "gaussian_noise":
		o := sc.out.set(m)
		for j := range o.P {
			o.P[j] += p.Gaussian[i] * r.NormFloat64()
		}
		o.clip()
		return o
	case "shot_noise":
		o := sc.out.set(m)
		c := p.Shot[i]
		for j, v := range o.P {
			o.P[j] = float64(poisson(r, v*c)) / c
		}
		o.clip()
		return o
	case "impulse_noise":
		// skimage.util.random_noise(mode="s&p", amount, salt_vs_pepper
		// 0.5): each value independently.
		o := sc.out.set(m)
		for j := range o.P {
			if r.Float64() < p.Impulse[i] {
				if r.Float64() < 0.5 {
					o.P[j] = 1
				} else {
					o.P[j] = 0
				}
			}
		}
		return o
	case "defocus_blur":
		o := filter2D(&sc.out, m, sc.disk(p.Defocus[i][0], p.Defocus[i][1]))
		o.clip()
		return o
	case "glass_blur":
		return sc.glassBlur(m, p.Glass[i], r)
	case "motion_blur":
		o := sc.motionBlur(&sc.out, m, p.Motion[i][0], p.Motion[i][1], -45+90*r.Float64())
		o.clip()
		return o
	case "zoom_blur":
		o := sc.out.set(m)
		nz := zoomCount(p.Zoom[i])
		for k := range nz {
			zm := sc.clippedZoom(&sc.zoom, m, zoomFactor(p.Zoom[i], k))
			for j, v := range zm.P {
				o.P[j] += v
			}
		}
		for j := range o.P {
			o.P[j] /= float64(nz + 1)
		}
		o.clip()
		return o
	case "snow":
		return sc.snow(m, p.Snow[i], r)
	case "frost":
		return sc.frost(m, p, i, r)
	case "fog":
		c := p.Fog[i]
		mx := 0.0
		for _, v := range m.P {
			mx = max(mx, v)
		}
		pl := sc.plasma(pow2(max(m.H, m.W)), c[1], r)
		n := pow2(max(m.H, m.W))
		o := sc.out.set(m)
		for y := 0; y < m.H; y++ {
			for x := 0; x < m.W; x++ {
				for ch := 0; ch < m.C; ch++ {
					j := o.idx(y, x, ch)
					o.P[j] = clip01((o.P[j] + c[0]*pl[y*n+x]) * mx / (mx + c[0]))
				}
			}
		}
		return o
	case "brightness":
		// skimage rgb2hsv, V += c clipped, hsv2rgb: hue and saturation
		// kept, so every channel scales by V'/V (a black pixel becomes
		// grey V').
		o := sc.out.set(m)
		c := p.Bright[i]
		for px := 0; px < m.H*m.W; px++ {
			v := 0.0
			for ch := 0; ch < m.C; ch++ {
				v = max(v, o.P[px*m.C+ch])
			}
			nv := min(v+c, 1)
			for ch := 0; ch < m.C; ch++ {
				if v > 0 {
					o.P[px*m.C+ch] *= nv / v
				} else {
					o.P[px*m.C+ch] = nv
				}
			}
		}
		o.clip()
		return o
	case "contrast":
		o := sc.out.set(m)
		c := p.Contrast[i]
		n := float64(m.H * m.W)
		for ch := 0; ch < m.C; ch++ {
			var mean float64
			for px := 0; px < m.H*m.W; px++ {
				mean += m.P[px*m.C+ch]
			}
			mean /= n
			for px := 0; px < m.H*m.W; px++ {
				j := px*m.C + ch
				o.P[j] = clip01((m.P[j]-mean)*c + mean)
			}
		}
		return o
	case "elastic_transform":
		return sc.elastic(m, p.Elastic[i], r)
	case "pixelate":
		c := p.Pixelate[i]
		u := toUint8(&sc.u8, m)
		small := sc.boxResize(&sc.small, u, int(float64(m.W)*c), int(float64(m.H)*c))
		return fromUint8(sc.boxResize(&sc.out, small, m.W, m.H))
	case "jpeg_compression":
		return jpegRoundTrip(&sc.u8, m, p.JPEG[i])
	}
	return nil
}

// pow2 returns the smallest power of two ≥ n.
func pow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// poisson draws from Poisson(lam) as numpy's legacy generator does:
// multiplication of uniforms below 10, Hörmann's PTRS (1993) above.
func poisson(r *rand.Rand, lam float64) int64 {
	if lam <= 0 {
		return 0
	}
	if lam < 10 {
		enlam := math.Exp(-lam)
		var x int64
		prod := 1.0
		for {
			prod *= r.Float64()
			if prod <= enlam {
				return x
			}
			x++
		}
	}
	slam, loglam := math.Sqrt(lam), math.Log(lam)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lam + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -lam+k*loglam-lg {
			return int64(k)
		}
	}
}

// disk returns the taps of disk(radius, aliasBlur), computed once per sc.
func (sc *scratch) disk(radius, aliasBlur float64) []tap {
	key := [2]float64{radius, aliasBlur}
	if t, ok := sc.disks[key]; ok {
		return t
	}
	k, n := disk(radius, aliasBlur)
	t := kernelTaps(k, n, n)
	if sc.disks == nil {
		sc.disks = map[[2]float64][]tap{}
	}
	sc.disks[key] = t
	return t
}

// disk returns the reference's defocus kernel (n×n, row major): the
// aliased disk of the given radius on the grid −8…8 (−r…r above 8),
// normalised, then cv2.GaussianBlur with a 3×3 (5×5 above 8) kernel of
// σ aliasBlur and cv2's default border (reflect 101).
func disk(radius, aliasBlur float64) ([]float64, int) {
	lo, ks := -8, 3
	if radius > 8 {
		lo, ks = -int(math.Floor(radius)), 5
	}
	n := 2*(-lo) + 1
	k := NewImage(n, n, 1)
	var s float64
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			X, Y := float64(x+lo), float64(y+lo)
			if X*X+Y*Y <= radius*radius {
				k.P[y*n+x] = 1
				s++
			}
		}
	}
	for j := range k.P {
		k.P[j] /= s
	}
	g := make([]float64, ks)
	var gs float64
	for j := range g {
		d := float64(j - ks/2)
		g[j] = math.Exp(-d * d / (2 * aliasBlur * aliasBlur))
		gs += g[j]
	}
	for j := range g {
		g[j] /= gs
	}
	return correlateSep(NewImage(n, n, 1), NewImage(n, n, 1), k, g, g, mirror).P, n
}

// glassBlur: Gaussian blur, quantised to 8 bits (np.uint8 truncates),
// local pixel swaps, Gaussian blur again (skimage.filters.gaussian:
// scipy's, mode nearest, truncate 4).
func (sc *scratch) glassBlur(m *Image, c [3]float64, r *rand.Rand) *Image {
	sigma, d, iters := c[0], int(c[1]), int(c[2])
	o := sc.gaussian(&sc.a, m, sigma, 4, nearest)
	for j, v := range o.P {
		o.P[j] = math.Floor(v*255) / 255
	}
	sc.px = grow(sc.px, m.C)
	px := sc.px
	for it := 0; it < iters; it++ {
		for h := m.H - d; h > d; h-- {
			for w := m.W - d; w > d; w-- {
				// np.random.randint(-d, d, size=2): dx, dy in [−d, d).
				dx, dy := r.IntN(2*d)-d, r.IntN(2*d)-d
				hp, wp := h+dy, w+dx
				if hp >= m.H || wp >= m.W {
					continue // unreachable for h ≤ H−d, dy < d
				}
				a, b := o.idx(h, w, 0), o.idx(hp, wp, 0)
				copy(px, o.P[a:a+m.C])
				copy(o.P[a:a+m.C], o.P[b:b+m.C])
				copy(o.P[b:b+m.C], px)
			}
		}
	}
	o = sc.gaussian(&sc.out, o, sigma, 4, nearest)
	o.clip()
	return o
}

// motionBlur is ImageMagick's MotionBlurImage (the reference calls it
// through Wand) of m into dst: a one-sided Gaussian of width
// 2·ceil(radius)+1 along the direction of angle (degrees), edge pixels
// repeated outside the image.
func (sc *scratch) motionBlur(dst, m *Image, radius, sigma, angle float64) *Image {
	width := int(2*math.Ceil(radius) + 1)
	sc.mk, sc.mox, sc.moy = grow(sc.mk, width), grow(sc.mox, width), grow(sc.moy, width)
	k := sc.mk
	var s float64
	for i := range k {
		k[i] = math.Exp(-float64(i*i) / (2 * sigma * sigma))
		s += k[i]
	}
	px, py := float64(width)*math.Sin(angle*math.Pi/180), float64(width)*math.Cos(angle*math.Pi/180)
	hyp := math.Hypot(px, py)
	ox, oy := sc.mox, sc.moy
	for i := range k {
		k[i] /= s
		ox[i] = int(math.Ceil(float64(i)*py/hyp - 0.5))
		oy[i] = int(math.Ceil(float64(i)*px/hyp - 0.5))
	}
	o := dst.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < m.C; c++ {
				var v float64
				for i, w := range k {
					v += w * m.P[m.idx(nearest.at(y+oy[i], m.H), nearest.at(x+ox[i], m.W), c)]
				}
				o.P[o.idx(y, x, c)] = v
			}
		}
	}
	return o
}

// snow: a zoomed, thresholded Gaussian layer, quantised to 8 bits,
// motion-blurred at an angle in [−135°, −45°), added with its 180° turn to
// the image brightened towards its grey level.
func (sc *scratch) snow(m *Image, c [7]float64, r *rand.Rand) *Image {
	l := sc.layer.resize(m.H, m.W, 1)
	for j := range l.P {
		l.P[j] = c[0] + c[1]*r.NormFloat64()
	}
	l = sc.clippedZoom(&sc.layr2, l, c[2])
	for j, v := range l.P {
		if v < c[3] {
			v = 0
		}
		l.P[j] = math.Floor(clip01(v)*255) / 255
	}
	l = sc.motionBlur(&sc.layer, l, c[4], c[5], -135+90*r.Float64())
	o := sc.out.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			g := m.gray(y, x)*1.5 + 0.5
			sn := l.P[y*m.W+x] + l.P[(m.H-1-y)*m.W+(m.W-1-x)]
			for ch := 0; ch < m.C; ch++ {
				j := m.idx(y, x, ch)
				v := c[6]*m.P[j] + (1-c[6])*max(m.P[j], g)
				o.P[j] = clip01(v + sn)
			}
		}
	}
	return o
}

// frostPhotos are, per parameter set, the per-channel (R, G, B) mean and
// standard deviation, in [0, 1], of the frost layer the reference crops out
// of each of frost1.png … frost5.jpg (frost6 is never drawn:
// np.random.randint(5)): the expectation over the reference's uniform crop
// positions of the crop's mean and of its standard deviation, for the
// set's crop size and resize (cifar: cv2.resize 0.2, 32×32 crops; tiny:
// 0.3, 64×64; imagenet: no resize, 224×224), computed by
// testdata/frost_stats.py on the files of github.com/hendrycks/robustness.
// The photographs cannot ship with Gauntlet; a procedural layer with these
// statistics stands in for them.
var frostPhotos = map[string][5][2][3]float64{
	"cifar": {
		{{0.301, 0.581, 0.646}, {0.083, 0.051, 0.049}},
		{{0.778, 0.796, 0.832}, {0.070, 0.071, 0.073}},
		{{0.778, 0.796, 0.832}, {0.070, 0.071, 0.073}},
		{{0.563, 0.621, 0.671}, {0.101, 0.102, 0.106}},
		{{0.403, 0.447, 0.494}, {0.136, 0.135, 0.132}},
	},
	"tiny": {
		{{0.302, 0.580, 0.644}, {0.084, 0.051, 0.049}},
		{{0.777, 0.795, 0.831}, {0.070, 0.072, 0.075}},
		{{0.777, 0.795, 0.831}, {0.070, 0.072, 0.075}},
		{{0.567, 0.626, 0.676}, {0.091, 0.092, 0.097}},
		{{0.398, 0.442, 0.489}, {0.128, 0.127, 0.124}},
	},
	"imagenet": {
		{{0.302, 0.579, 0.644}, {0.092, 0.056, 0.052}},
		{{0.776, 0.793, 0.829}, {0.076, 0.078, 0.081}},
		{{0.776, 0.793, 0.829}, {0.076, 0.078, 0.081}},
		{{0.568, 0.626, 0.677}, {0.102, 0.102, 0.108}},
		{{0.395, 0.440, 0.487}, {0.141, 0.139, 0.136}},
	},
}

// frost blends the image with a procedural frost layer: one of the five
// photographs' statistics, drawn as the reference draws a photograph, and
// a plasma-fractal texture (wibble decay 2) standardised to their
// standard deviation, the same texture on every channel (the photographs'
// channels correlate at 0.8).
func (sc *scratch) frost(m *Image, p ParamSet, i int, r *rand.Rand) *Image {
	c := p.Frost[i]
	ph := frostPhotos[p.Name][r.IntN(5)]
	n := pow2(max(m.H, m.W))
	pl := sc.plasma(n, 2, r)
	var mean, sq float64
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			mean += pl[y*n+x]
		}
	}
	cnt := float64(m.H * m.W)
	mean /= cnt
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			d := pl[y*n+x] - mean
			sq += d * d
		}
	}
	sd := math.Sqrt(sq / cnt)
	if sd == 0 {
		sd = 1
	}
	o := sc.out.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			z := (pl[y*n+x] - mean) / sd
			var layer [3]float64
			for ch := range layer {
				layer[ch] = clip01(ph[0][ch] + ph[1][ch]*z)
			}
			for ch := 0; ch < m.C; ch++ {
				f := layer[ch%3]
				if m.C < 3 {
					f = 0.299*layer[0] + 0.587*layer[1] + 0.114*layer[2]
				}
				j := m.idx(y, x, ch)
				o.P[j] = clip01(c[0]*m.P[j] + c[1]*f)
			}
		}
	}
	return o
}

// plasma is the reference's plasma_fractal: a diamond-square height map of
// side n (a power of two), wibble 100 divided by decay at each level,
// scaled to [0, 1]; row major, in sc.pl.
func (sc *scratch) plasma(n int, decay float64, r *rand.Rand) []float64 {
	sc.pl = grow(sc.pl, n*n)
	a := sc.pl
	clear(a)
	wibble := 100.0
	noise := func() float64 { return wibble * (-wibble + 2*wibble*r.Float64()) }
	for step := n; step >= 2; step /= 2 {
		g := n / step
		h := step / 2
		ul := func(i, j int) float64 { return a[((i+g)%g*step)*n+(j+g)%g*step] }
		// fillsquares
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				s := ul(i, j) + ul(i+1, j) + ul(i, j+1) + ul(i+1, j+1)
				a[(i*step+h)*n+j*step+h] = s/4 + noise()
			}
		}
		dr := func(i, j int) float64 { return a[((i+g)%g*step+h)*n+(j+g)%g*step+h] }
		// filldiamonds: the top edges, then the left edges.
		sc.lt, sc.tt = grow(sc.lt, g*g), grow(sc.tt, g*g)
		lt, tt := sc.lt, sc.tt
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				lt[i*g+j] = dr(i, j) + dr(i-1, j) + ul(i, j) + ul(i, j+1)
				tt[i*g+j] = dr(i, j) + dr(i, j-1) + ul(i, j) + ul(i+1, j)
			}
		}
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				a[(i*step)*n+j*step+h] = lt[i*g+j]/4 + noise()
			}
		}
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				a[(i*step+h)*n+j*step] = tt[i*g+j]/4 + noise()
			}
		}
		wibble /= decay
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range a {
		lo, hi = min(lo, v), max(hi, v)
	}
	for j := range a {
		a[j] -= lo
		if hi > lo {
			a[j] /= hi - lo
		}
	}
	return a
}

// elastic: a random affine warp of the three reference points (cv2
// warpAffine, bilinear, reflect-101 border) and a smooth random
// displacement field (uniform noise, Gaussian σ, reflect, truncate 3,
// scaled by alpha) sampled bilinearly (map_coordinates, halfSym). The
// parameters are fractions of the image side (the larger of H and W).
func (sc *scratch) elastic(m *Image, c [3]float64, r *rand.Rand) *Image {
	side := float64(max(m.H, m.W))
	alpha, sigma, aff := c[0]*side, c[1]*side, c[2]*side
	cy, cx := float64(m.H/2), float64(m.W/2)
	sq := float64(min(m.H, m.W) / 3)
	// Points as the reference writes them ((row-ish, col-ish) read by cv2 as (x, y)).
	p1 := [3][2]float64{{cy + sq, cx + sq}, {cy + sq, cx - sq}, {cy - sq, cx - sq}}
	var p2 [3][2]float64
	for i := range p1 {
		for j := range p1[i] {
			p2[i][j] = p1[i][j] + float64(float32(-aff+2*aff*r.Float64()))
		}
	}
	inv := affineInverse(p1, p2)
	w := sc.a.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			sx := inv[0]*float64(x) + inv[1]*float64(y) + inv[2]
			sy := inv[3]*float64(x) + inv[4]*float64(y) + inv[5]
			for ch := 0; ch < m.C; ch++ {
				w.P[w.idx(y, x, ch)] = m.bilinear(sy, sx, ch, mirror)
			}
		}
	}
	field := func(dst *Image) *Image {
		f := sc.b.resize(m.H, m.W, 1)
		for j := range f.P {
			f.P[j] = -1 + 2*r.Float64()
		}
		f = sc.gaussian(dst, f, sigma, 3, halfSym)
		for j := range f.P {
			f.P[j] = float64(float32(f.P[j] * alpha))
		}
		return f
	}
	dx := field(&sc.fx)
	dy := field(&sc.fy)
	o := sc.out.resize(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			fy, fx := float64(y)+dy.P[y*m.W+x], float64(x)+dx.P[y*m.W+x]
			for ch := 0; ch < m.C; ch++ {
				o.P[o.idx(y, x, ch)] = clip01(w.bilinear(fy, fx, ch, halfSym))
			}
		}
	}
	return o
}

// affineInverse returns the affine map (2×3, row major) that takes the
// destination points q back to the source points p: the inverse of
// cv2.getAffineTransform(p, q), which warpAffine applies to each
// destination pixel.
func affineInverse(p, q [3][2]float64) [6]float64 {
	// Solve for M with [p_x p_y 1]·M_row = q: invert by solving q → p.
	solve := func(src [3][2]float64, dst [3]float64) [3]float64 {
		// a·x + b·y + c = d for three points (Cramer's rule).
		det := src[0][0]*(src[1][1]-src[2][1]) - src[0][1]*(src[1][0]-src[2][0]) + (src[1][0]*src[2][1] - src[2][0]*src[1][1])
		if det == 0 {
			return [3]float64{1, 0, 0}
		}
		da := dst[0]*(src[1][1]-src[2][1]) - src[0][1]*(dst[1]-dst[2]) + (dst[1]*src[2][1] - dst[2]*src[1][1])
		db := src[0][0]*(dst[1]-dst[2]) - dst[0]*(src[1][0]-src[2][0]) + (src[1][0]*dst[2] - src[2][0]*dst[1])
		dc := src[0][0]*(src[1][1]*dst[2]-src[2][1]*dst[1]) - src[0][1]*(src[1][0]*dst[2]-src[2][0]*dst[1]) + dst[0]*(src[1][0]*src[2][1]-src[2][0]*src[1][1])
		return [3]float64{da / det, db / det, dc / det}
	}
	rx := solve(q, [3]float64{p[0][0], p[1][0], p[2][0]})
	ry := solve(q, [3]float64{p[0][1], p[1][1], p[2][1]})
	return [6]float64{rx[0], rx[1], rx[2], ry[0], ry[1], ry[2]}
}

// toUint8 quantises m to 8 bits (round to nearest) into dst, as the
// reference's PIL input images are.
func toUint8(dst, m *Image) *Image {
	o := dst.set(m)
	for j, v := range o.P {
		o.P[j] = math.Round(clip01(v) * 255)
	}
	return o
}

func fromUint8(m *Image) *Image {
	for j, v := range m.P {
		m.P[j] = v / 255
	}
	return m
}

// boxResize is PIL's Image.resize(…, Image.BOX) on an 8-bit image (values
// 0…255 in m): separable box-filter weights, 22-bit fixed-point
// coefficients, rounding and clipping to 8 bits after the horizontal pass
// and after the vertical one (Pillow's Resample.c), into dst (which must
// not be m or sc.box). The coefficients of each size pair are computed
// once per sc.
func (sc *scratch) boxResize(dst, m *Image, ow, oh int) *Image {
	coeffs := func(in, out int) ([][2]int, [][]int64) {
		key := [2]int{in, out}
		if c, ok := sc.boxes[key]; ok {
			return c.bounds, c.ks
		}
		b, ks := newBoxCoeffs(in, out)
		if sc.boxes == nil {
			sc.boxes = map[[2]int]boxCoeffs{}
		}
		sc.boxes[key] = boxCoeffs{b, ks}
		return b, ks
	}
	const prec = boxPrec
	clip8 := func(s int64) float64 {
		if s >= 255<<prec {
			return 255
		}
		if s <= 0 {
			return 0
		}
		return float64(s >> prec)
	}
	t := m
	if ow != m.W {
		b, ks := coeffs(m.W, ow)
		t = sc.box.resize(m.H, ow, m.C)
		for y := 0; y < m.H; y++ {
			for x := 0; x < ow; x++ {
				for c := 0; c < m.C; c++ {
					s := int64(1) << (prec - 1)
					for i, k := range ks[x] {
						s += int64(m.P[m.idx(y, b[x][0]+i, c)]) * k
					}
					t.P[t.idx(y, x, c)] = clip8(s)
				}
			}
		}
	}
	o := t
	if oh != m.H {
		b, ks := coeffs(m.H, oh)
		o = dst.resize(oh, t.W, t.C)
		for y := 0; y < oh; y++ {
			for x := 0; x < t.W; x++ {
				for c := 0; c < t.C; c++ {
					s := int64(1) << (prec - 1)
					for i, k := range ks[y] {
						s += int64(t.P[t.idx(b[y][0]+i, x, c)]) * k
					}
					o.P[o.idx(y, x, c)] = clip8(s)
				}
			}
		}
	}
	if o != dst {
		o = dst.set(o)
	}
	return o
}

// boxPrec is the fixed-point precision of Pillow's resampling coefficients.
const boxPrec = 22

// boxCoeffs are Pillow's box-filter bounds (first input index, count) and
// fixed-point weights of each output index of a resize from in to out
// samples (Resample.c precompute_coeffs).
type boxCoeffs struct {
	bounds [][2]int
	ks     [][]int64
}

func newBoxCoeffs(in, out int) (bounds [][2]int, ks [][]int64) {
	const prec = boxPrec
	scale := float64(in) / float64(out)
	fs := max(scale, 1)
	support := 0.5 * fs
	for xx := 0; xx < out; xx++ {
		center := (float64(xx) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), in) - xmin
		w := make([]float64, xmax)
		var ww float64
		for x := 0; x < xmax; x++ {
			t := (float64(x+xmin) - center + 0.5) / fs
			if t > -0.5 && t <= 0.5 {
				w[x] = 1
			}
			ww += w[x]
		}
		k := make([]int64, xmax)
		for x := range w {
			if ww != 0 {
				w[x] /= ww
			}
			if w[x] < 0 {
				k[x] = int64(-0.5 + w[x]*(1<<prec))
			} else {
				k[x] = int64(0.5 + w[x]*(1<<prec))
			}
		}
		bounds = append(bounds, [2]int{xmin, xmax})
		ks = append(ks, k)
	}
	return bounds, ks
}

// jpegRoundTrip encodes m at quality q with Go's image/jpeg (baseline,
// 4:2:0 chroma for colour, the IJG tables scaled as libjpeg scales them)
// and decodes it; grey images are encoded as one-channel JPEG. u is the
// working 8-bit image. It allocates: the encoder, the decoder and the
// decoded image are image/jpeg's.
func jpegRoundTrip(u, m *Image, q int) *Image {
	u = toUint8(u, m)
	var img image.Image
	if m.C == 1 {
		g := image.NewGray(image.Rect(0, 0, m.W, m.H))
		for j, v := range u.P {
			g.Pix[j] = uint8(v)
		}
		img = g
	} else {
		rgba := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
		for px := 0; px < m.H*m.W; px++ {
			for c := 0; c < 3; c++ {
				rgba.Pix[px*4+c] = uint8(u.P[px*m.C+c])
			}
			rgba.Pix[px*4+3] = 255
		}
		img = rgba
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		return m.Clone() // encoding to memory does not fail for these images
	}
	dec, err := jpeg.Decode(&buf)
	if err != nil {
		return m.Clone()
	}
	if ycc, ok := dec.(*image.YCbCr); ok && m.C == 3 && ycc.SubsampleRatio == image.YCbCrSubsampleRatio420 {
		return libjpegRGB(ycc, m.H, m.W)
	}
	o := NewImage(m.H, m.W, m.C)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if m.C == 1 {
				o.P[o.idx(y, x, 0)] = float64(color.GrayModel.Convert(dec.At(x, y)).(color.Gray).Y) / 255
				continue
			}
			rr, gg, bb, _ := dec.At(x, y).RGBA()
			o.P[o.idx(y, x, 0)] = float64(rr>>8) / 255
			o.P[o.idx(y, x, 1)] = float64(gg>>8) / 255
			o.P[o.idx(y, x, 2)] = float64(bb>>8) / 255
		}
	}
	return o
}

// libjpegRGB converts a decoded 4:2:0 image to RGB as libjpeg(-turbo)
// does by default, which is what Pillow's decoder returns: "fancy"
// triangular upsampling of the chroma planes (jdsample.c
// h2v2_fancy_upsample, edge rows and columns repeated) and the fixed-point
// YCbCr → RGB tables of jdcolor.c. Go's own YCbCr.At repeats each chroma
// sample over its 2×2 block instead, up to tens of levels off at colour
// edges.
func libjpegRGB(ycc *image.YCbCr, h, w int) *Image {
	cw := (w + 1) / 2
	ch := (h + 1) / 2
	up := func(plane []uint8, stride int) []int {
		at := func(r, c int) int {
			r = min(max(r, 0), ch-1)
			return int(plane[r*stride+min(c, cw-1)])
		}
		out := make([]int, 2*ch*2*cw)
		ow := 2 * cw
		for r := 0; r < ch; r++ {
			for v := 0; v < 2; v++ {
				nb := r - 1
				if v == 1 {
					nb = r + 1
				}
				colsum := func(c int) int { return at(r, c)*3 + at(nb, c) }
				row := out[(2*r+v)*ow:]
				for c := 0; c < cw; c++ {
					this := colsum(c)
					if cw == 1 {
						row[0] = (this*4 + 8) >> 4
						row[1] = (this*4 + 7) >> 4
						continue
					}
					switch c {
					case 0:
						row[0] = (this*4 + 8) >> 4
						row[1] = (this*3 + colsum(c+1) + 7) >> 4
					case cw - 1:
						row[2*c] = (this*3 + colsum(c-1) + 8) >> 4
						row[2*c+1] = (this*4 + 7) >> 4
					default:
						row[2*c] = (this*3 + colsum(c-1) + 8) >> 4
						row[2*c+1] = (this*3 + colsum(c+1) + 7) >> 4
					}
				}
			}
		}
		return out
	}
	cb, cr := up(ycc.Cb, ycc.CStride), up(ycc.Cr, ycc.CStride)
	const scale = 16
	const half = 1 << (scale - 1)
	fix := func(v float64) int { return int(v*(1<<scale) + 0.5) }
	clamp := func(v int) float64 { return float64(min(max(v, 0), 255)) / 255 }
	o := NewImage(h, w, 3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			yy := int(ycc.Y[y*ycc.YStride+x])
			b := cb[y*2*cw+x] - 128
			r := cr[y*2*cw+x] - 128
			i := o.idx(y, x, 0)
			o.P[i] = clamp(yy + ((fix(1.40200)*r + half) >> scale))
			o.P[i+1] = clamp(yy + ((-fix(0.34414)*b - fix(0.71414)*r + half) >> scale))
			o.P[i+2] = clamp(yy + ((fix(1.77200)*b + half) >> scale))
		}
	}
	return o
}
