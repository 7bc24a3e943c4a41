package poisoning

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Trigger types.
const (
	TriggerPatch = "patch" // paste value (or an image) over a rectangle
	TriggerBlend = "blend" // alpha·pattern + (1−alpha)·x over a rectangle
	// TriggerWarp resamples the whole image along a smooth random warping
	// field (WaNet, Nguyen & Tran 2021).
	TriggerWarp = "warp"
	// TriggerSinusoidal adds amplitude·sin(2π·frequency·column/width) to
	// every pixel, clipped to the data range (Barni et al. 2019).
	TriggerSinusoidal = "sinusoidal"
	LabelFlip         = "label_flip"
)

// Blend patterns.
const (
	PatternCheckerboard = "checkerboard" // 1 (data.range high) at (x, y), alternating
	PatternSolid        = "solid"        // data.range high everywhere
)

// Trigger is a backdoor trigger on the last two axes (height, width) of
// an image input, and in susceptibility attacks also the attack's name
// and target class. Width or height 0 reaches to the image's edge.
type Trigger struct {
	Type    string   `mapstructure:"type"`
	Name    string   `mapstructure:"name"`
	X       int      `mapstructure:"x"`
	Y       int      `mapstructure:"y"`
	Width   int      `mapstructure:"width"`
	Height  int      `mapstructure:"height"`
	Value   *float64 `mapstructure:"value"`
	Image   string   `mapstructure:"image"`
	Pattern string   `mapstructure:"pattern"`
	Alpha   *float64 `mapstructure:"alpha"`
	Target  *int     `mapstructure:"target"`
	// Amplitude (data units) and Frequency (cycles across the width) of a
	// sinusoidal trigger.
	Amplitude *float64 `mapstructure:"amplitude"`
	Frequency *float64 `mapstructure:"frequency"`
	// Grid (the k×k control grid, default 4), Strength (WaNet's s,
	// default 0.5) and Seed (of the random field, default 0) of a warp
	// trigger.
	Grid     int      `mapstructure:"grid"`
	Strength *float64 `mapstructure:"strength"`
	Seed     uint64   `mapstructure:"seed"`
	// CleanLabel (susceptibility only) poisons samples of the target class
	// with the trigger and keeps their labels.
	CleanLabel bool `mapstructure:"clean_label"`
}

// Warp and sinusoidal defaults: WaNet's k = 4 and s = 0.5 (Nguyen & Tran
// 2021, §4), Barni et al. 2019's frequency 6 and amplitude 20/255 of the
// data range.
const (
	DefaultWarpGrid     = 4
	DefaultWarpStrength = 0.5
	DefaultFrequency    = 6
	DefaultAmplitude    = 20.0 / 255
)

// check validates the parts of a trigger that do not need the input shape.
func (tr *Trigger) check(field string) error {
	if tr.Type != TriggerSinusoidal && (tr.Amplitude != nil || tr.Frequency != nil) {
		return errs.Invalidf("%s: amplitude and frequency belong to sinusoidal triggers, not %s", field, tr.Type)
	}
	if tr.Type != TriggerWarp && (tr.Grid != 0 || tr.Strength != nil || tr.Seed != 0) {
		return errs.Invalidf("%s: grid, strength and seed belong to warp triggers, not %s", field, tr.Type)
	}
	switch tr.Type {
	case TriggerWarp, TriggerSinusoidal:
		if tr.X != 0 || tr.Y != 0 || tr.Width != 0 || tr.Height != 0 || tr.Value != nil || tr.Image != "" || tr.Pattern != "" || tr.Alpha != nil {
			return errs.Invalidf("%s: a %s trigger covers the whole image and takes no x, y, width, height, value, image, pattern or alpha", field, tr.Type)
		}
		if tr.Type == TriggerWarp {
			if tr.Grid != 0 && tr.Grid < 2 {
				return errs.Invalidf("%s.grid: %d: must be at least 2", field, tr.Grid)
			}
			if s := tr.Strength; s != nil && !(*s > 0) || s != nil && math.IsInf(*s, 0) {
				return errs.Invalidf("%s.strength: %g: must be a number > 0", field, *s)
			}
		} else {
			if a := tr.Amplitude; a != nil && (!(*a > 0) || math.IsInf(*a, 0)) {
				return errs.Invalidf("%s.amplitude: %g: must be a number > 0", field, *a)
			}
			if f := tr.Frequency; f != nil && (!(*f > 0) || math.IsInf(*f, 0)) {
				return errs.Invalidf("%s.frequency: %g: must be a number > 0", field, *f)
			}
		}
		return nil
	case TriggerPatch:
		if tr.Pattern != "" || tr.Alpha != nil {
			return errs.Invalidf("%s: a patch trigger takes value or image, not pattern or alpha", field)
		}
		if tr.Value != nil && tr.Image != "" {
			return errs.Invalidf("%s: give either value or image, not both", field)
		}
	case TriggerBlend:
		if tr.Value != nil || tr.Image != "" {
			return errs.Invalidf("%s: a blend trigger takes pattern and alpha, not value or image", field)
		}
		if tr.Alpha == nil {
			return errs.Invalidf("%s: a blend trigger needs alpha in (0, 1]", field)
		}
		if a := *tr.Alpha; !(a > 0 && a <= 1) {
			return errs.Invalidf("%s.alpha: %g is outside (0, 1]", field, a)
		}
		switch tr.Pattern {
		case "", PatternCheckerboard, PatternSolid:
		default:
			if filepath.Ext(tr.Pattern) != ".npy" {
				return errs.Invalidf("%s.pattern: %q: want checkerboard, solid or a .npy file", field, tr.Pattern)
			}
		}
	case "":
		return errs.Invalidf("%s.type: missing; want patch, blend, warp or sinusoidal", field)
	default:
		return errs.Invalidf("%s.type: %q: want patch, blend, warp or sinusoidal", field, tr.Type)
	}
	if tr.X < 0 || tr.Y < 0 || tr.Width < 0 || tr.Height < 0 {
		return errs.Invalidf("%s: x, y, width and height must not be negative", field)
	}
	return nil
}

