package drift

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/poisoning"
)

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	ref, err := loadReference(cfg, t)
	if err != nil {
		return nil, err
	}
	r := suite.NewResult()
	r.AddData("reference", ref)
	names := featureNames(d)
	tested := testedFeatures(cfg, names)
	frs := make([]featureResult, len(tested))
	for i, f := range tested {
		frs[i] = testFeature(cfg, ref, d, f, names)
	}
	reduceFeatures(r, cfg, frs, ref.N, d.N)
	acts, err := mmdActivations(ctx, cfg, t, ref, d)
	if err == nil {
		reduceMMD(r, cfg, acts, t.Seed, ref.N, d.N)
	}
	if err != nil {
		if !suite.TimedOut(ctx, err) {
			return nil, err
		}
		// Stopped by runtime.timeout: the per-feature tests are whole.
		r.SetTimedOut(d.N, d.N, map[string]any{"parts_finished": []string{"features"}, "stopped_in": "mmd"})
		return r, err
	}
	if err := shift(ctx, r, cfg, t, d); err != nil {
		if !suite.TimedOut(ctx, err) {
			return nil, err
		}
		// The per-feature tests and the MMD are whole.
		done := []string{"features"}
		if cfg.MMD != MMDOff {
			done = append(done, "mmd")
		}
		r.SetTimedOut(d.N, d.N, map[string]any{"parts_finished": done, "stopped_in": "shift"})
		return r, err
	}
	return r, nil
}

// loadReference loads and checks the reference data set. It keeps the
// categorical columns that are not features of the evaluation data (a
// feature must stay one, to be fed).
func loadReference(cfg Config, t *suite.Target) (*data.Dataset, error) {
	d := t.Data
	spec := cfg.Reference
	names := featureNames(d)
	for _, c := range cfg.Categorical {
		if !slices.Contains(names, c) {
			spec.Also = append(slices.Clone(spec.Also), c)
		}
	}
	ref, err := t.LoadData(spec, "config suites.drift.reference")
	if err != nil {
		return nil, err
	}
	if err := check(cfg, ref, "reference"); err != nil {
		return nil, err
	}
	if ref.N < 2 || d.N < 2 {
		return nil, errs.Invalidf("config suites.drift.reference: %d reference and %d evaluation samples; drift needs at least 2 of each", ref.N, d.N)
	}
	if ref.SampleSize() != d.SampleSize() {
		return nil, errs.Invalidf("config suites.drift.reference: samples of %d values; the evaluation data's have %d", ref.SampleSize(), d.SampleSize())
	}
	return ref, nil
}

// testedFeatures lists the features tested: the listed features (every
// feature when none are listed), then the categorical columns not among
// them.
func testedFeatures(cfg Config, names []string) []string {
	tested := slices.Clone(cfg.Features)
	if len(tested) == 0 {
		tested = slices.Clone(names)
	}
	for _, f := range cfg.Categorical {
		if !slices.Contains(tested, f) {
			tested = append(tested, f)
		}
	}
	return tested
}

// featureResult is one feature's test: a unit of a sharded run.
type featureResult struct {
	Feature     string       `json:"feature"`
	Categorical bool         `json:"categorical,omitempty"`
	Dof         int          `json:"dof,omitempty"`
	Categories  []string     `json:"categories,omitempty"`
	Edges       suite.Floats `json:"edges,omitempty"`
	RefCounts   []int        `json:"reference_counts"`
	Counts      []int        `json:"counts"`
	// PSIStatP is the PSI, the test statistic and its p-value.
	PSIStatP suite.Floats `json:"psi_stat_p"`
}

