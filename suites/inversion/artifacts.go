package inversion

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"github.com/gauntlet-ml/gauntlet/grad"
)

// pngScale is the nearest-neighbour upscaling of small images in PNGs.
func pngScale(h, w int) int { return max(1, 64/max(h, w)) }

// writeArtifacts writes, under dir (output.dir/inversion; the paths in the
// returned details are relative to output.dir), reconstructions.npy ([n, sample...] as the model
// input), class_means.npy and, for image inputs, one PNG per class and a
// montage (top row reconstructions, bottom row the reference class means).
func writeArtifacts(dir string, classes []int, x, means []float32, sample []int, ch, h, w int, isImage bool, lo, hi float64) (map[string]any, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("inversion artifacts: %w", err)
	}
	n := len(classes)
	d := len(x) / n
	shape := append([]int{n}, sample...)
	files := map[string]any{}
	rec := filepath.Join(dir, "reconstructions.npy")
	if err := grad.WriteNPY(rec, x, shape); err != nil {
		return nil, err
	}
	rel := func(p string) string { return filepath.Join("inversion", filepath.Base(p)) }
	files["reconstructions"] = rel(rec)
	cm := make([]float32, 0, n*d)
	for _, c := range classes {
		cm = append(cm, means[c*d:(c+1)*d]...)
	}
	mp := filepath.Join(dir, "class_means.npy")
	if err := grad.WriteNPY(mp, cm, shape); err != nil {
		return nil, err
	}
	files["class_means"] = rel(mp)
	files["classes"] = classes
	if !isImage || (ch != 1 && ch != 3) {
		return files, nil
	}
	var pngs []string
	for i, c := range classes {
		img := imageOf(x[i*d:(i+1)*d], ch, h, w, lo, hi)
		p := filepath.Join(dir, fmt.Sprintf("class_%d.png", c))
		if err := writePNG(p, scaled(img, pngScale(h, w))); err != nil {
			return nil, err
		}
		pngs = append(pngs, rel(p))
	}
	files["png"] = pngs
	mont := Montage(x, cm, n, ch, h, w, lo, hi)
	mpath := filepath.Join(dir, "montage.png")
	if err := writePNG(mpath, mont); err != nil {
		return nil, err
	}
	files["montage"] = rel(mpath)
	return files, nil
}

// Montage lays out n reconstructions over their n class means, each image
// upscaled and separated by a 2-pixel gap.
func Montage(top, bottom []float32, n, ch, h, w int, lo, hi float64) *image.RGBA {
	s := pngScale(h, w)
	const gap = 2
	cw, chh := w*s+gap, h*s+gap
	out := image.NewRGBA(image.Rect(0, 0, n*cw+gap, 2*chh+gap))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	d := ch * h * w
	for row, src := range [][]float32{top, bottom} {
		for i := 0; i < n; i++ {
			img := imageOf(src[i*d:(i+1)*d], ch, h, w, lo, hi)
			for y := 0; y < h*s; y++ {
				for x := 0; x < w*s; x++ {
					out.Set(gap+i*cw+x, gap+row*chh+y, img.At(x/s, y/s))
				}
			}
		}
	}
	return out
}

// imageOf converts a c×h×w sample in [lo, hi] to an image (c = 1 or 3).
func imageOf(v []float32, c, h, w int, lo, hi float64) image.Image {
	px := func(f float32) uint8 {
		t := (float64(f) - lo) / (hi - lo)
		return uint8(math.Round(255 * min(1, max(0, t))))
	}
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := 0; i < h*w; i++ {
			g.Pix[i] = px(v[i])
		}
		return g
	}
	g := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h*w; i++ {
		g.Set(i%w, i/w, color.RGBA{px(v[i]), px(v[h*w+i]), px(v[2*h*w+i]), 255})
	}
	return g
}

func scaled(img image.Image, s int) image.Image {
	if s == 1 {
		return img
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*s, b.Dy()*s))
	for y := 0; y < b.Dy()*s; y++ {
		for x := 0; x < b.Dx()*s; x++ {
			out.Set(x, y, img.At(x/s, y/s))
		}
	}
	return out
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("inversion png: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("inversion png %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("inversion png %s: %w", path, err)
	}
	return nil
}
