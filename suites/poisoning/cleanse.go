package poisoning

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// madScale makes the median absolute deviation a consistent estimator of
// the standard deviation of normal data (Wang et al. 2019, §IV-B).
const madScale = 1.4826

// cleansePatience is how many consecutive steps above (below) the success
// threshold raise (lower) the L1 weight, Wang et al.'s patience.
const cleansePatience = 5

// costUp and costDown are Wang et al.'s multipliers of the L1 weight.
const (
	costUp   = 1.5
	costDown = 1.5 * 1.2247448713915890 // 1.5^1.5
)

// Adam's constants as in Wang et al.'s code (beta1 0.5, beta2 0.9).
const (
	adamBeta1 = 0.5
	adamBeta2 = 0.9
	adamEps   = 1e-8
)

// Reversed is one class's reverse-engineered trigger.
type Reversed struct {
	Class   int
	Mask    []float64 // height×width, in [0, 1]
	Pattern []float64 // channels×height×width, in data.range
	L1      float64   // Σ mask of the smallest mask that reached the success rate
	Success float64   // attack success of that mask on the optimisation inputs
	Reached bool      // whether any mask reached the success rate
}

// AnomalyIndex returns the anomaly index |l_k − median|/(1.4826·MAD) of
// each norm and whether it is defined (MAD > 0).
func AnomalyIndex(dst, norms []float64) bool {
	med := stats.Median(slices.Sorted(slices.Values(norms)))
	dev := make([]float64, len(norms))
	for i, l := range norms {
		dev[i] = math.Abs(l - med)
	}
	mad := madScale * stats.Median(slices.Sorted(slices.Values(dev)))
	if mad == 0 {
		return false
	}
	for i := range norms {
		dst[i] = dev[i] / mad
	}
	return true
}

// Test hooks: how Neural Cleanse opens its gradient graph and a runner of
// it. Tests replace them to inject failures.
var (
	openGraph      = openCleanseGraph
	newGraphRunner = func(g *runtime.Graph, n int) (*runtime.GraphRunner, error) { return g.NewRunner(n) }
)

// openCleanseGraph builds and opens the targeted cross-entropy gradient
// graph with the model's outputs.
func openCleanseGraph(t *suite.Target) (*runtime.Graph, error) {
	sample := t.Session.SampleShape()
	return grad.OpenTargetGraph(t, "neural cleanse gradient graph", t.Model, grad.TargetSpec(t, autodiff.LossTargetedCE, "gauntlet_nc"),
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{{Name: nm.Input, Type: "float32", Sample: sample}, {Name: nm.Labels, Type: "int64"}}
		},
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{{Name: nm.Output, Type: "float32", Sample: []int64{int64(t.Classes)}},
				{Name: nm.Grad, Type: "float32", Sample: sample}}
		})
}

