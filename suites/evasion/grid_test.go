package evasion

import (
	"image/color"
	"testing"
)

// TestGridLayout checks the adversarial-example picture's geometry and
// tiles for 16 examples of [1,8,8] in [0,1]. The expected numbers follow from
// grid's doc: tiles scale 8×8 up to gridMinTile = 64 px (scale 8); triplets per
// row ceil(sqrt(16/3)) = 3, so 6 rows; a triplet is 3·64 + 2·2 px wide plus a
// 12 px gap before the next: width 3·208 − 12 = 612, height 6·(64+2) − 2 = 394.
func TestGridLayout(t *testing.T) {
	const n, d = 16, 64
	clean := make([]float32, n*d)
	adv := make([]float32, n*d)
	for e := range n {
		for i := range d {
			clean[e*d+i] = float32(e) / 16
			adv[e*d+i] = float32(e)/16 + 0.0625
		}
	}
	img := grid(clean, adv, []int{1, 8, 8}, [2]float64{0, 1})
	if img == nil {
		t.Fatal("grid returned nil for [1,8,8]")
	}
	if b := img.Bounds(); b.Dx() != 612 || b.Dy() != 394 {
		t.Fatalf("grid is %dx%d, want 612x394", b.Dx(), b.Dy())
	}
	// Example 4 is the second triplet of the second row: x0 = 208, y0 = 66.
	// Clean 4/16 → round(255·0.25) = 64; adversarial 5/16 → round(255·0.3125) = 80;
	// the perturbation is the largest one, so white.
	for _, c := range []struct {
		x, y int
		want uint8
	}{{208, 66, 64}, {208 + 66, 66, 80}, {208 + 132 + 63, 66 + 63, 255}} {
		got := img.At(c.x, c.y).(color.RGBA)
		if got.R != c.want || got.A != 255 {
			t.Errorf("pixel (%d,%d) = %v, want grey %d", c.x, c.y, got, c.want)
		}
	}
	// The gap between triplets is left transparent.
	if a := img.At(200, 66).(color.RGBA).A; a != 0 {
		t.Errorf("gap pixel alpha %d, want 0", a)
	}
	if grid(clean, adv, []int{2, 4, 8}, [2]float64{0, 1}) != nil {
		t.Error("grid drew a 2-channel input")
	}
}
