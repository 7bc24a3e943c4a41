package poisoning

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sbinet/npyio"
	"gonum.org/v1/gonum/mat"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// runData runs the poisoned-data detectors on the training set.
func runData(ctx context.Context, t *suite.Target, cfg *DataConfig, r *suite.Result) error {
	d, truth, err := loadData(t, cfg)
	if err != nil {
		return err
	}
	r.AddData("data.train", d)
	return detectData(t, cfg, r, d.Y, truth, func(byClass [][]int) (*layerChoice, map[string]any, error) {
		return chooseLayer(ctx, t, d, cfg, byClass)
	})
}

// loadData loads the data part's training set and its ground truth
// (is_poisoned; nil when not configured).
func loadData(t *suite.Target, cfg *DataConfig) (*data.Dataset, []bool, error) {
	d, err := loadTrain(t, cfg.Train, "suites.poisoning.data.train")
	if err != nil {
		return nil, nil, err
	}
	var truth []bool
	if cfg.IsPoisoned != "" {
		if truth, err = readBools(resolve(t.BaseDir, cfg.IsPoisoned)); err != nil {
			return nil, nil, errs.WithCode(errs.Invalid, fmt.Errorf("config suites.poisoning.data.is_poisoned: %w", err))
		}
		if len(truth) != d.N {
			return nil, nil, errs.Invalidf("config suites.poisoning.data.is_poisoned: %s has %d values; the training set has %d samples", cfg.IsPoisoned, len(truth), d.N)
		}
	}
	return d, truth, nil
}

