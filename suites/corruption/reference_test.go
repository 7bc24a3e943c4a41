package corruption

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
)

// loadImages reads testdata/<name> (uint8 NCHW, divided by 255 by the
// loader) as images in [0, 1].
func loadImages(t *testing.T, name string) []*Image {
	t.Helper()
	d, err := data.Load(data.Spec{X: name}, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	c, h, w := d.SampleShape[0], d.SampleShape[1], d.SampleShape[2]
	out := make([]*Image, d.N)
	for i := range out {
		m := NewImage(h, w, c)
		x := d.Sample(i)
		for ch := 0; ch < c; ch++ {
			for px := 0; px < h*w; px++ {
				m.P[px*c+ch] = float64(x[ch*h*w+px])
			}
		}
		out[i] = m
	}
	return out
}

// tolerance of a deterministic family against np.uint8 of the reference
// output: maxDiff is the largest difference of one 8-bit value, exact the
// least share of values that must be equal.
type tolerance struct {
	maxDiff float64
	exact   float64
	mean    float64
}

// tieTol is how close to an integer (in 8-bit levels) an output may be for
// np.uint8's truncation to fall either way: the inputs reach Gauntlet as
// float32(k/255) (3.6e-6 levels off k at k = 67), the reference computes
// on float64 k/255, and its defocus kernel is float32 (measured gaps up to
// 4e-6 levels).
const tieTol = 1e-4

// pixelTol: contrast, brightness, defocus and zoom compute the reference's
// arithmetic, so outputs agree to ~1e-5 levels and differ after np.uint8
// only at ties (tieTol), which are not counted. pixelate is Pillow's fixed-point
// box filter, reproduced exactly. jpeg_compression is Go's image/jpeg
// encoder and decoder against Pillow's libjpeg-turbo: the same IJG
// quantisation tables, quality scaling and 4:2:0 chroma, and libjpeg's
// chroma upsampling and colour conversion (libjpegRGB); the DCTs and the
// encoder's colour conversion round differently, so values differ by a few
// levels where a block's coefficients fall near a quantiser step
// (measured: max 10, mean 0.45 levels, 80 % equal on the RGB inputs; max
// 3, mean 0.026, 97.9 % equal on the grey ones; Go's own nearest chroma
// upsampling gave max 85, mean 6.5).
var pixelTol = map[string]tolerance{
	"contrast":         {0, 1, 0},
	"brightness":       {0, 1, 0},
	"defocus_blur":     {0, 1, 0},
	"zoom_blur":        {0, 1, 0},
	"pixelate":         {0, 1, 0},
	"jpeg_compression": {12, 0.75, 0.6},
}

func TestPixelsAgainstReference(t *testing.T) {
	compared := 0
	for _, kind := range []string{"rgb", "gray"} {
		in := loadImages(t, "inputs_"+kind+".npy")
		for fam, tol := range pixelTol {
			ref := loadImages(t, "ref_"+fam+"_"+kind+".npy")
			if len(ref) != 5*len(in) {
				t.Fatalf("%s %s: %d reference images, want %d", fam, kind, len(ref), 5*len(in))
			}
			var maxD, sumD float64
			var n, eq, ties int
			for s := 1; s <= 5; s++ {
				for i, m := range in {
					got, err := Corrupt(fam, s, Sets[0], m, rand.New(rand.NewPCG(1, 2)))
					if err != nil {
						t.Fatal(err)
					}
					want := ref[(s-1)*len(in)+i]
					for j, v := range got.P {
						g := math.Floor(v * 255) // np.uint8 truncates
						w := math.Round(want.P[j] * 255)
						d := math.Abs(g - w)
						if d == 1 && fam != "jpeg_compression" && math.Abs(v*255-math.Round(v*255)) < tieTol {
							d = 0 // a value on an integer: truncation can go either way
							ties++
						}
						maxD = max(maxD, d)
						sumD += d
						if d == 0 {
							eq++
						}
						n++
					}
					compared++
				}
			}
			t.Logf("%s %s: max |Δ| %v, mean |Δ| %.4f, exact %.4f of %d values (%d ties on an integer)", fam, kind, maxD, sumD/float64(n), float64(eq)/float64(n), n, ties)
			if maxD > tol.maxDiff || float64(eq)/float64(n) < tol.exact || sumD/float64(n) > tol.mean {
				t.Errorf("%s %s: max |Δ| %v (allowed %v), exact share %.4f (least %v), mean |Δ| %.4f (allowed %v)",
					fam, kind, maxD, tol.maxDiff, float64(eq)/float64(n), tol.exact, sumD/float64(n), tol.mean)
			}
		}
	}
	if want := 2 * len(pixelTol) * 5 * 2; compared != want {
		t.Errorf("compared %d images, want %d", compared, want)
	}
}

// refStats is one entry of testdata/stats.json.
type refStats struct {
	Mean   float64 `json:"mean"`
	MeanSD float64 `json:"mean_sd"`
	Std    float64 `json:"std"`
	StdSD  float64 `json:"std_sd"`
	Count  int     `json:"count"`
}

// statSigmas bounds the gap between Gauntlet's and the reference's mean
// (over draws) pixel mean and pixel standard deviation, in standard errors
// of the difference of two means of count draws each:
// √(2/count)·(the reference's per-draw spread). Five standard errors:
// with 5 families × 2 kinds × 5 severities × 2 statistics = 100 checks, a
// false alarm has probability about 6e-5.
const statSigmas = 5

// statFloor is the smallest tolerance (in [0, 1] units), for statistics
// whose per-draw spread is near 0 (the blur in glass_blur, the mean of
// impulse noise at severity 1): float64 and the reference's uint8 steps
// differ by up to half an 8-bit level.
const statFloor = 0.5 / 255

func TestStatisticsAgainstReference(t *testing.T) {
	if n := compareStats(t, "stats.json"); n != 5*2*5 {
		t.Errorf("compared %d (family, kind, severity) cells, want 50", n)
	}
}

// TestPortedStatisticsAgainstReference compares motion_blur, snow,
// elastic_transform (both kinds) and frost (RGB) with
// testdata/stats_ported.json, written by testdata/reference_ported.py: the
// reference's functions with the ImageMagick and OpenCV calls they make
// ported to numpy from those libraries' code. Tolerances as
// TestStatisticsAgainstReference's; the file's spreads are within each
// input (pooled), so they are tighter there.
func TestPortedStatisticsAgainstReference(t *testing.T) {
	if n := compareStats(t, "stats_ported.json"); n != 3*2*5+5 {
		t.Errorf("compared %d (family, kind, severity) cells, want 35", n)
	}
}

// compareStats compares Gauntlet's statistics with those of testdata/<file>
// and returns the number of (family, kind, severity) cells compared.
func compareStats(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Families map[string]map[string][]refStats `json:"families"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	compared := 0
	for fam, kinds := range f.Families {
		for kind, per := range kinds {
			in := loadImages(t, "inputs_"+kind+".npy")
			for s, want := range per {
				draws := want.Count / len(in)
				r := rand.New(rand.NewPCG(uint64(s), 23))
				var means, stds []float64
				for d := 0; d < draws; d++ {
					for _, m := range in {
						o, err := Corrupt(fam, s+1, Sets[0], m, r)
						if err != nil {
							t.Fatal(err)
						}
						mu, sd := meanStd(o.P)
						means = append(means, mu)
						stds = append(stds, sd)
					}
				}
				gm, _ := meanStd(means)
				gs, _ := meanStd(stds)
				se := math.Sqrt(2 / float64(want.Count))
				tm := max(statSigmas*se*want.MeanSD, statFloor)
				ts := max(statSigmas*se*want.StdSD, statFloor)
				t.Logf("%s %s severity %d: mean %.5f (reference %.5f, tolerance %.5f), std %.5f (reference %.5f, tolerance %.5f)",
					fam, kind, s+1, gm, want.Mean, tm, gs, want.Std, ts)
				if math.Abs(gm-want.Mean) > tm {
					t.Errorf("%s %s severity %d: mean %.5f, reference %.5f (|Δ| > %.5f)", fam, kind, s+1, gm, want.Mean, tm)
				}
				if math.Abs(gs-want.Std) > ts {
					t.Errorf("%s %s severity %d: std %.5f, reference %.5f (|Δ| > %.5f)", fam, kind, s+1, gs, want.Std, ts)
				}
				compared++
			}
		}
	}
	return compared
}

func meanStd(v []float64) (float64, float64) {
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var sq float64
	for _, x := range v {
		sq += (x - m) * (x - m)
	}
	return m, math.Sqrt(sq / float64(len(v)))
}

// motionFixed are reference_ported.py's MOTION_FIXED (radius, sigma,
// angle) triples, in its order.
var motionFixed = [][3]float64{{6, 1, -45}, {6, 2, 17.5}, {9, 2.5, 44}, {14, 12, -100}}

// TestMotionBlurPixelsAgainstReference compares Gauntlet's motion blur at
// fixed angles with testdata/ref_motion_fixed_<kind>.npy, ImageMagick's
// MotionBlurImage ported to numpy by reference_ported.py from effect.c
// (kernel, offsets, edge pixels, the 8-bit result). Gauntlet keeps float
// output, so after rounding to 8 bits every value must be equal but for
// half-level ties (tieTol).
func TestMotionBlurPixelsAgainstReference(t *testing.T) {
	compared := 0
	for _, kind := range []string{"rgb", "gray"} {
		in := loadImages(t, "inputs_"+kind+".npy")
		ref := loadImages(t, "ref_motion_fixed_"+kind+".npy")
		if len(ref) != len(motionFixed)*len(in) {
			t.Fatalf("%s: %d reference images, want %d", kind, len(ref), len(motionFixed)*len(in))
		}
		for f, p := range motionFixed {
			for i, m := range in {
				got := new(scratch).motionBlur(new(Image), m, p[0], p[1], p[2])
				want := ref[f*len(in)+i]
				bad := 0
				for j, v := range got.P {
					g, w := math.Round(v*255), math.Round(want.P[j]*255)
					if g != w && math.Abs(math.Abs(v*255-math.Floor(v*255))-0.5) > tieTol {
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("%s input %d, radius %v sigma %v angle %v: %d of %d values differ", kind, i, p[0], p[1], p[2], bad, len(got.P))
				}
				compared++
			}
		}
	}
	if compared != 2*len(motionFixed)*2 {
		t.Errorf("compared %d images, want 16", compared)
	}
}
