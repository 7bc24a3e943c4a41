package poisoning

import (
	"context"
	"github.com/gauntlet-ml/gauntlet/stats"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/suite"
	"gonum.org/v1/gonum/stat/distuv"
)

// familySTRIP opens a family fixture's model with the digits evaluation
// data (examples/digits_eval_*.npy) and returns the target and a function
// giving the committed triggered copies (F_triggered_x.npy: the non-target
// evaluation rows, in order, with the family's trigger) of evaluation
// rows, leaving out the target class's rows.
func familySTRIP(t *testing.T, fam, arch string) (*suite.Target, func(rows []int) *data.Dataset) {
	t.Helper()
	dir := filepath.Join("testdata", "families")
	tg := target(t, filepath.Join(dir, fam+"_"+arch+".onnx"), "../../../../examples/digits_eval_x.npy", "../../../../examples/digits_eval_y.npy")
	tx := suitetest.Load(t, data.Spec{X: fam + "_triggered_x.npy"}, dir)
	idx := make([]int, tg.Data.N) // evaluation row → triggered row, −1 for the target class
	j := 0
	for i, y := range tg.Data.Y {
		idx[i] = -1
		if y != 0 {
			idx[i] = j
			j++
		}
	}
	if j != tx.N {
		t.Fatalf("%s: %d non-target evaluation rows, %d triggered", fam, j, tx.N)
	}
	return tg, func(rows []int) *data.Dataset {
		var keep []int
		for _, i := range rows {
			if idx[i] >= 0 {
				keep = append(keep, idx[i])
			}
		}
		return gather(tx, keep)
	}
}

// stripVariants are the STRIP settings measured on every family fixture:
// the default (overlay weight 0.5, the mean entropy, overlays auto), Gao
// et al.'s and ART's (the same with 20 overlays) and, with 20 overlays,
// lighter and heavier overlays, alpha auto and the mixture score; the
// mixture with overlays auto; and 100 overlays. Overlays -1 stands for
// auto here.
var stripVariants = []struct {
	name string
	cfg  STRIPConfig
}{
	{"default", STRIPConfig{Overlays: -1, Alpha: 0.5, Score: STRIPScoreMean}},
	{"Gao, ART", STRIPConfig{Alpha: 0.5, Score: STRIPScoreMean}},
	{"alpha 0.3", STRIPConfig{Alpha: 0.3, Score: STRIPScoreMean}},
	{"alpha 0.7", STRIPConfig{Alpha: 0.7, Score: STRIPScoreMean}},
	{"alpha auto", STRIPConfig{Score: STRIPScoreMean}},
	{"mixture", STRIPConfig{Alpha: 0.5, Score: STRIPScoreMixture}},
	{"mixture auto", STRIPConfig{Score: STRIPScoreMixture}},
	{"mixture, overlays auto", STRIPConfig{Overlays: -1, Alpha: 0.5, Score: STRIPScoreMixture}},
	{"overlays 100", STRIPConfig{Overlays: 100, Alpha: 0.5, Score: STRIPScoreMean}},
}

// artNormalThreshold is ART 1.18.2's STRIP threshold (strip.py lines
// 119–122: scipy's norm.fit, the mean and the population standard
// deviation, then norm.ppf at the rate) and a counter of the scores at or
// above it.
func artNormalThreshold(clean []float64, frr float64) (float64, func([]float64) int) {
	m := mean(clean)
	var v float64
	for _, x := range clean {
		v += (x - m) * (x - m)
	}
	th := distuv.Normal{Mu: m, Sigma: math.Sqrt(v / float64(len(clean)))}.Quantile(frr)
	return th, func(xs []float64) int {
		n := 0
		for _, x := range xs {
			if x >= th {
				n++
			}
		}
		return n
	}
}

// acceptedAt counts the triggered inputs of o at or above the threshold
// at false-rejection rate frr of o's clean entropies.
func acceptedAt(o *stripOutcome, frr float64) int {
	th := stats.Quantile(slices.Sorted(slices.Values(o.Clean)), frr)
	n := 0
	for _, v := range o.Triggered {
		if v >= th {
			n++
		}
	}
	return n
}

