package poisoning

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// AnalysisAuto is the default cluster analysis: chosen per class from the
// split's criteria (SplitCriteria), as Chen et al. 2018 §4 weigh them.
const AnalysisAuto = "auto"

// gaussSplitSeparation is the separation (SplitCriteria.Separation) of the
// 2-means split of a Gaussian: the half means ±√(2/π) over the
// within-half standard deviation √(1 − 2/π), i.e. 2√(2/π)/√(1 − 2/π) ≈
// 2.65. Any unimodal class split in two reaches about this much; only a
// class made of two groups goes clearly beyond it.
var gaussSplitSeparation = 2 * math.Sqrt(2/math.Pi) / math.Sqrt(1-2/math.Pi)

// sepFactor is how far beyond gaussSplitSeparation a class's split must be
// to count as two groups: twice the Gaussian split's separation, i.e. the
// groups' means at least about 5.3 within-group standard deviations apart.
const sepFactor = 2

// robustZCut is the robust z-score (median/MAD) above which a score is an
// outlier when no poison rate is given: Iglewicz and Hoaglin's (1993)
// cut-off of 3.5 for the modified z-score.
const robustZCut = 3.5

// Split holds the criteria of a 2-means split of one class's (reduced)
// activations.
type Split struct {
	Sizes [2]int
	// Smaller is the index of the smaller cluster (0 on a tie).
	Smaller int
	// Share is the smaller cluster's share of the class.
	Share float64
	// Silhouette is the mean silhouette (NaN when a cluster is empty).
	Silhouette float64
	// Separation is the distance between the cluster means over the pooled
	// within-cluster standard deviation along the line joining them.
	Separation float64
}

// SplitCriteria computes the criteria of the two-cluster labelling labels
// of the rows of a. proj (len n, may be nil) gets each row's coordinate on
// the line from the larger cluster's mean to the smaller's, centred on
// the larger's mean.
func SplitCriteria(a *mat.Dense, labels []int, proj []float64) Split {
	n, d := a.Dims()
	var s Split
	for _, l := range labels {
		s.Sizes[l]++
	}
	if s.Sizes[1] < s.Sizes[0] {
		s.Smaller = 1
	}
	s.Share = float64(s.Sizes[s.Smaller]) / float64(max(n, 1))
	s.Silhouette = math.NaN()
	if v, ok := Silhouette(a, labels); ok {
		s.Silhouette = v
	}
	if s.Sizes[0] == 0 || s.Sizes[1] == 0 {
		if proj != nil {
			clear(proj)
		}
		return s
	}
	mu := make([]float64, 2*d)
	for i := 0; i < n; i++ {
		l := labels[i]
		for j, x := range a.RawRowView(i) {
			mu[l*d+j] += x
		}
	}
	for l := 0; l < 2; l++ {
		for j := 0; j < d; j++ {
			mu[l*d+j] /= float64(s.Sizes[l])
		}
	}
	big := 1 - s.Smaller
	u := make([]float64, d)
	var norm float64
	for j := range u {
		u[j] = mu[s.Smaller*d+j] - mu[big*d+j]
		norm += u[j] * u[j]
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return s
	}
	var ss float64 // within-cluster sum of squares along u
	for i := 0; i < n; i++ {
		l := labels[i]
		var p, q float64
		for j, x := range a.RawRowView(i) {
			p += (x - mu[big*d+j]) * u[j] / norm
			q += (x - mu[l*d+j]) * u[j] / norm
		}
		ss += q * q
		if proj != nil {
			proj[i] = p
		}
	}
	if sd := math.Sqrt(ss / float64(n)); sd > 0 {
		s.Separation = norm / sd
	} else {
		s.Separation = math.Inf(1)
	}
	return s
}