// detectData runs the detectors on the training rows labelled y (truth:
// their ground truth, or nil), whose layers choose gives (the layer
// choice and its details), and sets r's metrics and details: runData's
// statistics, which a sharded run's Merge runs on the activations its
// units carry (shard.go).
func detectData(t *suite.Target, cfg *DataConfig, r *suite.Result, y []int64, truth []bool, choose func(byClass [][]int) (*layerChoice, map[string]any, error)) error {
	d := &data.Dataset{N: len(y), Y: y}
	// Rows of each class, in sample order.
	byClass := make([][]int, t.Classes)
	for i, y := range d.Y {
		byClass[y] = append(byClass[y], i)
	}
	lc, choice, err := choose(byClass)
	if err != nil {
		return err
	}
	details := map[string]any{"samples": d.N}
	// One layer for every class: its name and size; several: their names,
	// in candidate order, and each class's in layer_choice.per_class.
	if used := lc.used(); len(used) == 1 {
		details["layer"], details["layer_size"] = lc.views[used[0]].name, lc.views[used[0]].size
	} else {
		var names []string
		for _, vi := range used {
			names = append(names, lc.views[vi].name)
		}
		details["layer"] = names
	}
	if choice != nil {
		details["layer_choice"] = choice
	}
	for _, method := range cfg.Methods {
		flag := make([]bool, d.N)
		score := make([]float64, d.N) // the method's raw score (CSV)
		z := make([]float64, d.N)     // per-class robust z of the score (AUC)
		var perClass []map[string]any
		md := map[string]any{}
		// centred is the spectral variant of each layer (index in lc.views).
		centred := map[int]bool{}
		if method == MethodSpectral {
			var choices []map[string]any
			for _, vi := range lc.used() {
				c, why, err := chooseCentred(cfg.Spectral, lc.views[vi], byClass, t.Seed)
				if err != nil {
					return err
				}
				centred[vi] = c
				if why != nil {
					why["layer"], why["centred"] = lc.views[vi].name, c
					choices = append(choices, why)
				}
			}
			if u := lc.used(); len(u) == 1 {
				md["centred"] = centred[u[0]]
			}
			if choices != nil {
				md["centred_choice"] = choices
			}
			if cfg.Spectral.ExpectedPoisonRate > 0 {
				md["cutoff"] = fmt.Sprintf("per class, scores at or above the %g quantile (1 − eps_multiplier·expected_poison_rate)", max(1-cfg.Spectral.EpsMultiplier*cfg.Spectral.ExpectedPoisonRate, 0))
			} else {
				md["cutoff"] = classCutoffDoc + " (centred: on the projection oriented towards the class minority)"
			}
		}
		if method == MethodSpectre {
			for _, vi := range lc.used() {
				if lv := lc.views[vi]; cfg.Spectre.K > lv.size {
					return errs.Invalidf("config suites.poisoning.data.spectre.k: %d is larger than layer %s's %d values", cfg.Spectre.K, lv.name, lv.size)
				}
			}
			md["alpha"] = cfg.Spectre.Alpha
			if p := cfg.Spectre.ExpectedPoisonRate; p > 0 {
				md["cutoff"] = fmt.Sprintf("per class, the round(1.5·%g·n) highest QUE scores (the authors' limit2·ε)", p)
			} else {
				md["cutoff"] = rateFreeCutoffDoc + " (on √QUE, a distance)"
			}
		}
		if method == MethodClustering {
			md["analysis"] = cfg.Clustering.Analysis
			if cfg.Clustering.Analysis == AnalysisAuto {
				md["cutoff"] = "per class, the rate-free rule's split criteria applied to the 2-means split of the reduced activations (see auto_rule); no score cut-off"
				md["auto_rule"] = fmt.Sprintf("per class: smaller cluster flagged when the split is two groups (separation above 2×2.65) or, as one group, its share rounded to 2 decimals is below size_threshold %g (relative-size)", cfg.Clustering.SizeThreshold)
			}
		}
		for k, rows := range byClass {
			if len(rows) == 0 {
				continue
			}
			cf := make([]bool, len(rows))
			cz := make([]float64, len(rows))
			lv := lc.of(k)
			pc := map[string]any{"class": k, "samples": len(rows), "layer": lv.name}
			switch method {
			case MethodSpectral:
				a := lv.class(rows)
				sc := make([]float64, len(rows))
				kind := ScoreART
				if centred[lc.byClass[k]] {
					kind = ScoreCentred
				}
				if !SpectralScores(sc, a, kind) {
					return fmt.Errorf("spectral signatures, class %d: the SVD did not converge", k)
				}
				// The AUC and the rate-free cut-off read the oriented
				// projection (centred) or ART's |r·v|.
				mag := make([]float64, len(rows))
				if kind == ScoreCentred {
					if !SpectralProjection(mag, a) {
						return fmt.Errorf("spectral signatures, class %d: the SVD did not converge", k)
					}
				} else {
					copy(mag, sc)
				}
				zok := RobustZ(cz, mag)
				if !zok {
					clear(cz)
				}
				if p := cfg.Spectral.ExpectedPoisonRate; p > 0 {
					SpectralFlags(cf, sc, p, cfg.Spectral.EpsMultiplier)
				} else {
					cc, err := lv.cluster(k, rows, cfg.Clustering, t.Seed)
					if err != nil {
						return fmt.Errorf("spectral signatures, class %d: %w", k, err)
					}
					sus, why := cc.split.Suspicious(cfg.Clustering.SizeThreshold)
					pc["rule"] = ClassCutoff(cf, mag, cz, zok, sus, why, suite.BatchRand(suite.DeriveSeed(t.Seed, "poisoning/spectral-cutoff"), k))
				}
				for ri, i := range rows {
					score[i] = sc[ri]
				}
			case MethodSpectre:
				sc := make([]float64, len(rows))
				eps, limit := spectreEps(cfg.Spectre.ExpectedPoisonRate, len(rows))
				info, ok := SpectreScores(sc, lv.class(rows), cfg.Spectre.K, cfg.Spectre.Alpha, eps, limit, cfg.Spectre.ExpectedPoisonRate == 0)
				if !ok {
					return fmt.Errorf("spectre, class %d: a factorisation did not converge", k)
				}
				for key, v := range info.details() {
					pc[key] = v
				}
				// The cut-off and the AUC read √QUE, a distance.
				mag := make([]float64, len(rows))
				for ri, v := range sc {
					mag[ri] = math.Sqrt(v)
				}
				zok := RobustZ(cz, mag)
				if !zok {
					clear(cz)
				}
				if p := cfg.Spectre.ExpectedPoisonRate; p > 0 {
					flagTop(cf, sc, int(math.Round(spectreLimit2*p*float64(len(rows)))))
				} else {
					pc["rule"] = ScoreCutoff(cf, mag, cz, zok, cfg.Clustering.SizeThreshold, suite.BatchRand(suite.DeriveSeed(t.Seed, "poisoning/spectre-cutoff"), k))
				}
				for ri, i := range rows {
					score[i] = sc[ri]
				}
			case MethodClustering:
				cc, err := lv.cluster(k, rows, cfg.Clustering, t.Seed)
				if err != nil {
					return fmt.Errorf("activation clustering, class %d: %w", k, err)
				}
				for key, v := range cc.info {
					pc[key] = v
				}
				sp := cc.split
				pc["cluster_sizes"] = []int{sp.Sizes[0], sp.Sizes[1]}
				pc["smaller_share"] = sp.Share
				pc["silhouette"] = finite(sp.Silhouette)
				pc["separation"] = finite(sp.Separation)
				poisoned := -1
				if cfg.Clustering.Analysis == AnalysisAuto {
					sus, why := sp.Suspicious(cfg.Clustering.SizeThreshold)
					pc["rule"] = why
					if sus {
						poisoned = sp.Smaller
					}
					for ri, l := range cc.labels {
						cf[ri] = l == poisoned
					}
				} else {
					_, poisoned = ClusterFlags(cf, cc.labels, cfg.Clustering.Analysis, cfg.Clustering.SizeThreshold, sp.Silhouette, cfg.Clustering.SilhouetteThreshold)
				}
				pc["suspicious"] = poisoned >= 0
				if !RobustZ(cz, cc.proj) {
					clear(cz)
				}
				for ri, i := range rows {
					score[i] = cc.proj[ri]
				}
			}
			nf := 0
			for ri, i := range rows {
				flag[i] = cf[ri]
				z[i] = cz[ri]
				if cf[ri] {
					nf++
				}
			}
			pc["flagged"] = nf
			if truth != nil {
				c := 0
				for _, i := range rows {
					if truth[i] {
						c++
					}
				}
				pc["poisoned"] = c
			}
			perClass = append(perClass, pc)
		}
		nf := 0
		var flagged []int
		for i, f := range flag {
			if f {
				nf++
				flagged = append(flagged, i)
			}
		}
		r.SetProportion(method+".flagged_fraction", nf, d.N, t.ConfidenceLevel)
		md["per_class"], md["flagged"], md["flagged_indices"] = perClass, len(flagged), flagged
		if truth != nil {
			c := Count(flag, truth)
			r.SetProportion(method+".precision", c.TP, c.TP+c.FP, t.ConfidenceLevel)
			r.SetProportion(method+".recall", c.TP, c.TP+c.FN, t.ConfidenceLevel)
			f1, ok := c.F1()
			r.Set(method+".f1", f1, ok)
			auc, ok := AUC(z, truth)
			r.Set(method+".auc", auc, ok)
			md["tp"], md["fp"], md["fn"], md["tn"] = c.TP, c.FP, c.FN, c.TN
		}
		if t.OutDir != "" {
			name := "poisoning_" + method + "_flagged.csv"
			if err := writeFlagged(filepath.Join(t.OutDir, name), flag, d.Y, score, truth, method != MethodClustering); err != nil {
				return err
			}
			md["csv"] = name
		}
		details[method] = md
	}
	r.Details["data"] = details
	return nil
}