// TestSTRIPFamilies measures STRIP's false acceptance at FRR 1% and 5%
// for every variant of stripVariants on every committed trigger family ×
// architecture, with the digits evaluation data split as the suite
// splits it (seed 5: 133 held-out clean, 133 scored rows, of which the
// non-target ones are triggered with the committed triggered copies, 134
// overlays). The counts are this test's own measurement (its log), pinned
// so that a change to STRIP shows here; docs/metrics/poisoning.md
// tabulates them.
func TestSTRIPFamilies(t *testing.T) {
	checked := 0
	for _, fam := range families {
		for _, arch := range architectures {
			tg, mk := familySTRIP(t, fam, arch)
			for _, v := range stripVariants {
				cfg := v.cfg
				cfg.FRR = 0.01
				switch cfg.Overlays {
				case 0:
					cfg.Overlays = 20
				case -1:
					cfg.Overlays = 0 // auto
				}
				o, err := stripScan(context.Background(), tg, cfg, mk)
				if err != nil {
					t.Fatal(err)
				}
				a1, a5, n := acceptedAt(o, 0.01), acceptedAt(o, 0.05), len(o.Triggered)
				auc := math.Round(o.AUC*1e4) / 1e4
				t.Logf("%-11s %-6s %-13s alpha %.1f FAR@1%% %3d/%d = %.3f FAR@5%% %3d/%d = %.3f AUC %.4f overlays %d noise %.2f (pilot %.2f)", fam, arch, v.name, o.Alpha, a1, n, float64(a1)/float64(n), a5, n, float64(a5)/float64(n), auc, o.Overlays, o.NoiseShare, o.PilotNoiseShare)
				if v.name == "Gao, ART" {
					th, acc := artNormalThreshold(o.Clean, 0.01)
					t.Logf("%-11s %-6s ART's normal-fit threshold at 1%%: %.4f, accepts %d/%d", fam, arch, th, acc(o.Triggered), n)
					// ART's threshold falls below 0 on the warp rescnn row
					// (clean scores skewed towards 0) and accepts every
					// triggered input (docs/metrics/poisoning.md).
					if fam == "warp" && arch == "rescnn" && (th >= 0 || acc(o.Triggered) != n) {
						t.Errorf("warp rescnn: ART's normal-fit threshold %.4f accepts %d of %d; recorded < 0 and all", th, acc(o.Triggered), n)
					}
				}
				if a1 != o.Accepted {
					t.Errorf("%s %s %s: stripScan accepted %d at FRR 1%%, recount %d", fam, arch, v.name, o.Accepted, a1)
				}
				want, ok := stripFAR[[3]string{fam, arch, v.name}]
				if !ok {
					t.Errorf("%s %s %s: no recorded figures", fam, arch, v.name)
					continue
				}
				checked++
				if got := [5]float64{o.Alpha, float64(a1), float64(a5), float64(n), auc}; got != want || !o.AUCOK {
					t.Errorf("%s %s %s: alpha, accepted at 1%% and 5%%, triggered, AUC (4 decimals) %v; recorded %v", fam, arch, v.name, got, want)
				}
			}
		}
	}
	if want := len(families) * len(architectures) * len(stripVariants); checked != want {
		t.Errorf("checked %d rows, want %d", checked, want)
	}
}

