package evasion

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// fmnRefTol bounds |median ε* / the reference's − 1|: the 5 %.
// FMN draws nothing at random, so both runs take the same path until the
// float32 gradients of ORT and torch (different summation orders) send
// a sample's iterate across the boundary at another step; over 100
// images the medians then differ by well under 5 % (see the logged
// per-sample agreement).
const fmnRefTol = 0.05

// fmnRefSuccTol bounds |successes − the reference's| where the
// reference's median ε* is +Inf (so only the counts compare): 3 of the
// 99 clean-correct images, as near-ties resolved differently by ORT's
// and torch's float32 rounding move a sample across at another step.
const fmnRefSuccTol = 3

func abs(v int) int { return max(v, -v) }

// peerFMN is testdata/peer_fmn.json (peer_fmn.py).
type peerFMN struct {
	N     int `json:"n"`
	Cases map[string]struct {
		CleanCorrect int        `json:"clean_correct"`
		Median       *float64   `json:"median_eps"`
		Successes    int        `json:"successes"`
		EpsStar      []*float64 `json:"eps_star"`
	} `json:"cases"`
}

// peerFixtures reads testdata/<file> (a peer script's figures) into v and
// returns the shared vision fixtures' folder and the path of
// benchmarks/pgdpeer's residual CNN relative to it (the two models the
// peer scripts run on).
func peerFixtures(t *testing.T, file string, v any) (dir, resRel string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testdata/%s: %v", file, err)
	}
	dir = testutil.Shared(t, "fixtures/vision")
	res, err := filepath.Abs(filepath.Join("..", "..", "benchmarks", "pgdpeer", "res_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if resRel, err = filepath.Rel(dir, res); err != nil {
		t.Fatal(err)
	}
	return dir, resRel
}