// testFeature tests feature f of ref against d: χ² and PSI over the
// categories of a categorical one, KS and PSI over the reference's
// quantile bins of a numeric one.
func testFeature(cfg Config, ref, d *data.Dataset, f string, names []string) featureResult {
	fr := featureResult{Feature: f}
	var psi, stat, p float64
	if slices.Contains(cfg.Categorical, f) {
		a, b := categories(ref, f, names), categories(d, f, names)
		cats, rc, cc := tabulate(a, b)
		psi = PSI(rc, cc)
		stat, fr.Dof, p = ChiSquare(rc, cc)
		fr.Categorical, fr.Categories, fr.RefCounts, fr.Counts = true, cats, rc, cc
	} else {
		j := slices.Index(names, f)
		a, b := column(ref, j), column(d, j)
		slices.Sort(a)
		slices.Sort(b)
		edges := QuantileEdges(a, cfg.Bins)
		rc, cc := make([]int, len(edges)+1), make([]int, len(edges)+1)
		BinCounts(rc, a, edges)
		BinCounts(cc, b, edges)
		psi = PSI(rc, cc)
		stat, p = KS(a, b)
		fr.Edges, fr.RefCounts, fr.Counts = edges, rc, cc
	}
	fr.PSIStatP = suite.Floats{psi, stat, p}
	return fr
}

// reduceFeatures writes the per-feature table (details.features) and its
// metrics from the features' tests, in order: Run's and Merge's
// reduction.
func reduceFeatures(r *suite.Result, cfg Config, frs []featureResult, refN, n int) {
	keyed := cfg.keyed()
	var rows []map[string]any
	maxPSI, maxKS, minP := math.NaN(), math.NaN(), math.NaN()
	drifted := 0
	for _, fr := range frs {
		f := fr.Feature
		psi, stat, p := fr.PSIStatP[0], fr.PSIStatP[1], fr.PSIStatP[2]
		row := map[string]any{"feature": f}
		if fr.Categorical {
			row["kind"], row["test"], row["dof"] = "categorical", "chi2", fr.Dof
			row["categories"], row["reference_counts"], row["counts"] = fr.Categories, fr.RefCounts, fr.Counts
			if slices.Contains(keyed, f) {
				r.Set("chi2."+f+".statistic", stat, true)
				r.Set("chi2."+f+".p", p, true)
			}
		} else {
			maxKS = nanMax(maxKS, stat)
			row["kind"], row["test"] = "numeric", "ks"
			row["edges"], row["reference_counts"], row["counts"] = []float64(fr.Edges), fr.RefCounts, fr.Counts
			if slices.Contains(keyed, f) {
				r.Set("ks."+f+".statistic", stat, true)
				r.Set("ks."+f+".p", p, true)
			}
		}
		if slices.Contains(keyed, f) {
			r.Set("psi."+f, psi, true)
		}
		row["psi"], row["statistic"], row["p"] = psi, stat, p
		row["drifted"] = p < cfg.Alpha
		if p < cfg.Alpha {
			drifted++
		}
		maxPSI, minP = nanMax(maxPSI, psi), nanMin(minP, p)
		rows = append(rows, row)
	}
	r.Set("max_psi", maxPSI, !math.IsNaN(maxPSI))
	r.Set("max_ks", maxKS, !math.IsNaN(maxKS))
	r.Set("min_p", minP, !math.IsNaN(minP))
	r.Set("drifted_features", float64(drifted), len(frs) > 0)
	r.Set("drifted_share", float64(drifted)/float64(len(frs)), len(frs) > 0)
	if len(frs) == 0 {
		r.Warnings = append(r.Warnings, "drift: the data have no named features (image samples): no per-feature tests; see mmd")
	}
	r.Details["features"] = rows
	r.Details["bins"] = cfg.Bins
	r.Details["alpha"] = cfg.Alpha
	r.Details["reference_samples"] = refN
	r.Details["samples"] = n
}

func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}

func nanMin(a, b float64) float64 {
	if math.IsNaN(a) || b < a {
		return b
	}
	return a
}

// column returns input position j of every sample of d.
func column(d *data.Dataset, j int) []float64 {
	s := d.SampleSize()
	out := make([]float64, d.N)
	for i := range out {
		out[i] = float64(d.X[i*s+j])
	}
	return out
}

