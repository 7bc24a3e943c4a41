package poisoning

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
)

func ptr[T any](v T) *T { return &v }

// TestPatchTrigger pastes 0.5 over rows 1–2, columns 2–3 of a 4×4 image
// and leaves the other pixels bit for bit.
func TestPatchTrigger(t *testing.T) {
	tr := Trigger{Type: TriggerPatch, X: 2, Y: 1, Width: 2, Height: 2, Value: ptr(0.5)}
	if err := tr.check("t"); err != nil {
		t.Fatal(err)
	}
	c, err := tr.Compile("t", []int{1, 4, 4}, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 16)
	for i := range x {
		x[i] = float32(i) / 16
	}
	dst := make([]float32, 16)
	c.Apply(dst, x)
	for i := range dst {
		r, q := i/4, i%4
		want := x[i]
		if r >= 1 && r <= 2 && q >= 2 {
			want = 0.5
		}
		if dst[i] != want {
			t.Errorf("pixel (%d,%d) = %g; want %g", r, q, dst[i], want)
		}
	}
}

// TestBlendCheckerboard blends a 2×2 checkerboard (1 at the top-left
// corner) with alpha 0.5 into a zero image on [0,1]: 0.5, 0, 0, 0.5.
func TestBlendCheckerboard(t *testing.T) {
	tr := Trigger{Type: TriggerBlend, Width: 2, Height: 2, Pattern: PatternCheckerboard, Alpha: ptr(0.5)}
	c, err := tr.Compile("t", []int{4, 4}, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 16)
	c.Apply(dst, make([]float32, 16))
	want := map[int]float32{0: 0.5, 1: 0, 4: 0, 5: 0.5}
	for i, w := range want {
		if dst[i] != w {
			t.Errorf("pixel %d = %g; want %g", i, dst[i], w)
		}
	}
}

// TestTriggerErrors: triggers outside the input, bad types and alphas are
// config errors (exit code 2).
func TestTriggerErrors(t *testing.T) {
	for name, tr := range map[string]Trigger{
		"outside":  {Type: TriggerPatch, X: 26, Y: 0, Width: 3, Height: 3},
		"too tall": {Type: TriggerPatch, X: 0, Y: 20, Width: 1, Height: 9},
	} {
		if _, err := tr.Compile("trigger", []int{1, 28, 28}, 0, 1, ""); errs.Code(err, 0) != errs.Invalid {
			t.Errorf("%s: error %v; want exit code 2", name, err)
		}
	}
	if _, err := (&Trigger{Type: TriggerPatch, Width: 1, Height: 1}).Compile("trigger", []int{10}, 0, 1, ""); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("tabular input: %v", err)
	}
	for name, tr := range map[string]Trigger{
		"no type":    {},
		"bad type":   {Type: "stamp"},
		"no alpha":   {Type: TriggerBlend},
		"alpha 2":    {Type: TriggerBlend, Alpha: ptr(2.0)},
		"bad patt":   {Type: TriggerBlend, Alpha: ptr(0.5), Pattern: "stripes"},
		"patch+alph": {Type: TriggerPatch, Alpha: ptr(0.5)},
		"negative":   {Type: TriggerPatch, X: -1},
	} {
		if err := tr.check("trigger"); errs.Code(err, 0) != errs.Invalid {
			t.Errorf("%s: error %v; want exit code 2", name, err)
		}
	}
}

// TestSinusoidalTrigger adds 0.5·sin(2π·1·q/4) = 0, 0.5, 0, −0.5 to each
// row of a 4×4 image of 0.25 on [0, 1]: 0.25, 0.75, 0.25, 0 after the
// clip (values by hand).
func TestSinusoidalTrigger(t *testing.T) {
	tr := Trigger{Type: TriggerSinusoidal, Amplitude: ptr(0.5), Frequency: ptr(1.0)}
	if err := tr.check("t"); err != nil {
		t.Fatal(err)
	}
	c, err := tr.Compile("t", []int{1, 4, 4}, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 16)
	for i := range x {
		x[i] = 0.25
	}
	c.Apply(x, x)
	want := []float32{0.25, 0.75, 0.25, 0}
	for i, v := range x {
		if math.Abs(float64(v-want[i%4])) > 1e-7 {
			t.Errorf("pixel (%d,%d) = %g; want %g", i/4, i%4, v, want[i%4])
		}
	}
}

// TestWarpTaps samples a 4×4 image along a uniform field (x displacement
// 1, y 0; grid 2) with strength 1: the grid moves by s·1/h = 0.25 in
// normalized units, (w−1)/2·0.25 = 0.375 pixels, so pixel (r, q) reads
// 0.625·x(r, q) + 0.375·x(r, q+1), and the last column, clamped at the
// edge, reads x(r, 3) (torch's grid_sample with align_corners=True, by
// hand). In place and out of place agree.
func TestWarpTaps(t *testing.T) {
	ctrl := []float64{1, 1, 1, 1, 0, 0, 0, 0}
	c := &Compiled{taps: warpTaps(ctrl, 2, 4, 4, 1), buf: make([]float32, 16)}
	x := make([]float32, 16)
	for i := range x {
		x[i] = float32(i)
	}
	dst := make([]float32, 16)
	c.Apply(dst, x)
	for i, v := range dst {
		r, q := i/4, i%4
		want := 0.625*float64(x[i]) + 0.375*float64(x[r*4+min(q+1, 3)])
		if q == 3 {
			want = float64(x[i])
		}
		if math.Abs(float64(v)-want) > 1e-5 {
			t.Errorf("pixel (%d,%d) = %g; want %g", r, q, v, want)
		}
	}
	c.Apply(x, x)
	for i := range x {
		if x[i] != dst[i] {
			t.Fatalf("in place pixel %d = %g; out of place %g", i, x[i], dst[i])
		}
	}
}

