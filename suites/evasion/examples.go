package evasion

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// gridMinTile is the least size in pixels of one image in the PNG grid:
// each input value is drawn as a square block of the largest whole size
// that keeps the tile at least this big (8×8 digits: 8 px per value).
const gridMinTile = 64

// saveExamples writes the first cfg.SaveExamples successful adversarial
// examples of the strongest attack (lowest robust accuracy, first in
// config order on ties) to <out>/evasion/: adversarial and clean inputs
// and labels as .npy, and a PNG grid (clean | adversarial | perturbation)
// for image inputs.
func saveExamples(t *suite.Target, cfg Config, r *suite.Result, outs []*outcome, shape []int) error {
	var best *outcome
	bestRob := 2.0
	for _, o := range outs {
		has := false
		for _, e := range o.examples {
			has = has || len(e) > 0
		}
		if !has {
			continue
		}
		if s := share(o.robust); s < bestRob {
			best, bestRob = o, s
		}
	}
	if best == nil {
		r.Details["examples"] = map[string]any{"saved": 0, "reason": "no attack succeeded on any sample"}
		return nil
	}
	var ex []example
	for _, e := range best.examples {
		for _, x := range e {
			if len(ex) < cfg.SaveExamples {
				ex = append(ex, x)
			}
		}
	}
	if t.OutDir == "" {
		return fmt.Errorf("save_examples: the run has no output folder")
	}
	dir := filepath.Join(t.OutDir, "evasion")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save_examples: %w", err)
	}
	d := t.Data.SampleSize()
	adv := make([]float32, 0, len(ex)*d)
	cl := make([]float32, 0, len(ex)*d)
	labels := make([]int64, 0, 2*len(ex))
	idx := make([]int, len(ex))
	for i, e := range ex {
		adv = append(adv, e.x...)
		if e.x0 != nil {
			cl = append(cl, e.x0...)
		} else {
			cl = append(cl, t.Data.Sample(e.i)...)
		}
		labels = append(labels, t.Data.Y[e.i], int64(e.pred))
		idx[i] = e.i
	}
	full := append([]int{len(ex)}, shape...)
	stem := strings.NewReplacer("=", "", ".", "_").Replace(Prefix(best.a.Key(), best.a.Norm, best.eps))
	files := map[string]any{}
	write := func(name string, b []byte) error {
		p := filepath.Join(dir, stem+"_"+name)
		if err := reports.WriteFileAtomic(p, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return fmt.Errorf("save_examples: %w", err)
		}
		files[name] = filepath.Join("evasion", stem+"_"+name) // relative to output.dir
		return nil
	}
	if err := write("adversarial.npy", npyF32(adv, full)); err != nil {
		return err
	}
	if err := write("clean.npy", npyF32(cl, full)); err != nil {
		return err
	}
	if err := write("labels.npy", npyI64(labels, []int{len(ex), 2})); err != nil {
		return err
	}
	if img := grid(cl, adv, shape, t.Range); img != nil {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return fmt.Errorf("save_examples: png: %w", err)
		}
		if err := write("grid.png", buf.Bytes()); err != nil {
			return err
		}
	}
	r.Details["examples"] = map[string]any{"saved": len(ex), "attack": best.a.Key(), "norm": best.a.Norm, "eps": best.eps,
		"indices": idx, "files": files, "labels_columns": []string{"true", "adversarial_prediction"}}
	return nil
}

// npyHeader returns a NumPy 1.0 header for dtype descr and shape.
func npyHeader(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh)
	pad := 64 - (10+len(h)+1)%64
	if pad == 64 {
		pad = 0
	}
	h += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	return b.Bytes()
}

func npyF32(v []float32, shape []int) []byte {
	b := npyHeader("<f4", shape)
	out := make([]byte, len(b)+4*len(v))
	copy(out, b)
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[len(b)+4*i:], math.Float32bits(x))
	}
	return out
}

func npyI64(v []int64, shape []int) []byte {
	b := npyHeader("<i8", shape)
	out := make([]byte, len(b)+8*len(v))
	copy(out, b)
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[len(b)+8*i:], uint64(x))
	}
	return out
}

// grid draws each example as a triplet of tiles: clean, adversarial and the
// perturbation (grey is none; black and white the largest change either way),
// each value a square block (see gridMinTile). Triplets fill rows of
// ceil(sqrt(n/3)) so that the picture is about as wide as it is tall, with a
// wider gap between triplets than within one. Only for [C,H,W] with C 1 or 3,
// or [H,W]; nil otherwise.
func grid(clean, adv []float32, shape []int, rng [2]float64) image.Image {
	c, h, w := 0, 0, 0
	switch len(shape) {
	case 2:
		c, h, w = 1, shape[0], shape[1]
	case 3:
		c, h, w = shape[0], shape[1], shape[2]
	}
	if (c != 1 && c != 3) || h < 2 || w < 2 {
		return nil
	}
	d := c * h * w
	n := len(clean) / d
	if n == 0 {
		return nil
	}
	per := max(1, int(math.Ceil(math.Sqrt(float64(n)/3))))
	rows := (n + per - 1) / per
	gridScale := max(1, (gridMinTile+max(h, w)-1)/max(h, w))
	const gap, groupGap = 2, 12
	tw, th := w*gridScale, h*gridScale
	groupW := 3*tw + 2*gap + groupGap
	img := image.NewRGBA(image.Rect(0, 0, per*groupW-groupGap, rows*(th+gap)-gap))
	span := rng[1] - rng[0]
	pd := 0.0
	for i := range adv {
		pd = max(pd, math.Abs(float64(adv[i])-float64(clean[i])))
	}
	if pd == 0 {
		pd = 1
	}
	val := func(v float64) uint8 { return uint8(math.Round(255 * min(max(v, 0), 1))) }
	for e := 0; e < n; e++ {
		x0, y0 := (e%per)*groupW, (e/per)*(th+gap)
		for col := 0; col < 3; col++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					var ch [3]uint8
					for k := 0; k < 3; k++ {
						q := e*d + (min(k, c-1)*h+y)*w + x
						var v float64
						switch col {
						case 0:
							v = (float64(clean[q]) - rng[0]) / span
						case 1:
							v = (float64(adv[q]) - rng[0]) / span
						default:
							v = 0.5 + 0.5*(float64(adv[q])-float64(clean[q]))/pd
						}
						ch[k] = val(v)
					}
					px := color.RGBA{ch[0], ch[1], ch[2], 255}
					for dy := 0; dy < gridScale; dy++ {
						for dx := 0; dx < gridScale; dx++ {
							img.SetRGBA(x0+col*(tw+gap)+x*gridScale+dx, y0+y*gridScale+dy, px)
						}
					}
				}
			}
		}
	}
	return img
}