// Suspicious decides with the auto analysis whether the smaller cluster of
// a split is poisoned, given the relative-size bound sizeBound (ART's
// size_threshold, 0.35 by default): the split separates the class into two
// groups, Separation above sepFactor·gaussSplitSeparation; or, when it
// does not, the smaller cluster's share of the class, rounded to 2
// decimals as ART's relative-size analysis rounds it, is below sizeBound
// (relative-size). Equal clusters are never suspicious. It returns the
// rule that decided, for the details.
func (s Split) Suspicious(sizeBound float64) (bool, string) {
	switch {
	case s.Sizes[0] == s.Sizes[1]:
		return false, "equal clusters"
	case s.Separation > sepFactor*gaussSplitSeparation:
		return true, "two groups: separation above 2×2.65, smaller cluster flagged"
	case roundTo(s.Share, 2) < roundTo(sizeBound, 2):
		return true, fmt.Sprintf("one group (separation at most 2×2.65) but the smaller cluster's share %.2f is below %g: relative-size, smaller cluster flagged", roundTo(s.Share, 2), roundTo(sizeBound, 2))
	default:
		return false, fmt.Sprintf("one group (separation at most 2×2.65) and the smaller cluster's share %.2f is at least %g", roundTo(s.Share, 2), roundTo(sizeBound, 2))
	}
}

// ScoreCutoff flags in flag the outliers of one class's scores sc (higher
// is more suspicious) without a poison rate: when a 2-means split of the
// scores separates two groups (Split.Suspicious) and the upper cluster is
// the smaller, that cluster; otherwise the scores whose robust z-score z
// (zok false: none) exceeds robustZCut. It returns the rule applied.
func ScoreCutoff(flag []bool, sc, z []float64, zok bool, sizeBound float64, rng *rand.Rand) string {
	n := len(sc)
	a := mat.NewDense(n, 1, slices.Clone(sc))
	lab := make([]int, n)
	KMeans2(lab, a, 10, rng)
	sp := SplitCriteria(a, lab, nil)
	if sus, _ := sp.Suspicious(sizeBound); sus {
		var m [2]float64
		for i, l := range lab {
			m[l] += sc[i] / float64(sp.Sizes[l])
		}
		if m[sp.Smaller] > m[1-sp.Smaller] {
			for i, l := range lab {
				flag[i] = l == sp.Smaller
			}
			_, why := sp.Suspicious(sizeBound)
			return fmt.Sprintf("2-means split of the scores (separation %.3g): %s; upper cluster (%d) flagged", sp.Separation, why, sp.Sizes[sp.Smaller])
		}
	}
	for i := range flag {
		flag[i] = zok && z[i] > robustZCut
	}
	return fmt.Sprintf("robust z-score above %g (2-means split separation %.3g)", robustZCut, sp.Separation)
}

// ClassCutoff flags in flag the poisoned samples of one class from its
// scores sc (higher is more suspicious) without a poison rate, given the
// class-level decision sus: whether the 2-means split of the class's
// activations is suspicious by analysis auto's criteria (Split.Suspicious,
// with why its rule). In a suspicious class the smaller cluster of a
// 2-means split of the scores is flagged (poison is the minority of its
// class; the upper cluster when both are the same size); in any other
// class the scores whose robust z-score z (zok false: none) exceeds
// robustZCut. It returns the rule applied.
func ClassCutoff(flag []bool, sc, z []float64, zok, sus bool, why string, rng *rand.Rand) string {
	if !sus {
		for i := range flag {
			flag[i] = zok && z[i] > robustZCut
		}
		return fmt.Sprintf("class not suspicious by its activations' split (%s): robust z-score above %g", why, robustZCut)
	}
	n := len(sc)
	a := mat.NewDense(n, 1, slices.Clone(sc))
	lab := make([]int, n)
	KMeans2(lab, a, 10, rng)
	sp := SplitCriteria(a, lab, nil)
	pick := sp.Smaller
	if sp.Sizes[0] == sp.Sizes[1] {
		var m [2]float64
		for i, l := range lab {
			m[l] += sc[i]
		}
		if m[1] > m[0] {
			pick = 1
		}
	}
	var m [2]float64
	for i, l := range lab {
		flag[i] = l == pick
		m[l] += sc[i] / float64(max(sp.Sizes[l], 1))
	}
	side := "upper"
	if m[pick] < m[1-pick] {
		side = "lower"
	}
	return fmt.Sprintf("class suspicious by its activations' split (%s): the smaller cluster of a 2-means split of the scores flagged (%d of %d, the %s one; score split separation %.3g)", why, sp.Sizes[pick], n, side, sp.Separation)
}