// stripFAR are TestSTRIPFamilies' figures (its log): the overlay weight
// used, the triggered inputs accepted at FRR 1% and 5%, the triggered
// inputs scored and the AUC (strip.auc) to 4 decimals.
var stripFAR = map[[3]string][5]float64{
	{"blend", "cnn", "default"}:                         {0.5, 86, 74, 120, 0.7754},
	{"blend", "cnn", "Gao, ART"}:                        {0.5, 100, 88, 120, 0.7148},
	{"blend", "cnn", "alpha 0.3"}:                       {0.3, 116, 109, 120, 0.5858},
	{"blend", "cnn", "alpha 0.7"}:                       {0.7, 118, 114, 120, 0.5100},
	{"blend", "cnn", "alpha auto"}:                      {0.5, 100, 88, 120, 0.7148},
	{"blend", "cnn", "mixture"}:                         {0.5, 106, 100, 120, 0.6522},
	{"blend", "cnn", "mixture auto"}:                    {0.7, 120, 117, 120, 0.4825},
	{"blend", "cnn", "mixture, overlays auto"}:          {0.5, 101, 91, 120, 0.6647},
	{"blend", "cnn", "overlays 100"}:                    {0.5, 92, 77, 120, 0.7619},
	{"blend", "rescnn", "default"}:                      {0.5, 84, 50, 120, 0.9247},
	{"blend", "rescnn", "Gao, ART"}:                     {0.5, 106, 102, 120, 0.7746},
	{"blend", "rescnn", "alpha 0.3"}:                    {0.3, 106, 102, 120, 0.5938},
	{"blend", "rescnn", "alpha 0.7"}:                    {0.7, 117, 106, 120, 0.6324},
	{"blend", "rescnn", "alpha auto"}:                   {0.5, 106, 102, 120, 0.7746},
	{"blend", "rescnn", "mixture"}:                      {0.5, 103, 90, 120, 0.8077},
	{"blend", "rescnn", "mixture auto"}:                 {0.7, 117, 108, 120, 0.5092},
	{"blend", "rescnn", "mixture, overlays auto"}:       {0.5, 102, 84, 120, 0.8603},
	{"blend", "rescnn", "overlays 100"}:                 {0.5, 88, 53, 120, 0.8959},
	{"warp", "cnn", "default"}:                          {0.5, 107, 69, 120, 0.7679},
	{"warp", "cnn", "Gao, ART"}:                         {0.5, 107, 83, 120, 0.7556},
	{"warp", "cnn", "alpha 0.3"}:                        {0.3, 102, 88, 120, 0.6925},
	{"warp", "cnn", "alpha 0.7"}:                        {0.7, 120, 115, 120, 0.5138},
	{"warp", "cnn", "alpha auto"}:                       {0.5, 107, 83, 120, 0.7556},
	{"warp", "cnn", "mixture"}:                          {0.5, 109, 76, 120, 0.7782},
	{"warp", "cnn", "mixture auto"}:                     {0.7, 112, 104, 120, 0.6237},
	{"warp", "cnn", "mixture, overlays auto"}:           {0.5, 107, 69, 120, 0.7927},
	{"warp", "cnn", "overlays 100"}:                     {0.5, 104, 73, 120, 0.7731},
	{"warp", "rescnn", "default"}:                       {0.5, 87, 66, 120, 0.8987},
	{"warp", "rescnn", "Gao, ART"}:                      {0.5, 91, 69, 120, 0.8746},
	{"warp", "rescnn", "alpha 0.3"}:                     {0.3, 105, 69, 120, 0.9160},
	{"warp", "rescnn", "alpha 0.7"}:                     {0.7, 116, 103, 120, 0.6133},
	{"warp", "rescnn", "alpha auto"}:                    {0.3, 105, 69, 120, 0.9160},
	{"warp", "rescnn", "mixture"}:                       {0.5, 91, 70, 120, 0.9173},
	{"warp", "rescnn", "mixture auto"}:                  {0.7, 102, 76, 120, 0.8142},
	{"warp", "rescnn", "mixture, overlays auto"}:        {0.5, 90, 61, 120, 0.9261},
	{"warp", "rescnn", "overlays 100"}:                  {0.5, 88, 72, 120, 0.8996},
	{"sinusoidal", "cnn", "default"}:                    {0.5, 97, 55, 120, 0.9113},
	{"sinusoidal", "cnn", "Gao, ART"}:                   {0.5, 97, 67, 120, 0.8773},
	{"sinusoidal", "cnn", "alpha 0.3"}:                  {0.3, 111, 99, 120, 0.7253},
	{"sinusoidal", "cnn", "alpha 0.7"}:                  {0.7, 120, 119, 120, 0.3862},
	{"sinusoidal", "cnn", "alpha auto"}:                 {0.5, 97, 67, 120, 0.8773},
	{"sinusoidal", "cnn", "mixture"}:                    {0.5, 96, 61, 120, 0.9009},
	{"sinusoidal", "cnn", "mixture auto"}:               {0.7, 74, 51, 120, 0.8546},
	{"sinusoidal", "cnn", "mixture, overlays auto"}:     {0.5, 96, 61, 120, 0.9009},
	{"sinusoidal", "cnn", "overlays 100"}:               {0.5, 95, 59, 120, 0.9076},
	{"sinusoidal", "rescnn", "default"}:                 {0.5, 109, 101, 120, 0.5680},
	{"sinusoidal", "rescnn", "Gao, ART"}:                {0.5, 114, 103, 120, 0.5744},
	{"sinusoidal", "rescnn", "alpha 0.3"}:               {0.3, 115, 101, 120, 0.5417},
	{"sinusoidal", "rescnn", "alpha 0.7"}:               {0.7, 120, 119, 120, 0.3708},
	{"sinusoidal", "rescnn", "alpha auto"}:              {0.5, 114, 103, 120, 0.5744},
	{"sinusoidal", "rescnn", "mixture"}:                 {0.5, 118, 102, 120, 0.6350},
	{"sinusoidal", "rescnn", "mixture auto"}:            {0.7, 111, 105, 120, 0.6039},
	{"sinusoidal", "rescnn", "mixture, overlays auto"}:  {0.5, 116, 101, 120, 0.6515},
	{"sinusoidal", "rescnn", "overlays 100"}:            {0.5, 110, 100, 120, 0.5719},
	{"clean_label", "cnn", "default"}:                   {0.5, 117, 113, 120, 0.5321},
	{"clean_label", "cnn", "Gao, ART"}:                  {0.5, 118, 109, 120, 0.4828},
	{"clean_label", "cnn", "alpha 0.3"}:                 {0.3, 119, 119, 120, 0.2875},
	{"clean_label", "cnn", "alpha 0.7"}:                 {0.7, 120, 105, 120, 0.5173},
	{"clean_label", "cnn", "alpha auto"}:                {0.5, 118, 109, 120, 0.4828},
	{"clean_label", "cnn", "mixture"}:                   {0.5, 120, 114, 120, 0.3946},
	{"clean_label", "cnn", "mixture auto"}:              {0.7, 119, 116, 120, 0.4626},
	{"clean_label", "cnn", "mixture, overlays auto"}:    {0.5, 120, 117, 120, 0.3977},
	{"clean_label", "cnn", "overlays 100"}:              {0.5, 120, 115, 120, 0.5148},
	{"clean_label", "rescnn", "default"}:                {0.5, 107, 99, 120, 0.6491},
	{"clean_label", "rescnn", "Gao, ART"}:               {0.5, 118, 104, 120, 0.5993},
	{"clean_label", "rescnn", "alpha 0.3"}:              {0.3, 120, 115, 120, 0.4041},
	{"clean_label", "rescnn", "alpha 0.7"}:              {0.7, 117, 109, 120, 0.5274},
	{"clean_label", "rescnn", "alpha auto"}:             {0.5, 118, 104, 120, 0.5993},
	{"clean_label", "rescnn", "mixture"}:                {0.5, 113, 108, 120, 0.5411},
	{"clean_label", "rescnn", "mixture auto"}:           {0.7, 117, 111, 120, 0.5396},
	{"clean_label", "rescnn", "mixture, overlays auto"}: {0.5, 107, 106, 120, 0.5500},
	{"clean_label", "rescnn", "overlays 100"}:           {0.5, 107, 100, 120, 0.6352},
}