// classCutoffDoc describes ClassCutoff for the details.
const classCutoffDoc = "per class: a class whose 2-means split of its reduced activations is suspicious by analysis auto's criteria (two groups, or the smaller cluster under size_threshold of the class) gets the smaller cluster of a 2-means split of its scores flagged; any other class the scores with a robust z-score above 3.5"

// rateFreeCutoffDoc describes ScoreCutoff for the details.
const rateFreeCutoffDoc = "per class, from the score distribution: the upper cluster of a 2-means split of the scores when it is the smaller and the split separates two groups or, as one group, the smaller cluster is under size_threshold of the class (relative-size fallback), else a robust z-score above 3.5"

// flagTop marks in flag the cnt highest scores (ties at the cut
// included; util.jl's k_lowest_ind on −scores), none when cnt ≤ 0.
func flagTop(flag []bool, scores []float64, cnt int) {
	clear(flag)
	if cnt <= 0 {
		return
	}
	desc := slices.Sorted(slices.Values(scores))
	slices.Reverse(desc)
	cut := desc[min(cnt, len(desc))-1]
	for i, s := range scores {
		flag[i] = s >= cut
	}
}

// finite returns v, or nil when v is NaN or infinite (JSON has neither).
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// reduceClass reduces the activations a (n×d) of class k to cl.Dims
// dimensions with cl.Reduce. As ART's cluster_activations, a layer of at
// most cl.Dims values is left unchanged. FastICA draws its start from the
// suite seed and the class, and records its iterations in pc.
func reduceClass(a *mat.Dense, cl ClusteringConfig, seed uint64, k int, pc map[string]any) (*mat.Dense, error) {
	if cl.Reduce != ReduceICA {
		red, ok := PCA(a, cl.Dims)
		if !ok {
			return nil, errors.New("the SVD did not converge")
		}
		return red, nil
	}
	if _, d := a.Dims(); d <= cl.Dims {
		return a, nil
	}
	red, st, ok := FastICA(a, cl.Dims, suite.BatchRand(suite.DeriveSeed(seed, "poisoning/fastica"), k))
	if !ok {
		return nil, errors.New("a factorisation in FastICA did not converge")
	}
	pc["ica_iterations"], pc["ica_converged"] = st.Iterations, st.Converged
	return red, nil
}