// RobustZ writes into dst the robust z-score (x − median)/(1.4826·MAD) of
// each value of x. ok is false when the MAD is 0.
func RobustZ(dst, x []float64) bool {
	med := stats.Median(slices.Sorted(slices.Values(x)))
	dev := make([]float64, len(x))
	for i, v := range x {
		dev[i] = math.Abs(v - med)
	}
	mad := madScale * stats.Median(slices.Sorted(slices.Values(dev)))
	if mad == 0 {
		return false
	}
	for i, v := range x {
		dst[i] = (v - med) / mad
	}
	return true
}

// AUC returns the ROC AUC of scores against truth (learn.ROC); ok is false
// without both poisoned and clean samples.
func AUC(scores []float64, truth []bool) (float64, bool) {
	r := learn.NewROC(scores, truth, nil)
	if !r.Defined() {
		return 0, false
	}
	return r.AUC(), true
}

// layerView holds the activations of one layer for the training set and
// the clusterings of its classes, computed once.
type layerView struct {
	name  string
	size  int
	acts  []float32
	clust map[int]*clusterResult
}

// clusterResult is the 2-means split of one class at one layer.
type clusterResult struct {
	labels []int
	proj   []float64 // coordinate towards the smaller cluster's mean
	split  Split
	info   map[string]any // reduction details (FastICA iterations)
}

// class returns the activations of rows as a float64 matrix.
func (lv *layerView) class(rows []int) *mat.Dense {
	a := mat.NewDense(len(rows), lv.size, nil)
	for ri, i := range rows {
		row := a.RawRowView(ri)
		for j, v := range lv.acts[i*lv.size : (i+1)*lv.size] {
			row[j] = float64(v)
		}
	}
	return a
}

// cluster reduces and splits class k (rows) as activation clustering
// does, once per class.
func (lv *layerView) cluster(k int, rows []int, cl ClusteringConfig, seed uint64) (*clusterResult, error) {
	if c, ok := lv.clust[k]; ok {
		return c, nil
	}
	info := map[string]any{}
	red, err := reduceClass(lv.class(rows), cl, seed, k, info)
	if err != nil {
		return nil, err
	}
	c := &clusterResult{labels: make([]int, len(rows)), proj: make([]float64, len(rows)), info: info}
	KMeans2(c.labels, red, cl.Restarts, suite.BatchRand(suite.DeriveSeed(seed, "poisoning/kmeans"), k))
	c.split = SplitCriteria(red, c.labels, c.proj)
	if lv.clust == nil {
		lv.clust = map[int]*clusterResult{}
	}
	lv.clust[k] = c
	return c, nil
}

// separation returns the layer's separation statistic: the largest
// SplitCriteria.Separation over the classes' 2-means splits, and the class
// that has it.
func (lv *layerView) separation(byClass [][]int, cl ClusteringConfig, seed uint64) (float64, int, error) {
	best, bk := 0.0, -1
	for k, rows := range byClass {
		if len(rows) < 2 {
			continue
		}
		c, err := lv.cluster(k, rows, cl, seed)
		if err != nil {
			return 0, 0, fmt.Errorf("class %d: %w", k, err)
		}
		if s := c.split.Separation; s > best || bk < 0 {
			best, bk = s, k
		}
	}
	return best, bk, nil
}