// TestSTRIPConfig: the overlay weight, the score and the split's sizes
// decode to what docs/metrics/poisoning.md says, and bad values are exit 2
// naming the key.
func TestSTRIPConfig(t *testing.T) {
	dec := func(strip map[string]any) (STRIPConfig, error) {
		got, err := Suite{}.Decode(map[string]any{"model": map[string]any{"strip": strip}})
		if err != nil {
			return STRIPConfig{}, err
		}
		return got.(Config).Model.STRIP, nil
	}
	for _, c := range []struct {
		alpha any
		want  float64
	}{{0.3, 0.3}, {"0.7", 0.7}, {"auto", 0}} {
		s, err := dec(map[string]any{"alpha": c.alpha, "score": "mixture"})
		if err != nil || s.Alpha != c.want || s.Score != STRIPScoreMixture {
			t.Errorf("alpha %v: %+v, %v; want alpha %g, score mixture", c.alpha, s, err, c.want)
		}
	}
	for _, c := range []struct {
		overlays any
		want     int
	}{{50, 50}, {"100", 100}, {"auto", 0}, {1.0, 1}} {
		s, err := dec(map[string]any{"overlays": c.overlays})
		if err != nil || s.Overlays != c.want {
			t.Errorf("overlays %v: %+v, %v; want %d", c.overlays, s, err, c.want)
		}
	}
	const p = "config suites.poisoning.model.strip."
	for name, c := range map[string]struct {
		strip map[string]any
		want  string
	}{
		"alpha 0":       {map[string]any{"alpha": 0}, p + "alpha: 0 is outside (0, 1)"},
		"alpha 1":       {map[string]any{"alpha": 1.0}, p + "alpha: 1 is outside (0, 1)"},
		"alpha NaN":     {map[string]any{"alpha": math.NaN()}, p + "alpha: NaN is outside (0, 1)"},
		"alpha word":    {map[string]any{"alpha": "heavy"}, p + `alpha: "heavy": want a number in (0, 1) or auto`},
		"alpha list":    {map[string]any{"alpha": []any{0.5}}, p + "alpha: [0.5]: want a number in (0, 1) or auto"},
		"score other":   {map[string]any{"score": "max"}, p + `score: "max": want mean or mixture`},
		"frr 1":         {map[string]any{"frr": 1}, p + "frr: 1 is outside (0, 1)"},
		"overlays -1":   {map[string]any{"overlays": -1}, p + "overlays: -1: must be at least 1"},
		"overlays 2.5":  {map[string]any{"overlays": 2.5}, p + "overlays: 2.5: want a whole number of at least 1 or auto"},
		"overlays word": {map[string]any{"overlays": "many"}, p + `overlays: "many": want a whole number of at least 1 or auto`},
		"samples -2":    {map[string]any{"samples": -2}, p + "samples: -2: must be at least 0"},
		"unknown key":   {map[string]any{"weights": 0.5}, "weights"},
	} {
		_, err := dec(c.strip)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", name, err, c.want)
		}
	}
}