// TestFMNReference compares fmn at its defaults (10 steps, the authors'
// FMNAttackLp defaults) with the authors' code run by
// testdata/peer_fmn.py on the same weights and the first 100 MNIST test
// images: the median ε* over the clean-correct samples within fmnRefTol
// (where the reference's is +Inf, Gauntlet's must be undefined and the
// success counts within fmnRefSuccTol). Always: L∞, L2, L1 and L0 on the
// shared MNIST CNN, L∞ and L2 on the residual CNN of benchmarks/pgdpeer;
// with GAUNTLET_FULL_ART=1 or under CI=true also L1 and L0 on the
// residual CNN and L∞ and L2 at 100 steps on the MNIST CNN; with
// GAUNTLET_FULL_ART=1 (not in CI: minutes on 2 loaded cores) L∞ and L2 at
// 100 steps on the residual CNN. The count of compared cases is asserted.
func TestFMNReference(t *testing.T) {
	var ref peerFMN
	dir, resRel := peerFixtures(t, "peer_fmn.json", &ref)
	full := os.Getenv("GAUNTLET_FULL_ART") == "1" || testutil.CI()
	type run struct {
		model string
		steps int
		norms []string
	}
	// fast: every norm on the MNIST CNN and L∞/L2 on the residual CNN at
	// the default 10 steps; full: the rest and 100 steps
	runs := []run{{"mnist_cnn", 10, []string{Linf, L2, L1, L0}}, {"res_cnn", 10, []string{Linf, L2}}}
	if full {
		runs = append(runs, run{"res_cnn", 10, []string{L1, L0}}, run{"mnist_cnn", 100, []string{Linf, L2}})
	}
	if os.Getenv("GAUNTLET_FULL_ART") == "1" { // the slowest: not in CI
		runs = append(runs, run{"res_cnn", 100, []string{Linf, L2}})
	}
	files := map[string]string{"mnist_cnn": "mnist_cnn.onnx", "res_cnn": resRel}
	compared, want := 0, 0
	targets := map[string]*suite.Target{}
	for _, r := range runs {
		m := struct{ name, file string }{r.model, files[r.model]}
		tg := targets[m.name]
		if tg == nil {
			tg = mnist(t, dir, m.file, 2, ref.N, ref.N)
			targets[m.name] = tg
		}
		{
			var attacks []any
			for _, norm := range r.norms {
				attacks = append(attacks, map[string]any{"name": "fmn", "norm": norm, "eps": []any{0.1}, "steps": r.steps})
			}
			want += len(r.norms)
			got, err := Suite{}.Run(context.Background(), tg, decode(t, map[string]any{"attacks": attacks}))
			if err != nil {
				t.Fatal(err)
			}
			for _, norm := range r.norms {
				key := m.name + "." + norm + ".steps=" + FormatEps(float64(r.steps))
				c, ok := ref.Cases[key]
				if !ok {
					t.Errorf("peer_fmn.json has no case %s", key)
					continue
				}
				med, set := got.Metrics["fmn."+norm+".median_eps"]
				succ := int(got.Metrics["fmn."+norm+".success_rate"]*float64(c.CleanCorrect) + 0.5)
				es := got.Details["fmn"].(map[string]any)["fmn."+norm].(map[string]any)["eps_star"].([]any)
				if c.Median == nil {
					// the reference failed on half the samples or more (L0
					// at 10 steps: ε grows by one feature a step): the
					// counts, and the median ε* of the samples both broke
					var g, w []float64
					for i, v := range es {
						if e, ok := v.(float64); ok && c.EpsStar[i] != nil && e > 0 {
							g, w = append(g, e), append(w, *c.EpsStar[i])
						}
					}
					slices.Sort(g)
					slices.Sort(w)
					gm, wm := stats.Median(g), stats.Median(w)
					t.Logf("%s: median ε* undefined (set %v), reference +Inf; successes %d/%d, reference %d/%d; median ε* of the %d both broke %.5g, reference %.5g",
						key, set, succ, c.CleanCorrect, c.Successes, c.CleanCorrect, len(g), gm, wm)
					if set || abs(succ-c.Successes) > fmnRefSuccTol || len(g) == 0 || math.Abs(gm/wm-1) > fmnRefTol {
						t.Errorf("%s: median ε* %v (set %v), successes %d, median over both broken %v: want undefined as the reference's, successes %d ± %d, median over both broken %v within %v",
							key, med, set, succ, gm, c.Successes, fmnRefSuccTol, wm, fmnRefTol)
					}
					compared++
					continue
				}
				agree, both := 0, 0
				for i, v := range es {
					g, gok := v.(float64)
					w := c.EpsStar[i]
					if gok && w != nil && g > 0 {
						both++
						if math.Abs(g-*w) <= 0.01*(*w) {
							agree++
						}
					}
				}
				t.Logf("%s: median ε* %.5g, reference %.5g (%+.2f %%); successes %d/%d, reference %d/%d; per-sample ε* within 1 %%: %d of %d",
					key, med, *c.Median, 100*(med / *c.Median - 1), succ, c.CleanCorrect, c.Successes, c.CleanCorrect, agree, both)
				if !set || math.Abs(med / *c.Median - 1) > fmnRefTol {
					t.Errorf("%s: median ε* %v (set %v), reference %v: beyond %v", key, med, set, *c.Median, fmnRefTol)
				}
				compared++
			}
		}
	}
	if compared != want {
		t.Errorf("compared %d cases, want %d", compared, want)
	}
}

