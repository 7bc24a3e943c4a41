package poisoning

import (
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbinet/npyio"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// icaSeparationR is the least |Pearson r| a recovered component must reach
// with its source in the noise-free blind source separation check.
const icaSeparationR = 0.99

// icaWhiteTol is the tolerance of the unit-variance, uncorrelated output
// (exact up to rounding by construction: whitened data times an orthogonal
// matrix).
const icaWhiteTol = 1e-9

// mixedSources returns the 2000 samples of scikit-learn's FastICA blind
// source separation demo ("Blind source separation using FastICA",
// plot_ica_blind_source_separation.py), without its Gaussian noise and with
// two of its three sources: s1 = sin(2t) and s2 = sign(sin(3t)) (a square
// wave), t = linspace(0, 8, 2000), mixed by the top-left 2×2 block of the
// demo's mixing matrix, A = [[1, 1], [0.5, 2]]: x = A s. It returns the
// sources (2000×2) and the mixtures (2000×2).
func mixedSources() (src, x *mat.Dense) {
	const n = 2000
	src = mat.NewDense(n, 2, nil)
	for i := 0; i < n; i++ {
		t := 8 * float64(i) / (n - 1)
		src.Set(i, 0, math.Sin(2*t))
		src.Set(i, 1, math.Copysign(1, math.Sin(3*t)))
	}
	src.Set(0, 1, 0) // np.sign(0) = 0
	a := mat.NewDense(2, 2, []float64{1, 1, 0.5, 2})
	x = mat.NewDense(n, 2, nil)
	x.Mul(src, a.T())
	return src, x
}

// TestFastICASeparates is the property scikit-learn's FastICA demo shows:
// from two linear mixtures of a sine and a square wave, the parallel
// logcosh FastICA recovers each source up to order, sign and scale, so
// each component correlates with a different source at |r| ≥ 0.99 (seen:
// 0.9984 with the sine, 0.9996 with the square wave).
// Several seeds, since the start W is random.
func TestFastICASeparates(t *testing.T) {
	src, x := mixedSources()
	n, _ := x.Dims()
	col := func(m *mat.Dense, j int) []float64 { return mat.Col(nil, j, m) }
	for seed := uint64(0); seed < 5; seed++ {
		s, st, ok := FastICA(x, 2, rand.New(rand.NewPCG(seed, 0)))
		if !ok {
			t.Fatalf("seed %d: factorisation failed", seed)
		}
		if r, c := s.Dims(); r != n || c != 2 {
			t.Fatalf("seed %d: result %d×%d; want %d×2", seed, r, c, n)
		}
		if !st.Converged {
			t.Errorf("seed %d: no convergence in %d iterations", seed, st.Iterations)
		}
		var r [2][2]float64
		for i := 0; i < 2; i++ {
			for j := 0; j < 2; j++ {
				r[i][j] = math.Abs(stat.Correlation(col(s, i), col(src, j), nil))
			}
		}
		// Component 0 pairs with source 0 or 1, component 1 with the other.
		best := max(min(r[0][0], r[1][1]), min(r[0][1], r[1][0]))
		if best < icaSeparationR {
			t.Errorf("seed %d: |r| component×source %v; want one pairing with both ≥ %g", seed, r, icaSeparationR)
		}
	}
}

// Tolerances against scikit-learn's FastICA output, the same float64
// algorithm differing only in the rounding of the SVD, eigendecompositions
// and products.
const (
	// icaSklearnTol is for the demo mixtures, which converge in a few
	// iterations: largest difference seen 8e-15.
	icaSklearnTol = 1e-10
	// icaSlowTol is for the activation stand-in, nearly Gaussian, where
	// 165 slowly converging iterations amplify rounding: scikit-learn's own
	// result moves by 1.1e-5 when its whitened input is replaced by
	// Gauntlet's, which differs by 5e-14; largest difference seen 5.0e-5.
	icaSlowTol = 1e-3
)

// readNpy reads a float64 matrix from testdata.
func readNpy(t *testing.T, name string) *mat.Dense {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m mat.Dense
	if err := npyio.Read(f, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &m
}

// TestFastICAMatchesSklearn runs FastICA from scikit-learn's w_init on
// the data of testdata/make_fastica_sklearn.py and compares with
// scikit-learn 1.2.1's FastICA.fit_transform (parallel, logcosh,
// unit-variance, svd whitening, tol 1e-4, max_iter 200) from the same
// w_init: the sklearn demo's three noisy sources mixed into three signals,
// separated into 3 and reduced to 2 components, and a 200×8 activation
// stand-in reduced to 4. The components, their signs and order, and the
// iteration counts (n_iter_ 5, 2 and 165, fastica_iter.npy) must agree.
func TestFastICAMatchesSklearn(t *testing.T) {
	iters := readNpyInts(t, "fastica_iter.npy")
	cases := []struct {
		x, w, s string
		tol     float64
	}{
		{"fastica_x.npy", "fastica_w3.npy", "fastica_s3.npy", icaSklearnTol},
		{"fastica_x.npy", "fastica_w2.npy", "fastica_s2.npy", icaSklearnTol},
		{"fastica_act.npy", "fastica_act_w.npy", "fastica_act_s.npy", icaSlowTol},
	}
	for ci, c := range cases {
		want := readNpy(t, c.s)
		got, st, ok := fastICA(readNpy(t, c.x), readNpy(t, c.w))
		if !ok {
			t.Fatalf("%s: factorisation failed", c.s)
		}
		if !st.Converged || st.Iterations != int(iters[ci]) {
			t.Errorf("%s: %d iterations (converged %v); scikit-learn n_iter_ %d", c.s, st.Iterations, st.Converged, iters[ci])
		}
		if r, k := got.Dims(); r != want.RawMatrix().Rows || k != want.RawMatrix().Cols {
			t.Fatalf("%s: result %d×%d; scikit-learn %d×%d", c.s, r, k, want.RawMatrix().Rows, want.RawMatrix().Cols)
		}
		// Largest element-wise difference (both matrices are contiguous).
		if m := floats.Distance(got.RawMatrix().Data, want.RawMatrix().Data, math.Inf(1)); !(m <= c.tol) {
			t.Errorf("%s: largest difference from scikit-learn %g; want ≤ %g", c.s, m, c.tol)
		}
	}
}

// readNpyInts reads an int64 vector from testdata.
func readNpyInts(t *testing.T, name string) []int64 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v []int64
	if err := npyio.Read(f, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestFastICAWhite: the components have unit (population) variance and
// are uncorrelated, and the result has k columns when d > k.
func TestFastICAWhite(t *testing.T) {
	a := classActivations(300, 16)
	s, _, ok := FastICA(a, 4, rand.New(rand.NewPCG(7, 0)))
	if !ok {
		t.Fatal("factorisation failed")
	}
	n, k := s.Dims()
	if n != 300 || k != 4 {
		t.Fatalf("result %d×%d; want 300×4", n, k)
	}
	var cov mat.Dense
	cov.Mul(s.T(), s)
	cov.Scale(1/float64(n), &cov)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(cov.At(i, j)-want) > icaWhiteTol {
				t.Errorf("covariance (%d,%d) = %g; want %g", i, j, cov.At(i, j), want)
			}
		}
	}
}

// TestFastICADeterministic: the same seed gives bit-identical components
// and iteration counts.
func TestFastICADeterministic(t *testing.T) {
	a := classActivations(300, 16)
	s1, st1, ok1 := FastICA(a, 4, rand.New(rand.NewPCG(11, 3)))
	s2, st2, ok2 := FastICA(a, 4, rand.New(rand.NewPCG(11, 3)))
	if !ok1 || !ok2 {
		t.Fatal("factorisation failed")
	}
	if !mat.Equal(s1, s2) || st1 != st2 {
		t.Errorf("same seed, different results (stats %+v, %+v)", st1, st2)
	}
	s3, _, _ := FastICA(a, 4, rand.New(rand.NewPCG(12, 3)))
	if mat.Equal(s1, s3) {
		t.Error("different seeds gave identical components: the start is not drawn from rng")
	}
}

// TestFastICARankDeficient: rows on a line through (1, 2, 3) in 3-D have
// one direction of variance, so with k = 2 the second column is zero; rows
// that are all equal give zeros.
func TestFastICARankDeficient(t *testing.T) {
	a := mat.NewDense(6, 3, nil)
	for i := 0; i < 6; i++ {
		f := float64(i*i) - 3 // non-symmetric spread along the line
		a.SetRow(i, []float64{f, 2 * f, 3 * f})
	}
	s, _, ok := FastICA(a, 2, rand.New(rand.NewPCG(1, 1)))
	if !ok {
		t.Fatal("factorisation failed")
	}
	if _, k := s.Dims(); k != 2 {
		t.Fatalf("%d columns; want 2", k)
	}
	for i := 0; i < 6; i++ {
		if s.At(i, 1) != 0 || math.IsNaN(s.At(i, 0)) {
			t.Fatalf("row %d: %v; want a finite first and a zero second component", i, s.RawRowView(i))
		}
	}
	same := mat.NewDense(4, 3, []float64{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3})
	s, _, ok = FastICA(same, 2, rand.New(rand.NewPCG(1, 1)))
	if !ok || mat.Norm(s, 1) != 0 {
		t.Errorf("equal rows: ok %v, components %v; want zeros", ok, mat.Formatted(s))
	}
}

// TestDecodeReduce: activation_clustering.reduce defaults to pca, accepts
// ica and ART's spellings PCA / FastICA, and rejects anything else with an
// exit-2 error naming the key.
func TestDecodeReduce(t *testing.T) {
	decode := func(reduce any) (Config, error) {
		cl := map[string]any{}
		if reduce != nil {
			cl["reduce"] = reduce
		}
		cfg, err := Suite{}.Decode(map[string]any{"data": map[string]any{"train": digitsTrain, "activation_clustering": cl}})
		if err != nil {
			return Config{}, err
		}
		return cfg.(Config), nil
	}
	for in, want := range map[any]string{nil: ReducePCA, "pca": ReducePCA, "PCA": ReducePCA, "ica": ReduceICA, "fastica": ReduceICA, "FastICA": ReduceICA} {
		cfg, err := decode(in)
		if err != nil {
			t.Errorf("reduce %v: %v", in, err)
			continue
		}
		if got := cfg.Data.Clustering.Reduce; got != want {
			t.Errorf("reduce %v: decoded %q; want %q", in, got, want)
		}
	}
	for _, bad := range []string{"tsne", "ICA2"} {
		_, err := decode(bad)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "activation_clustering.reduce") || !strings.Contains(err.Error(), bad) {
			t.Errorf("reduce %q: error %v; want exit code 2 naming activation_clustering.reduce and the value", bad, err)
		}
	}
}