// categories returns the values of categorical column f of d as strings:
// the feature's values when f is a feature (formatted as float32), else
// the CSV column kept as strings.
func categories(d *data.Dataset, f string, names []string) []string {
	if !slices.Contains(names, f) {
		return d.Columns[f]
	}
	col := column(d, slices.Index(names, f))
	out := make([]string, len(col))
	for i, v := range col {
		out[i] = strconv.FormatFloat(v, 'g', -1, 32)
	}
	return out
}

// tabulate counts the values of a and b over their sorted union.
func tabulate(a, b []string) (cats []string, ca, cb []int) {
	idx := map[string]int{}
	for _, v := range append(slices.Clone(a), b...) {
		idx[v] = 0
	}
	for v := range idx {
		cats = append(cats, v)
	}
	slices.Sort(cats)
	for i, c := range cats {
		idx[c] = i
	}
	ca, cb = make([]int, len(cats)), make([]int, len(cats))
	for _, v := range a {
		ca[idx[v]]++
	}
	for _, v := range b {
		cb[idx[v]]++
	}
	return cats, ca, cb
}

// mmdActs is the MMD's input: the activations (or outputs) of the seeded
// subsamples of each set at layer, and the warnings reading them gave; a
// unit of a sharded run.
type mmdActs struct {
	Layer    string         `json:"layer"`
	Dim      int            `json:"dim"`
	NA       int            `json:"na"`
	NB       int            `json:"nb"`
	A        suite.Floats32 `json:"a"`
	B        suite.Floats32 `json:"b"`
	Warnings []string       `json:"warnings,omitempty"`
}

// mmdRand is the MMD's random source: it draws the subsamples (a
// permutation of the reference, then of the evaluation data), then the
// permutations of the test.
func mmdRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d6d64)) } // "mmd"

// mmdActivations reads the model's penultimate activations (or its
// outputs) of a seeded subsample of each set; nil when mmd is off.
func mmdActivations(ctx context.Context, cfg Config, t *suite.Target, ref, d *data.Dataset) (*mmdActs, error) {
	if cfg.MMD == MMDOff {
		return nil, nil
	}
	rng := mmdRand(t.Seed)
	a, b := subsample(ref, cfg.MMDSamples, rng), subsample(d, cfg.MMDSamples, rng)
	out := &mmdActs{NA: a.N, NB: b.N}
	if a.N < 2 || b.N < 2 {
		return out, nil
	}
	layer := cfg.Layer
	if layer == "" && t.Model != nil {
		layer, _ = poisoning.DefaultLayer(t.Model) // none: the outputs
	}
	var xa, xb []float32
	var dim int
	var err error
	if layer != "" {
		xa, dim, err = poisoning.Activations(ctx, t, a, layer)
		if err == nil {
			xb, _, err = poisoning.Activations(ctx, t, b, layer)
		}
		switch {
		case err != nil && cfg.Layer != "":
			return nil, errs.WithCode(errs.Code(err, errs.SuiteFailed), fmt.Errorf("config suites.drift.layer %q: %w", layer, err))
		case err != nil && errs.Code(err, 0) == errs.Invalid:
			// The default layer cannot be read (a dynamic or non-float
			// tensor): the outputs, and say so.
			out.Warnings = append(out.Warnings, fmt.Sprintf("drift: mmd on the model's outputs: the penultimate tensor %q cannot be read (%v)", layer, err))
			layer = ""
		case err != nil:
			return nil, fmt.Errorf("drift: mmd activations %q: %w", layer, err)
		}
	}
	if layer == "" {
		layer = "outputs"
		if xa, err = outputs(ctx, t, a); err != nil {
			return nil, err
		}
		if xb, err = outputs(ctx, t, b); err != nil {
			return nil, err
		}
		dim = t.Classes
	}
	out.Layer, out.Dim, out.A, out.B = layer, dim, xa, xb
	return out, nil
}