// layerChoice holds the layers the data detectors read: the candidate
// layers and, per class, the one that class is read at.
type layerChoice struct {
	views []*layerView
	// byClass is the index in views of each class's layer.
	byClass []int
}

// of returns the layer class k is read at.
func (lc *layerChoice) of(k int) *layerView { return lc.views[lc.byClass[k]] }

// used returns the indices in views of the layers some class is read at,
// in candidate order.
func (lc *layerChoice) used() []int {
	var u []int
	for vi := range lc.views {
		if slices.Contains(lc.byClass, vi) {
			u = append(u, vi)
		}
	}
	return u
}

// chooseLayer reads the activations the data detectors use. With
// cfg.Layer set, that layer for every class (choice nil). Otherwise the
// candidates are the penultimate layer (DefaultLayer), the model's first
// output (the logits) and cfg.Layers, and each class is read at the
// candidate where the 2-means split of its reduced activations has the
// largest separation (SplitCriteria.Separation; the first candidate on a
// tie): the layer where that class's activations split most clearly.
// choice records each candidate's statistic (its largest separation over
// the classes) and each class's separations and layer. A default
// candidate that is not a float32 tensor is skipped with its reason; a
// listed layer that is not one is exit 2 naming layers[i].
func chooseLayer(ctx context.Context, t *suite.Target, d *data.Dataset, cfg *DataConfig, byClass [][]int) (*layerChoice, map[string]any, error) {
	cands, skipped, err := layerCands(t, cfg)
	if err != nil {
		return nil, nil, err
	}
	return pickLayer(cfg, cands, skipped, byClass, t.Seed, func(name string) ([]float32, int, error) {
		return Activations(ctx, t, d, name)
	})
}

// layerCand is a candidate layer of chooseLayer: its tensor and where it
// comes from (penultimate, logits, layers[i]; layer when configured).
type layerCand struct {
	Name   string `json:"name"`
	Origin string `json:"origin"`
}

// layerCands lists chooseLayer's candidates on t's model, in order, and
// the default candidates skipped with their reasons: cfg.Layer alone when
// it is set.
func layerCands(t *suite.Target, cfg *DataConfig) ([]layerCand, []map[string]any, error) {
	if cfg.Layer != "" {
		return []layerCand{{cfg.Layer, "layer"}}, nil, nil
	}
	var cands []layerCand
	var skipped []map[string]any
	if pen, err := DefaultLayer(t.Model); err == nil {
		cands = append(cands, layerCand{pen, "penultimate"})
	} else {
		skipped = append(skipped, map[string]any{"layer": "penultimate", "reason": err.Error()})
	}
	if outs := t.Model.Proto.GetGraph().GetOutput(); len(outs) > 0 {
		name := outs[0].GetName()
		if _, _, err := layerShape(t.Model, name, "layer"); err == nil {
			cands = append(cands, layerCand{name, "logits"})
		} else {
			skipped = append(skipped, map[string]any{"layer": name, "reason": err.Error()})
		}
	}
	for i, name := range cfg.Layers {
		key := fmt.Sprintf("layers[%d]", i)
		if name == t.Session.Input().Name {
			cands = append(cands, layerCand{name, key})
			continue
		}
		if _, _, err := layerShape(t.Model, name, key); err != nil {
			return nil, nil, err
		}
		cands = append(cands, layerCand{name, key})
	}
	// Drop repeats, keeping the first.
	seen := map[string]bool{}
	cands = slices.DeleteFunc(cands, func(c layerCand) bool {
		dup := seen[c.Name]
		seen[c.Name] = true
		return dup
	})
	if len(cands) == 0 {
		return nil, nil, errs.Invalidf("config suites.poisoning.data.layer: no candidate layer (no Gemm/MatMul, no float32 output); set layer or layers")
	}
	return cands, skipped, nil
}