// TestFMNLinear: on the linear 2-class model of TestDeepFoolLinear the
// nearest misclassified point under L2 is at |w·x + b|/‖w‖₂ and under L∞
// at |w·x + b|/‖w‖₁ (worked there: 0.7, 0.9, 0.5, 0.1 and 0.5, 4.5/7,
// 2.5/7, 0.5/7); FMN approaches it from above, so ε* lies in
// [distance, 1.05·distance] after 100 steps, and is 0 for the
// misclassified sample. On a linear model FMN's first ε (‖δ‖ + the
// linearised distance) is exact, so under L∞ the first projected step
// lands on the boundary itself, where the logits tie and the arg max
// takes class 0: samples labelled 1 are then misclassified, the one
// labelled 0 (sample 1) is not and stays on the boundary, as the
// reference's code would (ε update lines 195–196); it may fail.
func TestFMNLinear(t *testing.T) {
	want := map[string][]float64{
		L2:   {0.7, 0.9, 0.5, 0.1, 0},
		Linf: {3.5 / 7, 4.5 / 7, 2.5 / 7, 0.5 / 7, 0},
	}
	tg := deepfoolLinear(t, 2, 2)
	res, err := Suite{}.Run(context.Background(), tg, decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "fmn", "norm": "l2", "eps": []any{0.3}, "steps": 100},
		map[string]any{"name": "fmn", "norm": "linf", "eps": []any{0.3}, "steps": 100},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for norm, w := range want {
		got := res.Details["fmn"].(map[string]any)["fmn."+norm].(map[string]any)["eps_star"].([]any)
		for i := range w {
			g, ok := got[i].(float64)
			if norm == Linf && i == 1 && !ok {
				t.Logf("L∞ sample 1 failed on the boundary (tie)")
			} else if !ok || g < w[i]-1e-6 || g > 1.05*w[i]+1e-12 {
				t.Errorf("%s sample %d: ε* %v, want in [%v, %v]", norm, i, got[i], w[i], 1.05*w[i])
			}
			compared++
		}
	}
	if compared != 10 {
		t.Errorf("compared %d ε*, want 10", compared)
	}
	// the defaults land in details
	p := res.Details["fmn"].(map[string]any)["fmn.l2"].(map[string]any)
	if p["gamma"] != DefaultFMNGamma || p["alpha_init"] != DefaultFMNAlphaInit || p["alpha_final"] != DefaultFMNAlphaInit*fmnAlphaShare || p["steps"] != 100 {
		t.Errorf("details %v: want gamma %v, alpha_init %v, alpha_final %v, steps 100", p, DefaultFMNGamma, DefaultFMNAlphaInit, DefaultFMNAlphaInit*fmnAlphaShare)
	}
}

// TestFMNDeterminism: ε* and the metrics do not depend on the worker
// count or the batch (1 worker over batches of 5, 3 over batches of 2).
func TestFMNDeterminism(t *testing.T) {
	cfg := decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "fmn", "norm": "l1", "eps": []any{0.3}},
		map[string]any{"name": "fmn", "norm": "l0", "eps": []any{1}},
	}})
	var first *suite.Result
	for _, s := range [][2]int{{1, 5}, {3, 2}} {
		res, err := Suite{}.Run(context.Background(), deepfoolLinear(t, s[0], s[1]), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res
			continue
		}
		if !reflect.DeepEqual(first.Metrics, res.Metrics) || !reflect.DeepEqual(first.Details["fmn"], res.Details["fmn"]) {
			t.Errorf("workers 3, batch 2 differ from workers 1, batch 5:\n%v\n%v", res.Metrics, first.Metrics)
		}
	}
}

// TestFMNBadConfig: fmn's own keys and norms are checked, and l1/l0 only
// for fmn.
func TestFMNBadConfig(t *testing.T) {
	for _, c := range []struct {
		a    map[string]any
		want string
	}{
		{map[string]any{"name": "fmn", "eps": []any{0.1}, "gamma": 0}, "gamma"},
		{map[string]any{"name": "fmn", "eps": []any{0.1}, "gamma": 1}, "gamma"},
		{map[string]any{"name": "fmn", "eps": []any{0.1}, "alpha_init": -1}, "alpha_init"},
		{map[string]any{"name": "fmn", "eps": []any{0.1}, "alpha_init": 0.5, "alpha_final": 0.6}, "alpha_final"},
		{map[string]any{"name": "fmn", "eps": []any{0.1}, "overshoot": 0.1}, "overshoot"},
		{map[string]any{"name": "fmn", "eps": []any{0.1}, "norm": "l3"}, "norm"},
		{map[string]any{"name": "pgd", "eps": []any{0.1}, "norm": "l1"}, "only fmn"},
		{map[string]any{"name": "deepfool", "eps": []any{0.1}, "norm": "l0"}, "only fmn"},
		{map[string]any{"name": "pgd", "eps": []any{0.1}, "gamma": 0.1}, "gamma"},
	} {
		_, err := (Suite{}).Decode(map[string]any{"attacks": []any{c.a}})
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want exit 2 naming %q", c.a, err, c.want)
		}
	}
	// the eps of an l0 entry are feature counts, of an l1 entry L1 norms:
	// beyond the data's diameter they are refused at run time
	tg := deepfoolLinear(t, 1, 2) // 3 features, range width 20
	for _, c := range []struct {
		norm string
		eps  float64
	}{{L0, 4}, {L1, 61}} {
		_, err := Suite{}.Run(context.Background(), tg, decode(t, map[string]any{"attacks": []any{
			map[string]any{"name": "fmn", "norm": c.norm, "eps": []any{c.eps}},
		}}))
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "diameter") {
			t.Errorf("%s eps %v: %v, want exit 2 naming the diameter", c.norm, c.eps, err)
		}
	}
}