// TestSTRIPSplit: the three parts are disjoint, cover every row, take
// ⌊n/3⌋ rows each for the scored parts (at most samples) and do not
// depend on anything but the seed.
func TestSTRIPSplit(t *testing.T) {
	for _, c := range []struct{ n, samples, k int }{{400, 0, 133}, {400, 100, 100}, {400, 500, 133}, {3, 0, 1}, {1000, 200, 200}} {
		hold, far, pool := stripSplit(c.n, c.samples, 9)
		if len(hold) != c.k || len(far) != c.k || len(pool) != c.n-2*c.k {
			t.Errorf("n %d samples %d: sizes %d %d %d; want %d %d %d", c.n, c.samples, len(hold), len(far), len(pool), c.k, c.k, c.n-2*c.k)
		}
		seen := make([]int, c.n)
		for _, part := range [][]int{hold, far, pool} {
			for _, i := range part {
				seen[i]++
			}
		}
		for i, s := range seen {
			if s != 1 {
				t.Errorf("n %d: row %d in %d parts", c.n, i, s)
			}
		}
		h2, _, _ := stripSplit(c.n, c.samples, 9)
		if !slices.Equal(hold, h2) {
			t.Errorf("n %d: split not deterministic", c.n)
		}
	}
}

// TestSTRIPTooFewInputs: STRIP needs a row for each part.
func TestSTRIPTooFewInputs(t *testing.T) {
	tg := target(t, "../../examples/digits_cnn.onnx", "digits_eval_x.npy", "digits_eval_y.npy")
	tg.Data.N, tg.Data.X, tg.Data.Y = 2, tg.Data.X[:2*64], tg.Data.Y[:2]
	_, err := stripScan(context.Background(), tg, STRIPConfig{Overlays: 2, FRR: 0.01, Alpha: 0.5, Score: STRIPScoreMean}, nil)
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "at least 3 evaluation inputs") {
		t.Errorf("error %v; want exit code 2 naming the 3 inputs needed", err)
	}
}