// pickLayer is chooseLayer on the candidates cands (layerCands), whose
// activations acts returns (n×size, sample-major, and size): a sharded
// run's Merge runs it on the activations its units carry (shard.go).
func pickLayer(cfg *DataConfig, cands []layerCand, skipped []map[string]any, byClass [][]int, seed uint64, acts func(name string) ([]float32, int, error)) (*layerChoice, map[string]any, error) {
	if cfg.Layer != "" {
		a, size, err := acts(cfg.Layer)
		if err != nil {
			return nil, nil, err
		}
		return &layerChoice{views: []*layerView{{name: cfg.Layer, size: size, acts: a}}, byClass: make([]int, len(byClass))}, nil, nil
	}
	lc := &layerChoice{byClass: make([]int, len(byClass))}
	var tried []map[string]any
	for _, c := range cands {
		a, size, err := acts(c.Name)
		if err != nil {
			return nil, nil, err
		}
		lv := &layerView{name: c.Name, size: size, acts: a}
		stat, k, err := lv.separation(byClass, cfg.Clustering, seed)
		if err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", c.Name, err)
		}
		tried = append(tried, map[string]any{"layer": c.Name, "origin": c.Origin, "size": size, "separation": finite(stat), "class": k})
		lc.views = append(lc.views, lv)
	}
	var perClass []map[string]any
	for k, rows := range byClass {
		if len(rows) < 2 {
			continue // read at the first candidate; nothing to split
		}
		seps := map[string]any{}
		best := 0.0
		for vi, lv := range lc.views {
			s := lv.clust[k].split.Separation
			seps[lv.name] = finite(s)
			if vi == 0 || s > best {
				best, lc.byClass[k] = s, vi
			}
		}
		perClass = append(perClass, map[string]any{"class": k, "layer": lc.of(k).name, "separation": seps})
	}
	choice := map[string]any{
		"rule":       "per class, the candidate layer with the largest separation of the class's 2-means split (distance between the cluster means over their pooled spread, on the reduced activations); a candidate's separation is its largest over the classes",
		"candidates": tried,
		"per_class":  perClass,
	}
	if len(skipped) > 0 {
		choice["skipped"] = skipped
	}
	return lc, choice, nil
}

// chooseCentred returns whether spectral signatures use the centred score:
// as configured, or (Score empty) the variant whose scores separate best,
// the largest SplitCriteria.Separation over the classes of a 2-means split
// of each class's scores (centred on a tie), with why recording both.
func chooseCentred(sp SpectralConfig, lv *layerView, byClass [][]int, seed uint64) (bool, map[string]any, error) {
	if sp.Score != "" {
		return sp.Score == ScoreCentred, nil, nil
	}
	stat := map[bool]float64{}
	for _, centred := range []bool{true, false} {
		kind := ScoreART
		if centred {
			kind = ScoreCentred
		}
		best := 0.0
		for k, rows := range byClass {
			if len(rows) < 2 {
				continue
			}
			sc := make([]float64, len(rows))
			ok := false
			if centred {
				ok = SpectralProjection(sc, lv.class(rows))
			} else {
				ok = SpectralScores(sc, lv.class(rows), kind)
			}
			if !ok {
				return false, nil, fmt.Errorf("spectral signatures, class %d: the SVD did not converge", k)
			}
			a := mat.NewDense(len(rows), 1, sc)
			lab := make([]int, len(rows))
			KMeans2(lab, a, 10, suite.BatchRand(suite.DeriveSeed(seed, "poisoning/spectral-choice"), k))
			if s := SplitCriteria(a, lab, nil).Separation; s > best {
				best = s
			}
		}
		stat[centred] = best
	}
	centred := stat[true] >= stat[false]
	return centred, map[string]any{
		"rule":               "largest separation of a 2-means split of a class's scores (centred: the oriented projection; art: |r·v|), max over all the classes at this layer",
		"separation_centred": finite(stat[true]),
		"separation_art":     finite(stat[false]),
	}, nil
}