// Compiled is a trigger laid out over one sample. Patch and blend
// triggers are x' = (1−W)·x + W·P elementwise: where W is 0 the sample is
// unchanged bit for bit, and a patch (W = 1) writes P exactly. A
// sinusoidal trigger is x' = clip(x + Add, lo, hi); a warp trigger
// resamples each channel bilinearly along taps.
type Compiled struct {
	W, P []float32
	// Add is the sinusoidal signal, clipped to [Lo, Hi] after adding.
	Add    []float32
	Lo, Hi float32
	// taps are the warp's bilinear taps, four per pixel of one channel;
	// buf holds the source when a warp is applied in place.
	taps []warpTap
	buf  []float32
	// Rect is the trigger's rectangle (x, y, width, height) on the image.
	Rect [4]int
}

// warpTap is one output pixel's bilinear source: pixel indices (−1 when
// outside) and weights.
type warpTap struct {
	idx [4]int32
	w   [4]float32
}

// Apply writes the triggered sample x into dst (both one sample long;
// they may be the same slice). A warp trigger applied in place uses a
// buffer of c, so one Compiled must not Apply in place concurrently.
func (c *Compiled) Apply(dst, x []float32) {
	if c.taps != nil {
		src := x
		if len(x) > 0 && &dst[0] == &x[0] {
			copy(c.buf, x)
			src = c.buf
		}
		hw := len(c.taps)
		for k := 0; k+hw <= len(dst); k += hw {
			s := src[k : k+hw]
			for p, t := range c.taps {
				var v float32
				for j, i := range t.idx {
					if i >= 0 {
						v += t.w[j] * s[i]
					}
				}
				dst[k+p] = v
			}
		}
		return
	}
	if c.Add != nil {
		for i, a := range c.Add {
			dst[i] = min(max(x[i]+a, c.Lo), c.Hi)
		}
		return
	}
	for i, w := range c.W {
		if w == 0 {
			dst[i] = x[i]
			continue
		}
		dst[i] = (1-w)*x[i] + w*c.P[i]
	}
}

// imageDims splits a sample shape into channels (the product of the
// leading axes), height and width.
func imageDims(shape []int) (c, h, w int, ok bool) {
	if len(shape) < 2 {
		return 0, 0, 0, false
	}
	c = 1
	for _, s := range shape[:len(shape)-2] {
		c *= s
	}
	return c, shape[len(shape)-2], shape[len(shape)-1], true
}