// TestWarpTrigger: the seeded field is deterministic, moves pixels (a
// ramp changes) and keeps a constant image constant (the bilinear weights
// of a clamped grid sum to 1).
func TestWarpTrigger(t *testing.T) {
	tr := Trigger{Type: TriggerWarp, Strength: ptr(2.0)}
	if err := tr.check("t"); err != nil {
		t.Fatal(err)
	}
	a, err := tr.Compile("t", []int{2, 8, 8}, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tr.Compile("t", []int{2, 8, 8}, 0, 1, "")
	ramp, da, db := make([]float32, 128), make([]float32, 128), make([]float32, 128)
	for i := range ramp {
		ramp[i] = float32(i%64) / 64
	}
	a.Apply(da, ramp)
	b.Apply(db, ramp)
	moved := 0
	for i := range da {
		if da[i] != db[i] {
			t.Fatalf("pixel %d: %g then %g from the same seed", i, da[i], db[i])
		}
		if math.Abs(float64(da[i]-ramp[i])) > 1e-3 {
			moved++
		}
	}
	if moved == 0 {
		t.Error("the warp moved no pixel")
	}
	flat := make([]float32, 128)
	for i := range flat {
		flat[i] = 0.5
	}
	a.Apply(flat, flat)
	for i, v := range flat {
		if math.Abs(float64(v)-0.5) > 1e-6 {
			t.Fatalf("constant image: pixel %d = %g; want 0.5", i, v)
		}
	}
}

// TestTriggerFamilyErrors: warp and sinusoidal parameters out of range or
// outside the image are config errors (exit code 2) naming the key.
func TestTriggerFamilyErrors(t *testing.T) {
	for name, c := range map[string]struct {
		tr  Trigger
		key string
	}{
		"grid larger than image": {Trigger{Type: TriggerWarp, Grid: 9}, "t.grid"},
		"strength too large":     {Trigger{Type: TriggerWarp, Strength: ptr(5.0)}, "t.strength"},
		"frequency at Nyquist":   {Trigger{Type: TriggerSinusoidal, Frequency: ptr(4.0)}, "t.frequency"},
		"default frequency 6":    {Trigger{Type: TriggerSinusoidal}, "t.frequency"},
		"amplitude above range":  {Trigger{Type: TriggerSinusoidal, Amplitude: ptr(1.5), Frequency: ptr(2.0)}, "t.amplitude"},
	} {
		if err := c.tr.check("t"); err != nil {
			t.Errorf("%s: check: %v", name, err)
			continue
		}
		_, err := c.tr.Compile("t", []int{1, 8, 8}, 0, 1, "")
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(fmt.Sprint(err), c.key+":") {
			t.Errorf("%s: error %v; want exit code 2 naming %s", name, err, c.key)
		}
	}
	for name, c := range map[string]struct {
		tr  Trigger
		key string
	}{
		"grid 1":            {Trigger{Type: TriggerWarp, Grid: 1}, "t.grid"},
		"strength 0":        {Trigger{Type: TriggerWarp, Strength: ptr(0.0)}, "t.strength"},
		"amplitude < 0":     {Trigger{Type: TriggerSinusoidal, Amplitude: ptr(-0.1)}, "t.amplitude"},
		"frequency NaN":     {Trigger{Type: TriggerSinusoidal, Frequency: ptr(math.NaN())}, "t.frequency"},
		"warp with a rect":  {Trigger{Type: TriggerWarp, X: 2}, "t:"},
		"grid on a patch":   {Trigger{Type: TriggerPatch, Grid: 3}, "t:"},
		"amplitude on warp": {Trigger{Type: TriggerWarp, Amplitude: ptr(0.1)}, "t:"},
	} {
		err := c.tr.check("t")
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(fmt.Sprint(err), c.key) {
			t.Errorf("%s: error %v; want exit code 2 naming %s", name, err, c.key)
		}
	}
}

// TestPoisonCleanLabel: a clean-label attack triggers samples of the
// target class only and keeps every label; rate 0.5 of 10 samples asks
// for 5, capped at the 3 of class 0.
func TestPoisonCleanLabel(t *testing.T) {
	d := &data.Dataset{SampleShape: []int{1, 4, 4}, N: 10, X: make([]float32, 160), Y: []int64{0, 1, 0, 2, 3, 0, 1, 2, 3, 1}}
	a := Trigger{Type: TriggerPatch, Width: 1, Height: 1, Target: ptr(0), CleanLabel: true}
	c, err := a.Compile("t", d.SampleShape, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	x, y, m := Poison(d, a, c, 0.5, 4, 1)
	if m != 3 {
		t.Errorf("poisoned %d; want 3", m)
	}
	for i := range y {
		if y[i] != d.Y[i] {
			t.Errorf("label %d changed from %d to %d", i, d.Y[i], y[i])
		}
		if on := x[i*16] == 1; on != (d.Y[i] == 0) {
			t.Errorf("sample %d (class %d): triggered %v", i, d.Y[i], on)
		}
	}
}
