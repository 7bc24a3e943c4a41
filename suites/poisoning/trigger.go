package poisoning

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Trigger types.
const (
	TriggerPatch = "patch" // paste value (or an image) over a rectangle
	TriggerBlend = "blend" // alpha·pattern + (1−alpha)·x over a rectangle
	LabelFlip    = "label_flip"
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
}

// check validates the parts of a trigger that do not need the input shape.
func (tr *Trigger) check(field string) error {
	switch tr.Type {
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
		return errs.Invalidf("%s.type: missing; want patch or blend", field)
	default:
		return errs.Invalidf("%s.type: %q: want patch or blend", field, tr.Type)
	}
	if tr.X < 0 || tr.Y < 0 || tr.Width < 0 || tr.Height < 0 {
		return errs.Invalidf("%s: x, y, width and height must not be negative", field)
	}
	return nil
}

// Compiled is a trigger laid out over one sample: x' = (1−W)·x + W·P
// elementwise. Where W is 0 the sample is unchanged bit for bit, and a
// patch (W = 1) writes P exactly.
type Compiled struct {
	W, P []float32
	// Rect is the trigger's rectangle (x, y, width, height) on the image.
	Rect [4]int
}

// Apply writes the triggered sample x into dst (both one sample long;
// they may be the same slice).
func (c *Compiled) Apply(dst, x []float32) {
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