// TestFMNShardMergeEqualsRun: fmn entries shard through deepfool's ε*
// units (one pass per entry): merged shards equal Run, metrics, ε*
// details and saved examples included, on the linear model (L1, L0) and
// on the digits CNN (L∞, with examples).
func TestFMNShardMergeEqualsRun(t *testing.T) {
	tg := deepfoolLinear(t, 2, 2)
	tg.OutDir = t.TempDir()
	shardMergeEqualsRun(t, tg, 3*4, map[string]any{"attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 2},
		map[string]any{"name": "fmn", "label": "minnorm", "norm": "l1", "eps": []any{0.3, 0.6}},
		map[string]any{"name": "fmn", "norm": "l0", "eps": []any{1}},
	}})

	tg = digits(t, "digits_cnn.onnx", 2, 64)
	const n = 80
	tg.Data.X, tg.Data.Y, tg.Data.N = tg.Data.X[:n*tg.Data.SampleSize()], tg.Data.Y[:n], n
	want := shardMergeEqualsRun(t, tg, 4*3, map[string]any{"batch_size": 24, "save_examples": 30, "attacks": []any{
		map[string]any{"name": "fmn", "norm": "linf", "eps": []any{0.05, 0.1}},
		map[string]any{"name": "fgsm", "eps": []any{0.05}},
	}})
	if want.Details["fmn"] == nil {
		t.Fatal("Run has no fmn details to compare")
	}
}

// TestProjectL1: the Euclidean projection onto the L1 ball of radius 2 of
// (3, −1, 0.5, 0): sorted |δ| 3, 1, 0.5, 0, cumulative sums 3, 4, 4.5;
// μ_j·j > cum_j − 2 holds for j = 1 (3 > 1) and j = 2 (2 > 2 fails), so
// ρ = 1, θ = (3 − 2)/1 = 1: (2, 0, 0, 0). Radius 5 ≥ ‖δ‖₁ = 4.5 keeps δ;
// radius 4: j = 2 gives 2 > 0 and j = 3 gives 1.5 > 0.5, so ρ = 3,
// θ = (4.5 − 4)/3: (3 − θ, −(1 − θ), 0.5 − θ, 0), norm 4.
func TestProjectL1(t *testing.T) {
	th := 0.5 / 3
	for _, c := range []struct {
		e    float64
		want []float64
	}{{2, []float64{2, 0, 0, 0}}, {5, []float64{3, -1, 0.5, 0}}, {4, []float64{3 - th, -(1 - th), 0.5 - th, 0}}, {0, []float64{0, 0, 0, 0}}} {
		d := []float32{3, -1, 0.5, 0}
		projectL1(d, c.e, make([]float64, 4))
		for p := range d {
			if math.Abs(float64(d[p])-c.want[p]) > 1e-6 {
				t.Errorf("radius %v: %v, want %v", c.e, d, c.want)
				break
			}
		}
	}
}

// TestFMNLoopAllocs: FMN's iterations (the projections' sorts included)
// allocate no more than onnxruntime_go's own share per ORT call (64
// digits, every norm).
func TestFMNLoopAllocs(t *testing.T) {
	g := newLoopRig(t, ModeExact, map[string]any{"attacks": []any{
		map[string]any{"name": "fmn", "eps": []any{0.1}},
	}})
	ctx := context.Background()
	eps := make([]float64, g.j.n)
	p := fmnParams{steps: 10, alpha0: DefaultFMNAlphaInit, alpha1: DefaultFMNAlphaInit * fmnAlphaShare, gamma0: DefaultFMNGamma}
	for _, norm := range []string{Linf, L2, L1, L0} {
		g.checkOracleLoop(t, "fmn", headMarginT, norm, math.Inf(1), func(o oracle) error {
			return g.w.fmn(ctx, g.j, o, p, eps, nil)
		})
	}
}