// TestSTRIPDetails runs the model part with STRIP only on the sinusoidal
// CNN fixture, the trigger given in config (amplitude 0.2, frequency 2:
// make_families.py's), and checks the details against the metrics: the
// histogram's clean and triggered counts add up to the inputs scored, its
// threshold is strip.entropy_threshold, strip.far is accepted/triggered,
// and the figures equal TestSTRIPFamilies' (committed triggered copies).
func TestSTRIPDetails(t *testing.T) {
	tg := target(t, filepath.Join("testdata", "families", "sinusoidal_cnn.onnx"), "../../../../examples/digits_eval_x.npy", "../../../../examples/digits_eval_y.npy")
	res := run(t, tg, map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 0,
		"trigger": map[string]any{"type": "sinusoidal", "amplitude": 0.2, "frequency": 2}}})
	sd := res.Details["model"].(map[string]any)["strip"].(map[string]any)
	h := res.Details["histograms"].(map[string]any)["strip.entropy"].(map[string]any)
	t.Logf("metrics %v\nstrip %v\nhistogram %v", res.Metrics, sd, h)
	edges := h["edges"].([]float64)
	series := h["series"].(map[string]any)
	sum := func(c []int) int {
		n := 0
		for _, v := range c {
			n += v
		}
		return n
	}
	clean, trig := series["clean"].([]int), series["triggered"].([]int)
	if len(edges) != stripHistogramBins+1 || len(clean) != stripHistogramBins || len(trig) != stripHistogramBins {
		t.Fatalf("%d edges, %d and %d counts; want %d bins", len(edges), len(clean), len(trig), stripHistogramBins)
	}
	// 400 evaluation rows: 133 held out, 133 scored (120 of them not of
	// class 0, TestSTRIPFamilies), 134 overlays.
	if sum(clean) != 133 || sd["clean_inputs"] != 133 || sum(trig) != 120 || sd["triggered_inputs"] != 120 || sd["overlay_pool"] != 134 {
		t.Errorf("histogram holds %d clean and %d triggered inputs; details %v; want 133, 120 and 134 overlays", sum(clean), sum(trig), sd)
	}
	if h["threshold"] != res.Metrics["strip.entropy_threshold"] {
		t.Errorf("histogram threshold %v, metric %v", h["threshold"], res.Metrics["strip.entropy_threshold"])
	}
	if far := float64(sd["accepted"].(int)) / 120; res.Metrics["strip.far"] != far {
		t.Errorf("strip.far %v, accepted/triggered %v", res.Metrics["strip.far"], far)
	}
	// The trigger applied from config reproduces the committed triggered
	// copies' figures (stripFAR's default row).
	want := stripFAR[[3]string{"sinusoidal", "cnn", "default"}]
	if auc := math.Round(res.Metrics["strip.auc"]*1e4) / 1e4; float64(sd["accepted"].(int)) != want[1] || auc != want[4] {
		t.Errorf("accepted %v, AUC %.4f; TestSTRIPFamilies' default row %v", sd["accepted"], auc, want)
	}
}

// TestSTRIPOverlaysRule checks noiseShare and overlaysFor on hand-made
// scores: h = 0, 1, 2, 3 has sample variance 5/3; per-overlay variance 2
// over 20 overlays is noise 0.1, a share of 0.06. With per-overlay
// variance 20 the noise is 1 (share 0.6), the between-input variance 2/3,
// and 10% noise needs N ≥ 1·20·0.9/(0.1·2/3) = 270 overlays: 280, the
// next multiple of 20. Noise above the whole variance asks for the cap;
// one input cannot tell and keeps the pilot's 20.
func TestSTRIPOverlaysRule(t *testing.T) {
	const tol = 1e-12
	h := []float64{0, 1, 2, 3}
	fill := func(v float64) []float64 { return []float64{v, v, v, v} }
	if got := noiseShare(h, fill(2), 20); math.Abs(got-0.06) > tol {
		t.Errorf("noise share %v, want 0.06", got)
	}
	for _, c := range []struct {
		h, vars []float64
		want    int
	}{
		{h, fill(20), 280},
		{h, fill(2), 20},                 // share 0.06 ≤ 0.1 already
		{h, fill(400), stripMaxOverlays}, // noise 20 > variance 5/3
		{[]float64{1}, []float64{5}, stripPilotOverlays},
	} {
		if got := overlaysFor(c.h, c.vars, 20); got != c.want {
			t.Errorf("overlaysFor(%v, %v, 20) = %d, want %d", c.h, c.vars, got, c.want)
		}
	}
}