// runCleanse reverse-engineers a trigger for each class and flags classes
// whose mask norm is anomalously small.
func runCleanse(ctx context.Context, t *suite.Target, cfg CleanseConfig, r *suite.Result) (map[string]any, error) {
	ch, h, w, err := cleanseDims(t)
	if err != nil {
		return nil, err
	}
	classes := cleanseClasses(cfg, t.Classes)
	res := make([]*Reversed, len(classes))
	err = reverseClasses(ctx, t, cfg, classes, ch, h, w, func(i int, rv *Reversed) error {
		res[i] = rv
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cleanseReport(t, cfg, r, res, ch, h, w)
}

// cleanseDims checks that Neural Cleanse can run on t's data (image
// inputs, labels) and returns the images' channels, height and width.
func cleanseDims(t *suite.Target) (ch, h, w int, err error) {
	d := t.Data
	ch, h, w, ok := imageDims(d.SampleShape)
	if !ok {
		return 0, 0, 0, errs.Invalidf("neural cleanse needs image inputs (at least two axes per sample); the sample shape is %v", d.SampleShape)
	}
	if d.Y == nil {
		return 0, 0, 0, errs.Invalidf("neural cleanse needs labels in the evaluation data (data.y)")
	}
	return ch, h, w, nil
}

// reverseClasses reverse-engineers the trigger of each class of classes
// on t's worker pool and hands each to done (with its index in classes)
// as it finishes: runCleanse's and RunShard's model work.
func reverseClasses(ctx context.Context, t *suite.Target, cfg CleanseConfig, classes []int, ch, h, w int, done func(i int, rv *Reversed) error) error {
	if len(classes) == 0 {
		return nil
	}
	// Neural Cleanse optimises through the model's gradient graph and has
	// no estimated-gradient variant: a graph that cannot be built or opened
	// is bad input, named by the builder's error (the node and why).
	g, err := openGraph(t)
	if err != nil {
		return errs.WithCode(errs.Invalid, fmt.Errorf("neural cleanse needs white-box gradients: %w", err))
	}
	defer g.Close()

	workers := max(1, min(t.Pool.Workers, len(classes)))
	runners := make([]*runtime.GraphRunner, workers)
	defer func() {
		for _, rr := range runners {
			if rr != nil {
				rr.Close()
			}
		}
	}()
	for i := range runners {
		if runners[i], err = newGraphRunner(g, cfg.Samples); err != nil {
			return err
		}
	}
	pool := t.Pool
	pool.Workers = workers
	seed := suite.DeriveSeed(t.Seed, "poisoning/neural_cleanse")
	return pool.Run(ctx, len(classes), func(ctx context.Context, wk, i int) error {
		rv, err := reverse(ctx, runners[wk], t, cfg, classes[i], ch, h, w, seed)
		if err != nil {
			return err
		}
		return done(i, rv)
	})
}

// cleanseReport is runCleanse's and Merge's reduction of the classes'
// reversed triggers (in cleanseClasses order): the anomaly indices, the
// flagged classes, the details and the trigger PNGs.
func cleanseReport(t *suite.Target, cfg CleanseConfig, r *suite.Result, res []*Reversed, ch, h, w int) (map[string]any, error) {
	norms := make([]float64, len(res))
	for i, rv := range res {
		norms[i] = rv.L1
	}
	idx := make([]float64, len(norms))
	defined := AnomalyIndex(idx, norms)
	med := stats.Median(slices.Sorted(slices.Values(norms)))
	var flagged []int
	maxIdx := 0.0
	perClass := make([]map[string]any, len(res))
	for i, rv := range res {
		key := "neural_cleanse.class=" + strconv.Itoa(rv.Class) + ".anomaly_index"
		r.Set(key, idx[i], defined)
		pc := map[string]any{"class": rv.Class, "mask_l1": rv.L1, "attack_success": rv.Success, "reached": rv.Reached}
		if defined {
			pc["anomaly_index"] = idx[i]
			if rv.L1 < med {
				maxIdx = max(maxIdx, idx[i])
				if idx[i] > cfg.Threshold {
					flagged = append(flagged, rv.Class)
				}
			}
		} else {
			pc["anomaly_index"] = nil
		}
		perClass[i] = pc
	}
	r.Set("neural_cleanse.max_anomaly_index", maxIdx, defined)
	r.Set("neural_cleanse.flagged_count", float64(len(flagged)), defined)
	out := map[string]any{"per_class": perClass, "flagged_classes": flagged, "median_l1": med,
		"samples": cfg.Samples, "steps": cfg.Steps}
	if flagged == nil {
		out["flagged_classes"] = []int{}
	}
	if t.OutDir != "" {
		dir := filepath.Join(t.OutDir, "poisoning_neural_cleanse")
		var files []string
		for _, rv := range res {
			name := filepath.Join("poisoning_neural_cleanse", "class_"+strconv.Itoa(rv.Class)+".png")
			if err := writeTriggerPNG(filepath.Join(t.OutDir, name), dir, rv, ch, h, w, t.Range); err != nil {
				return nil, err
			}
			files = append(files, name)
		}
		out["pngs"] = files
	}
	return out, nil
}

// reverse optimises a mask m (h×w) and pattern p (ch×h×w) so that
// (1−m)·x + m·p is classified as class k on up to cfg.Samples evaluation
// inputs of other classes, minimising CE + λ·Σm with Wang et al.'s λ
// schedule. m and p are tanh-parametrised into [0, 1] and data.range.
func reverse(ctx context.Context, gr *runtime.GraphRunner, t *suite.Target, cfg CleanseConfig, k, ch, h, w int, seed uint64) (*Reversed, error) {
	d := t.Data
	size := ch * h * w
	var rows []int
	for i := 0; i < d.N && len(rows) < cfg.Samples; i++ {
		if d.Y[i] != int64(k) {
			rows = append(rows, i)
		}
	}
	n := len(rows)
	if n == 0 {
		return nil, errs.Invalidf("class %d: the evaluation data has no inputs of other classes", k)
	}
	lo, hi := t.Range[0], t.Range[1]
	rng := suite.BatchRand(seed, k)
	hw := h * w
	thM := make([]float64, hw)
	thP := make([]float64, size)
	atanh := func(v float64) float64 { return math.Atanh((v - 0.5) * (2 - 1e-7)) }
	for i := range thM {
		thM[i] = atanh(rng.Float64())
	}
	for i := range thP {
		thP[i] = atanh(rng.Float64())
	}
	mask := make([]float64, hw)
	pat := make([]float64, size)
	gM := make([]float64, hw)
	gP := make([]float64, size)
	mM, vM := make([]float64, hw), make([]float64, hw)
	mP, vP := make([]float64, size), make([]float64, size)
	best := &Reversed{Class: k, L1: math.Inf(1)}
	x := gr.F32In(0)
	lab := gr.I64In(1)
	for i := range n {
		lab[i] = int64(k)
	}
	cost := cfg.InitCost
	up, down := 0, 0
	var last float64
	var lastSucc float64
	for step := 1; step <= cfg.Steps+1; step++ {
		var l1 float64
		for i := range mask {
			mask[i] = (math.Tanh(thM[i]) + 1) / 2
			l1 += mask[i]
		}
		for i := range pat {
			pat[i] = lo + (hi-lo)*(math.Tanh(thP[i])+1)/2
		}
		for ri, i := range rows {
			src := d.X[i*size : (i+1)*size]
			dst := x[ri*size : (ri+1)*size]
			for c := 0; c < ch; c++ {
				for p := 0; p < hw; p++ {
					e := c*hw + p
					dst[e] = float32((1-mask[p])*float64(src[e]) + mask[p]*pat[e])
				}
			}
		}
		if err := gr.Run(ctx, n); err != nil {
			return nil, err
		}
		logits, grad := gr.Out(0), gr.Out(1)
		hit := 0
		for ri := 0; ri < n; ri++ {
			if stats.Argmax(logits[ri*t.Classes:(ri+1)*t.Classes]) == k {
				hit++
			}
		}
		succ := float64(hit) / float64(n)
		if succ >= cfg.Success && l1 < best.L1 {
			best.L1, best.Success, best.Reached = l1, succ, true
			best.Mask = append(best.Mask[:0], mask...)
			best.Pattern = append(best.Pattern[:0], pat...)
		}
		last, lastSucc = l1, succ
		if step > cfg.Steps {
			break
		}
		// λ schedule (Wang et al.): raise after patience successes, lower after patience failures.
		if succ >= cfg.Success {
			up, down = up+1, 0
		} else {
			up, down = 0, down+1
		}
		if up >= cleansePatience {
			up = 0
			cost *= costUp
		} else if down >= cleansePatience {
			down = 0
			cost /= costDown
		}
		// Gradients of mean CE + cost·Σm.
		clear(gM)
		clear(gP)
		inv := 1 / float64(n)
		for ri, i := range rows {
			src := d.X[i*size : (i+1)*size]
			g := grad[ri*size : (ri+1)*size]
			for c := 0; c < ch; c++ {
				for p := 0; p < hw; p++ {
					e := c*hw + p
					ge := float64(g[e]) * inv
					gM[p] += ge * (pat[e] - float64(src[e]))
					gP[e] += ge * mask[p]
				}
			}
		}
		for p := range gM {
			th := math.Tanh(thM[p])
			gM[p] = (gM[p] + cost) * (1 - th*th) / 2
		}
		for e := range gP {
			th := math.Tanh(thP[e])
			gP[e] *= (hi - lo) * (1 - th*th) / 2
		}
		adam(thM, gM, mM, vM, cfg.LearningRate, step)
		adam(thP, gP, mP, vP, cfg.LearningRate, step)
	}
	if !best.Reached {
		best.L1, best.Success = last, lastSucc
		best.Mask = append(best.Mask[:0], mask...)
		best.Pattern = append(best.Pattern[:0], pat...)
	}
	return best, nil
}

// adam applies one Adam step (step counts from 1) to x with gradient g.
func adam(x, g, m, v []float64, lr float64, step int) {
	c1 := 1 - math.Pow(adamBeta1, float64(step))
	c2 := 1 - math.Pow(adamBeta2, float64(step))
	for i, gi := range g {
		m[i] = adamBeta1*m[i] + (1-adamBeta1)*gi
		v[i] = adamBeta2*v[i] + (1-adamBeta2)*gi*gi
		x[i] -= lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + adamEps)
	}
}

// writeTriggerPNG writes the reversed mask (left) and mask·pattern
// (right) side by side, greyscale for one channel and RGB for three (other
// channel counts show the channel mean).
func writeTriggerPNG(path, dir string, rv *Reversed, ch, h, w int, rng [2]float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 2*w+1, h))
	span := rng[1] - rng[0]
	if span <= 0 {
		span = 1
	}
	to8 := func(v float64) uint8 { return uint8(math.Round(255 * min(1, max(0, v)))) }
	hw := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := y*w + x
			m := rv.Mask[p]
			img.Set(x, y, color.RGBA{to8(m), to8(m), to8(m), 255})
			var rgb [3]float64
			for c := 0; c < 3; c++ {
				switch ch {
				case 3:
					rgb[c] = m * (rv.Pattern[c*hw+p] - rng[0]) / span
				default:
					var s float64
					for cc := 0; cc < ch; cc++ {
						s += rv.Pattern[cc*hw+p]
					}
					rgb[c] = m * (s/float64(ch) - rng[0]) / span
				}
			}
			img.Set(w+1+x, y, color.RGBA{to8(rgb[0]), to8(rgb[1]), to8(rgb[2]), 255})
		}
		img.Set(w, y, color.RGBA{255, 0, 0, 255})
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