// reduceMMD writes the MMD two-sample test on acts (nothing when nil:
// mmd off), its permutations drawn from mmdRand after the subsamples'
// draws (of refN and n samples): Run's and Merge's reduction.
func reduceMMD(r *suite.Result, cfg Config, acts *mmdActs, seed uint64, refN, n int) {
	if acts == nil {
		return
	}
	r.Warnings = append(r.Warnings, acts.Warnings...)
	if acts.NA < 2 || acts.NB < 2 {
		r.Set("mmd", 0, false)
		r.Set("mmd.p", 0, false)
		r.Warnings = append(r.Warnings, "drift: mmd needs at least 2 samples in each set")
		return
	}
	rng := mmdRand(seed)
	rng.Perm(refN)
	rng.Perm(n)
	m2, sigma, p := MMD(acts.A, acts.B, acts.Dim, cfg.Permutations, rng)
	r.Set("mmd", m2, true)
	r.Set("mmd.p", p, true)
	r.Details["mmd"] = map[string]any{"layer": acts.Layer, "dim": acts.Dim, "reference_samples": acts.NA, "samples": acts.NB,
		"sigma": sigma, "permutations": cfg.Permutations, "kernel": "rbf", "bandwidth": "median"}
}

// subsample returns up to k samples of d drawn without replacement by r,
// in their original order.
func subsample(d *data.Dataset, k int, r *rand.Rand) *data.Dataset {
	idx := r.Perm(d.N)
	if len(idx) > k {
		idx = idx[:k]
	}
	slices.Sort(idx)
	s := d.SampleSize()
	out := &data.Dataset{N: len(idx), SampleShape: d.SampleShape, X: make([]float32, 0, len(idx)*s)}
	for _, i := range idx {
		out.X = append(out.X, d.Sample(i)...)
	}
	return out
}

// outputs runs the model on d and returns its outputs, sample-major.
func outputs(ctx context.Context, t *suite.Target, d *data.Dataset) ([]float32, error) {
	out := make([]float32, d.N*t.Classes)
	err := suite.ForEachBatch(ctx, t, d, func(_, lo, hi int, o []float32) error {
		copy(out[lo*t.Classes:hi*t.Classes], o[:(hi-lo)*t.Classes])
		return nil
	})
	return out, err
}

// shift writes accuracy and the selection-rate gap on the evaluation data
// and under simulated shift along each shift feature.
func shift(ctx context.Context, r *suite.Result, cfg Config, t *suite.Target, d *data.Dataset) error {
	out, err := outputs(ctx, t, d)
	if err != nil {
		return err
	}
	k := t.Classes
	pred := make([]int32, d.N)
	for i := range pred {
		pred[i] = int32(stats.Argmax(out[i*k : (i+1)*k]))
	}
	sens := make([][]string, len(cfg.Sensitive))
	for j, c := range cfg.Sensitive {
		sens[j] = d.Columns[c]
	}
	return reduceShift(r, cfg, d.Y, pred, sens, shiftValues(cfg, d, 0, d.N))
}

// shiftValues returns, per shift feature, its value for samples [lo, hi)
// of d (the mean input value for Intensity).
func shiftValues(cfg Config, d *data.Dataset, lo, hi int) [][]float64 {
	names := featureNames(d)
	out := make([][]float64, len(cfg.Shift.Features))
	for fi, f := range cfg.Shift.Features {
		v := make([]float64, hi-lo)
		s := d.SampleSize()
		j := slices.Index(names, f)
		for i := lo; i < hi; i++ {
			if f == Intensity {
				var sum float64
				for _, x := range d.Sample(i) {
					sum += float64(x)
				}
				v[i-lo] = sum / float64(s)
			} else {
				v[i-lo] = float64(d.X[i*s+j])
			}
		}
		out[fi] = v
	}
	return out
}

