package poisoning

import (
	"testing"

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