// TestClusteringICA runs activation clustering with reduce: ica on the
// committed digits training split: every class gets FastICA's iteration
// count in the details, and the metrics do not depend on workers or batch
// size (the FastICA start comes from the suite seed and the class).
func TestClusteringICA(t *testing.T) {
	raw := func() map[string]any {
		return map[string]any{"data": map[string]any{"train": digitsTrain, "methods": []any{MethodClustering},
			MethodClustering: map[string]any{"reduce": "ica"}}}
	}
	var first map[string]float64
	for _, wb := range [][2]int{{1, 64}, {2, 17}} {
		tg := digitsTarget(t)
		tg.Pool.Workers, tg.BatchSize = wb[0], wb[1]
		res := run(t, tg, raw())
		md := res.Details["data"].(map[string]any)[MethodClustering].(map[string]any)
		for _, pc := range md["per_class"].([]map[string]any) {
			if it, ok := pc["ica_iterations"].(int); !ok || it < 1 || it > ICAMaxIter {
				t.Errorf("class %v: ica_iterations %v; want 1…%d", pc["class"], pc["ica_iterations"], ICAMaxIter)
			}
		}
		if first == nil {
			first = res.Metrics
			continue
		}
		if !maps.Equal(first, res.Metrics) {
			t.Errorf("workers %d batch %d: metrics differ:\n%v\n%v", wb[0], wb[1], first, res.Metrics)
		}
	}
}