// Compile lays the trigger over samples of the given shape. hi is the
// data range's upper bound (the default patch value and the "on" value of
// the patterns), lo its lower bound; baseDir resolves .npy paths. The
// error (exit code 2) names field and says when the trigger does not fit.
func (tr *Trigger) Compile(field string, shape []int, lo, hi float64, baseDir string) (*Compiled, error) {
	ch, h, w, ok := imageDims(shape)
	if !ok {
		return nil, errs.Invalidf("%s: triggers need image inputs (at least two axes per sample); the sample shape is %v", field, shape)
	}
	switch tr.Type {
	case TriggerWarp:
		return tr.compileWarp(field, ch, h, w)
	case TriggerSinusoidal:
		return tr.compileSinusoidal(field, ch, h, w, lo, hi)
	}
	var img []float32
	var imgShape []int
	path := tr.Image
	if tr.Type == TriggerBlend && tr.Pattern != "" && tr.Pattern != PatternCheckerboard && tr.Pattern != PatternSolid {
		path = tr.Pattern
	}
	if path != "" {
		var err error
		if img, imgShape, err = readImage(resolve(baseDir, path)); err != nil {
			return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%s: %w", field, err))
		}
	}
	tw, th := tr.Width, tr.Height
	if img != nil {
		ih, iw := imgShape[len(imgShape)-2], imgShape[len(imgShape)-1]
		if tw == 0 {
			tw = iw
		}
		if th == 0 {
			th = ih
		}
		if ih != th || iw != tw {
			return nil, errs.Invalidf("%s: image %s is %d×%d but the trigger is %d×%d (height×width)", field, path, ih, iw, th, tw)
		}
		if len(imgShape) == 3 && imgShape[0] != ch && imgShape[0] != 1 {
			return nil, errs.Invalidf("%s: image %s has %d channels; the input has %d", field, path, imgShape[0], ch)
		}
	}
	if tw == 0 {
		tw = w - tr.X
	}
	if th == 0 {
		th = h - tr.Y
	}
	if tr.X+tw > w || tr.Y+th > h || tw <= 0 || th <= 0 {
		return nil, errs.Invalidf("%s: the trigger (x %d, y %d, width %d, height %d) does not fit the %d×%d (height×width) input", field, tr.X, tr.Y, tw, th, h, w)
	}
	c := &Compiled{W: make([]float32, ch*h*w), P: make([]float32, ch*h*w), Rect: [4]int{tr.X, tr.Y, tw, th}}
	alpha := float32(1)
	if tr.Type == TriggerBlend {
		alpha = float32(*tr.Alpha)
	}
	value := hi
	if tr.Value != nil {
		value = *tr.Value
	}
	for k := 0; k < ch; k++ {
		for r := 0; r < th; r++ {
			for q := 0; q < tw; q++ {
				i := k*h*w + (tr.Y+r)*w + tr.X + q
				c.W[i] = alpha
				var p float64
				switch {
				case img != nil:
					kk := 0
					if len(imgShape) == 3 && imgShape[0] == ch {
						kk = k
					}
					p = float64(img[kk*th*tw+r*tw+q])
				case tr.Type == TriggerPatch:
					p = value
				case tr.Pattern == PatternSolid:
					p = hi
				default: // checkerboard, the default pattern
					p = lo
					if (r+q)%2 == 0 {
						p = hi
					}
				}
				c.P[i] = float32(p)
			}
		}
	}
	return c, nil
}