// writeFlagged writes the flagged samples as CSV: index (0-based row of
// the training set), label, score (spectral only) and is_poisoned (with
// ground truth).
func writeFlagged(path string, flag []bool, y []int64, score []float64, truth []bool, withScore bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return reports.WriteFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		bw.WriteString("index,label")
		if withScore {
			bw.WriteString(",score")
		}
		if truth != nil {
			bw.WriteString(",is_poisoned")
		}
		bw.WriteString("\n")
		for i, f := range flag {
			if !f {
				continue
			}
			bw.WriteString(strconv.Itoa(i))
			bw.WriteString(",")
			bw.WriteString(strconv.FormatInt(y[i], 10))
			if withScore {
				bw.WriteString(",")
				bw.WriteString(strconv.FormatFloat(score[i], 'g', -1, 64))
			}
			if truth != nil {
				bw.WriteString(",")
				bw.WriteString(strconv.FormatBool(truth[i]))
			}
			bw.WriteString("\n")
		}
		return bw.Flush()
	})
}

// readBools reads a .npy of N booleans (bool, or integers 0/1).
func readBools(path string) ([]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	shape := r.Header.Descr.Shape
	if len(shape) != 1 && !(len(shape) == 2 && shape[1] == 1) {
		return nil, fmt.Errorf("%s: shape %v; want [N]", path, shape)
	}
	switch r.Header.Descr.Type {
	case "|b1", "b1":
		var v []bool
		if err := r.Read(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return v, nil
	case "<i8", "<i4", "|u1", "|i1":
		var v []int64
		switch r.Header.Descr.Type {
		case "<i8":
			err = r.Read(&v)
		case "<i4":
			var w []int32
			err = r.Read(&w)
			for _, x := range w {
				v = append(v, int64(x))
			}
		case "|u1":
			var w []uint8
			err = r.Read(&w)
			for _, x := range w {
				v = append(v, int64(x))
			}
		default:
			var w []int8
			err = r.Read(&w)
			for _, x := range w {
				v = append(v, int64(x))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out := make([]bool, len(v))
		for i, x := range v {
			if x != 0 && x != 1 {
				return nil, fmt.Errorf("%s: row %d holds %d; want 0 or 1", path, i, x)
			}
			out[i] = x == 1
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: dtype %s; want bool or integer 0/1", path, r.Header.Descr.Type)
}
