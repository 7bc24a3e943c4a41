package corruption

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestEveryFamilyEverySeverity(t *testing.T) {
	// On both kinds of input and all three parameter sets: the output has
	// the input's size, lies in [0, 1], is a function of the random
	// source only, and moves the image (mean |Δ| > 0) at severity 5.
	compared := 0
	for _, kind := range []string{"rgb", "gray"} {
		in := loadImages(t, "inputs_"+kind+".npy")[0]
		for _, ps := range Sets {
			for _, fam := range Families {
				for s := 1; s <= 5; s++ {
					a, err := Corrupt(fam, s, ps, in, rand.New(rand.NewPCG(7, uint64(s))))
					if err != nil {
						t.Fatal(err)
					}
					b, _ := Corrupt(fam, s, ps, in, rand.New(rand.NewPCG(7, uint64(s))))
					if a.H != in.H || a.W != in.W || a.C != in.C || len(a.P) != len(in.P) {
						t.Fatalf("%s %s %s %d: size %d×%d×%d", kind, ps.Name, fam, s, a.H, a.W, a.C)
					}
					if !slices.Equal(a.P, b.P) {
						t.Errorf("%s %s %s %d: two runs from one seed differ", kind, ps.Name, fam, s)
					}
					var moved float64
					for j, v := range a.P {
						if !(v >= 0 && v <= 1) {
							t.Fatalf("%s %s %s %d: value %v outside [0, 1]", kind, ps.Name, fam, s, v)
						}
						moved += math.Abs(v - in.P[j])
					}
					if s == 5 && moved == 0 {
						t.Errorf("%s %s %s severity 5: the image is unchanged", kind, ps.Name, fam)
					}
					compared++
				}
			}
		}
	}
	if compared != 2*3*15*5 {
		t.Errorf("compared %d, want %d", compared, 2*3*15*5)
	}
	// A non-square image on each set: the reference's square-only steps
	// (clipped zoom, pixelate, the plasma crop) take each axis on its own.
	odd := NewImage(20, 37, 3)
	r := rand.New(rand.NewPCG(9, 9))
	for j := range odd.P {
		odd.P[j] = r.Float64()
	}
	for _, ps := range Sets {
		for _, fam := range Families {
			o, err := Corrupt(fam, 5, ps, odd, r)
			if err != nil || o.H != 20 || o.W != 37 || o.C != 3 {
				t.Errorf("%s %s on 20×37: %v, size %d×%d×%d", ps.Name, fam, err, o.H, o.W, o.C)
			}
		}
	}
	if _, err := Corrupt("rain", 1, Sets[0], NewImage(4, 4, 1), rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("unknown family: no error")
	}
	if _, err := Corrupt("fog", 6, Sets[0], NewImage(4, 4, 1), rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("severity 6: no error")
	}
}

func TestMotionBlurKernel(t *testing.T) {
	// ImageMagick's MotionBlurImage with radius 1, σ 1, angle 0: width
	// 2·ceil(1)+1 = 3, weights exp(−i²/2) for i = 0, 1, 2 normalised:
	// 1, 0.606531, 0.135335 over 1.741866 = 0.574097, 0.348207, 0.077696;
	// offsets (i, 0): pixel x takes x, x+1, x+2, the last column repeated.
	m := NewImage(2, 4, 1)
	copy(m.P, []float64{0, 0, 1, 1, 0, 0, 1, 1})
	o := new(scratch).motionBlur(new(Image), m, 1, 1, 0)
	want := []float64{0.077696, 0.425903, 1, 1} // 0.348207 + 0.077696 at x = 1
	for x, w := range want {
		if d := math.Abs(o.P[x] - w); d > 1e-6 {
			t.Errorf("x = %d: %v, want %v", x, o.P[x], w)
		}
	}
	// Angle 90: offsets (0, i), along the rows.
	o = new(scratch).motionBlur(new(Image), m, 1, 1, 90)
	if d := math.Abs(o.P[2] - 1); d > 1e-12 {
		t.Errorf("angle 90, pixel (0, 2) = %v, want 1 (the column is constant)", o.P[2])
	}
}

func TestFrostLayerHasThePhotographsStatistics(t *testing.T) {
	// On a black image the output is c₁·layer: over many draws its mean
	// per channel is c₁ × the mean of the five photographs' means
	// (frostPhotos["cifar"], from testdata/frost_stats.py), up to clipping of the
	// layer at 0 and 1 (rare: the means are ≥ 0.3 and the standard
	// deviations ≤ 0.15, so a clip needs |z| > 2).
	black := NewImage(32, 32, 3)
	c1 := Sets[0].Frost[4][1]
	var want [3]float64
	for _, ph := range frostPhotos[Sets[0].Name] {
		for ch := range want {
			want[ch] += ph[0][ch] / 5
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	var got [3]float64
	const draws = 400
	for d := 0; d < draws; d++ {
		o, err := Corrupt("frost", 5, Sets[0], black, r)
		if err != nil {
			t.Fatal(err)
		}
		for px := 0; px < 32*32; px++ {
			for ch := 0; ch < 3; ch++ {
				got[ch] += o.P[px*3+ch] / c1 / (32 * 32 * draws)
			}
		}
	}
	// The draw of the photograph dominates the spread: the five means
	// differ by up to 0.48 (red), so the mean of 400 draws has a standard
	// error of about 0.19/√400 ≈ 0.01; 0.04 is four of them.
	for ch := range got {
		if math.Abs(got[ch]-want[ch]) > 0.04 {
			t.Errorf("channel %d: layer mean %.4f, photographs %.4f", ch, got[ch], want[ch])
		}
	}
}

// TestFrostPhotosPerSet: every parameter set has the five photographs'
// layer statistics (a set missing from frostPhotos would draw a black,
// flat layer), means in (0.2, 0.9) and standard deviations in (0.04, 0.15)
// as testdata/frost_stats.py printed them.
func TestFrostPhotosPerSet(t *testing.T) {
	checked := 0
	for _, set := range Sets {
		phs, ok := frostPhotos[set.Name]
		if !ok {
			t.Errorf("parameter set %s has no frost statistics", set.Name)
			continue
		}
		for i, ph := range phs {
			for ch := 0; ch < 3; ch++ {
				if m, sd := ph[0][ch], ph[1][ch]; m <= 0.2 || m >= 0.9 || sd <= 0.04 || sd >= 0.15 {
					t.Errorf("%s frost%d channel %d: mean %v, sd %v", set.Name, i+1, ch, m, sd)
				}
				checked++
			}
		}
	}
	if checked != 3*5*3 {
		t.Errorf("checked %d figures, want 45", checked)
	}
}

func TestPlasmaRange(t *testing.T) {
	p := new(scratch).plasma(32, 3, rand.New(rand.NewPCG(1, 2)))
	lo, hi := slices.Min(p), slices.Max(p)
	if lo != 0 || hi != 1 {
		t.Errorf("plasma range [%v, %v], want [0, 1] (the reference scales by min and max)", lo, hi)
	}
}