// readImage reads a float32 or float64 .npy of shape [h,w] or [c,h,w].
func readImage(path string) ([]float32, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("trigger image: %w", err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("trigger image %s: %w", path, err)
	}
	shape := r.Header.Descr.Shape
	if len(shape) != 2 && len(shape) != 3 {
		return nil, nil, fmt.Errorf("trigger image %s: shape %v; want [h,w] or [c,h,w]", path, shape)
	}
	var v []float32
	switch r.Header.Descr.Type {
	case "<f4":
		err = r.Read(&v)
	case "<f8":
		var v64 []float64
		err = r.Read(&v64)
		v = make([]float32, len(v64))
		for i, x := range v64 {
			v[i] = float32(x)
		}
	default:
		return nil, nil, fmt.Errorf("trigger image %s: dtype %s; want float32 or float64", path, r.Header.Descr.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trigger image %s: %w", path, err)
	}
	return v, shape, nil
}

// resolve joins a relative path to baseDir.
func resolve(baseDir, p string) string {
	if p == "" || filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// compileSinusoidal lays out amplitude·sin(2π·frequency·column/width)
// over every row and channel. The frequency must stay below the Nyquist
// limit width/2 (at width/2 the signal is 0 on every column).
func (tr *Trigger) compileSinusoidal(field string, ch, h, w int, lo, hi float64) (*Compiled, error) {
	f := float64(DefaultFrequency)
	if tr.Frequency != nil {
		f = *tr.Frequency
	}
	if !(f < float64(w)/2) {
		return nil, errs.Invalidf("%s.frequency: %g cycles across a width of %d: must be below %g (the Nyquist limit)", field, f, w, float64(w)/2)
	}
	a := DefaultAmplitude * (hi - lo)
	if tr.Amplitude != nil {
		a = *tr.Amplitude
	}
	if a > hi-lo {
		return nil, errs.Invalidf("%s.amplitude: %g is larger than the data range [%g, %g]", field, a, lo, hi)
	}
	c := &Compiled{Add: make([]float32, ch*h*w), Lo: float32(lo), Hi: float32(hi), Rect: [4]int{0, 0, w, h}}
	for i := range c.Add {
		q := i % w
		c.Add[i] = float32(a * math.Sin(2*math.Pi*f*float64(q)/float64(w)))
	}
	return c, nil
}

// compileWarp draws WaNet's field: a grid×grid×2 field uniform on
// (−1, 1) from a PCG source seeded with Seed, divided by its mean
// absolute value, upsampled bilinearly (corners aligned) to h×w; the
// sampling grid is identity + strength·field/h in normalized coordinates
// [−1, 1], clamped to [−1, 1], and each channel is resampled bilinearly
// with corners aligned (torch's grid_sample, align_corners=True). WaNet
// upsamples bicubically; bilinear keeps the field within the drawn
// values' range.
func (tr *Trigger) compileWarp(field string, ch, h, w int) (*Compiled, error) {
	k := DefaultWarpGrid
	if tr.Grid != 0 {
		k = tr.Grid
	}
	if k > min(h, w) {
		return nil, errs.Invalidf("%s.grid: %d is larger than the %d×%d (height×width) input", field, k, h, w)
	}
	if h < 2 || w < 2 {
		return nil, errs.Invalidf("%s: a warp needs an image of at least 2×2; the input is %d×%d", field, h, w)
	}
	s := DefaultWarpStrength
	if tr.Strength != nil {
		s = *tr.Strength
	}
	if s > float64(min(h, w))/2 {
		return nil, errs.Invalidf("%s.strength: %g: must be at most half the image side, %g", field, s, float64(min(h, w))/2)
	}
	rng := rand.New(rand.NewPCG(tr.Seed, 0x5741_4e65_74))
	ctrl := make([]float64, 2*k*k)
	var mean float64
	for i := range ctrl {
		ctrl[i] = 2*rng.Float64() - 1
		mean += math.Abs(ctrl[i])
	}
	mean /= float64(len(ctrl))
	for i := range ctrl {
		ctrl[i] /= mean
	}
	c := &Compiled{Rect: [4]int{0, 0, w, h}, buf: make([]float32, ch*h*w)}
	c.taps = warpTaps(ctrl, k, h, w, s)
	return c, nil
}

// warpTaps upsamples the control field ctrl ([2][k][k]: x then y
// displacement) to h×w and returns the bilinear taps of the sampling grid
// identity + s·field/h.
func warpTaps(ctrl []float64, k, h, w int, s float64) []warpTap {
	up := func(comp, r, q int) float64 {
		// align_corners: output pixel r maps to r·(k−1)/(h−1).
		fy := float64(r) * float64(k-1) / float64(h-1)
		fx := float64(q) * float64(k-1) / float64(w-1)
		y0, x0 := min(int(fy), k-2), min(int(fx), k-2)
		dy, dx := fy-float64(y0), fx-float64(x0)
		at := func(y, x int) float64 { return ctrl[comp*k*k+y*k+x] }
		return (1-dy)*((1-dx)*at(y0, x0)+dx*at(y0, x0+1)) + dy*((1-dx)*at(y0+1, x0)+dx*at(y0+1, x0+1))
	}
	taps := make([]warpTap, h*w)
	for r := 0; r < h; r++ {
		for q := 0; q < w; q++ {
			gx := -1 + 2*float64(q)/float64(w-1) + s*up(0, r, q)/float64(h)
			gy := -1 + 2*float64(r)/float64(h-1) + s*up(1, r, q)/float64(h)
			gx, gy = min(max(gx, -1), 1), min(max(gy, -1), 1)
			px, py := (gx+1)/2*float64(w-1), (gy+1)/2*float64(h-1)
			x0, y0 := int(math.Floor(px)), int(math.Floor(py))
			dx, dy := px-float64(x0), py-float64(y0)
			t := &taps[r*w+q]
			for j, o := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
				yy, xx := y0+o[0], x0+o[1]
				wt := (1 - dy) * (1 - dx)
				switch j {
				case 1:
					wt = (1 - dy) * dx
				case 2:
					wt = dy * (1 - dx)
				case 3:
					wt = dy * dx
				}
				t.idx[j] = -1
				if yy < h && xx < w && wt != 0 {
					t.idx[j] = int32(yy*w + xx)
				}
				t.w[j] = float32(wt)
			}
		}
	}
	return taps
}