// reduceShift writes accuracy and the selection-rate gap from every
// sample's label (y, nil without labels), prediction, sensitive values (one
// column per cfg.Sensitive) and shift feature values, unweighted and
// under simulated shift along each shift feature: Run's and Merge's
// reduction.
func reduceShift(r *suite.Result, cfg Config, y []int64, pred []int32, sens [][]string, values [][]float64) error {
	n := len(pred)
	var part *groups.Partition
	if len(cfg.Sensitive) > 0 {
		var err error
		if part, err = groups.NewPartition("sensitive column", cfg.Sensitive, sens, false); err != nil {
			return errs.WithCode(errs.Invalid, fmt.Errorf("config suites.drift.sensitive: %w", err))
		}
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	acc, accOK := accuracy(y, pred, ones)
	r.Set("accuracy", acc, accOK)
	if part != nil {
		g, _ := gap(part, pred, cfg.Positive, ones)
		r.Set("selection_rate_gap", g, !math.IsNaN(g))
	}
	worst, worstGap := math.NaN(), math.NaN()
	var rows []map[string]any
	for fi, f := range cfg.Shift.Features {
		v := values[fi]
		sorted := slices.Sorted(slices.Values(v))
		q := stats.Quantile(sorted, cfg.Shift.Quantile)
		w := make([]float64, n)
		up := 0
		for i, x := range v {
			w[i] = 1
			if x >= q {
				w[i] = cfg.Shift.Weight
				up++
			}
		}
		row := map[string]any{"feature": f, "threshold": q, "upweighted": up, "weight": cfg.Shift.Weight}
		a, ok := accuracy(y, pred, w)
		r.Set("shift."+f+".accuracy", a, ok)
		if ok {
			row["accuracy"] = a
			worst = nanMin(worst, a)
		}
		if part != nil {
			g, groupRates := gap(part, pred, cfg.Positive, w)
			r.Set("shift."+f+".selection_rate_gap", g, !math.IsNaN(g))
			if !math.IsNaN(g) {
				row["selection_rate_gap"] = g
				worstGap = nanMax(worstGap, g)
			}
			row["selection_rates"] = groupRates
		}
		rows = append(rows, row)
	}
	r.Set("shift.worst_accuracy", worst, !math.IsNaN(worst))
	if part != nil {
		r.Set("shift.worst_selection_rate_gap", worstGap, !math.IsNaN(worstGap))
	}
	r.Details["shift"] = map[string]any{"quantile": cfg.Shift.Quantile, "weight": cfg.Shift.Weight, "features": rows}
	if y == nil {
		r.Warnings = append(r.Warnings, "drift: the evaluation data have no labels: accuracy under shift is undefined")
	}
	return nil
}

// accuracy returns the w-weighted share of correct predictions; false
// without labels.
func accuracy(y []int64, pred []int32, w []float64) (float64, bool) {
	if y == nil || len(pred) == 0 {
		return 0, false
	}
	var hit, tot float64
	for i, p := range pred {
		tot += w[i]
		if int64(p) == y[i] {
			hit += w[i]
		}
	}
	return hit / tot, true
}

// gap returns the largest difference of w-weighted selection rates (the
// share predicted positive) between two groups of one sensitive
// attribute, over the attributes (NaN with fewer than two groups), and
// every group's rate by attribute.
func gap(p *groups.Partition, pred []int32, positive int, w []float64) (float64, map[string]map[string]float64) {
	g := math.NaN()
	rates := map[string]map[string]float64{}
	for a, at := range p.Attrs {
		pos, tot := make([]float64, len(at.Groups)), make([]float64, len(at.Groups))
		for i, pr := range pred {
			j := p.Group(a, i)
			tot[j] += w[i]
			if int(pr) == positive {
				pos[j] += w[i]
			}
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		rates[at.Name] = map[string]float64{}
		for j, name := range at.Groups {
			if tot[j] == 0 {
				continue
			}
			v := pos[j] / tot[j]
			rates[at.Name][name] = v
			lo, hi = min(lo, v), max(hi, v)
		}
		if hi >= lo && len(rates[at.Name]) > 1 {
			g = nanMax(g, hi-lo)
		}
	}
	return g, rates
}