// TestSTRIPNoiseWarning: with a fixed number of overlays whose sampling
// noise is above stripNoiseWarn of the held-out clean scores' variance
// the result carries a warning with the number overlays auto would use:
// on the sinusoidal CNN fixture, 43% at 20 overlays and 140 overlays
// (TestSTRIPFamilies' log, "Gao, ART" and "default" rows, the same seed).
// The default run (overlays auto) records its rule and no warning.
func TestSTRIPNoiseWarning(t *testing.T) {
	tg := target(t, filepath.Join("testdata", "families", "sinusoidal_cnn.onnx"), "../../../../examples/digits_eval_x.npy", "../../../../examples/digits_eval_y.npy")
	res := run(t, tg, map[string]any{"model": map[string]any{"methods": []any{"strip"}, "strip": map[string]any{"overlays": 20}}})
	if want := "overlay sampling noise is 43% of the variance of the held-out clean scores with 20 overlays"; len(res.Warnings) != 1 ||
		!strings.Contains(res.Warnings[0], want) || !strings.Contains(res.Warnings[0], "set strip.overlays: auto (or 140)") {
		t.Errorf("warnings %q; want one with %q and 140", res.Warnings, want)
	}
	res = run(t, tg, map[string]any{"model": map[string]any{"methods": []any{"strip"}}})
	sd := res.Details["model"].(map[string]any)["strip"].(map[string]any)
	if len(res.Warnings) != 0 || sd["overlays"] != 140 || sd["overlays_rule"] == nil {
		t.Errorf("default run: warnings %q, details %v; want none, 140 overlays and the rule", res.Warnings, sd)
	}
}

// TestSTRIPBlendedPatch is issue 13's STRIP case, a blended 4×4
// checkerboard at alpha 0.5 on a residual CNN with 10% of the training set
// relabelled to class 0, rebuilt on MNIST (testdata/strip, made by
// make_blend_mnist.py; its REFERENCE.json: attack success rate 0.9967 on
// the first 1000 test images of ../shared). It runs the model part on
// those 1000 images with the trigger in config: the default STRIP
// (overlays auto), Gao et al.'s and ART's 20 overlays, and the mixture
// score, and pins the overlays used, the triggered inputs accepted at FRR
// 1% (of 310) and the AUC to 4 decimals (this test's log; 333 held-out
// clean images, 333 scored of which 310 are not of class 0). Overlays
// auto must accept fewer than 20 overlays.
func TestSTRIPBlendedPatch(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	var accepted []int
	for _, c := range []struct {
		name  string
		strip map[string]any
		want  [3]float64 // overlays, accepted, AUC
	}{
		{"default", map[string]any{}, [3]float64{60, 34, 0.9947}},
		{"20 overlays", map[string]any{"overlays": 20}, [3]float64{20, 67, 0.9903}},
		{"mixture", map[string]any{"score": "mixture"}, [3]float64{40, 16, 0.9984}},
	} {
		tg := target(t, filepath.Join("testdata", "strip", "blend_mnist_rescnn.onnx"), filepath.Join(dir, "mnist_test_x.npy"), filepath.Join(dir, "mnist_test_y.npy"))
		tg.Data.N, tg.Data.X, tg.Data.Y = 1000, tg.Data.X[:1000*784], tg.Data.Y[:1000]
		res := run(t, tg, map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 0, "strip": c.strip,
			"trigger": map[string]any{"type": "blend", "x": 24, "y": 24, "width": 4, "height": 4, "pattern": "checkerboard", "alpha": 0.5}}})
		sd := res.Details["model"].(map[string]any)["strip"].(map[string]any)
		t.Logf("%s: asr %.4f far %.4f auc %.4f; %v; warnings %q", c.name, res.Metrics["backdoor.attack_success_rate"], res.Metrics["strip.far"], res.Metrics["strip.auc"], sd, res.Warnings)
		got := [3]float64{float64(sd["overlays"].(int)), float64(sd["accepted"].(int)), math.Round(res.Metrics["strip.auc"]*1e4) / 1e4}
		if got != c.want || sd["triggered_inputs"] != 310 {
			t.Errorf("%s: overlays, accepted, AUC %v of %v triggered; recorded %v of 310", c.name, got, sd["triggered_inputs"], c.want)
		}
		accepted = append(accepted, sd["accepted"].(int))
	}
	if len(accepted) != 3 || accepted[0] >= accepted[1] {
		t.Errorf("accepted %v: want 3 runs, overlays auto below 20 overlays", accepted)
	}
}
