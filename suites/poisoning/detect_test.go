package poisoning

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// tol is the tolerance of hand-computed float64 values.
const tol = 1e-12

// TestSpectralScores uses points on a line, (0,0), (1,0), (2,0), (9,0):
// the top singular vector is ±(1,0) and the mean 3, so the centred scores
// are (x−3)² = 9, 4, 1, 36 and ART's uncentred |r·v| are 0, 1, 2, 9.
func TestSpectralScores(t *testing.T) {
	a := mat.NewDense(4, 2, []float64{0, 0, 1, 0, 2, 0, 9, 0})
	got := make([]float64, 4)
	for score, want := range map[string][]float64{ScoreCentred: {9, 4, 1, 36}, ScoreART: {0, 1, 2, 9}} {
		if !SpectralScores(got, a, score) {
			t.Fatal("SVD failed")
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9 {
				t.Errorf("%s: scores %v; want %v", score, got, want)
				break
			}
		}
	}
	// Flag the top 1.5·0.33 = 49.5%: the quantile 0.505 of {9,4,1,36} is
	// 4 + 0.515·5 = 6.575, so 9 and 36 are flagged.
	flag := make([]bool, 4)
	SpectralFlags(flag, []float64{9, 4, 1, 36}, 0.33, 1.5)
	if flag[0] != true || flag[1] || flag[2] || !flag[3] {
		t.Errorf("flags %v; want [true false false true]", flag)
	}
}

// TestSilhouette: 1-D points 0, 1 | 10, 11. For 0: a = 1, b = 10.5; for 1:
// a = 1, b = 9.5 (symmetrically for the other cluster), so the mean is
// (9.5/10.5 + 8.5/9.5)/2.
func TestSilhouette(t *testing.T) {
	a := mat.NewDense(4, 1, []float64{0, 1, 10, 11})
	got, ok := Silhouette(a, []int{0, 0, 1, 1})
	want := (9.5/10.5 + 8.5/9.5) / 2
	if !ok || math.Abs(got-want) > tol {
		t.Errorf("silhouette %g; want %g", got, want)
	}
	if _, ok := Silhouette(a, []int{0, 0, 0, 0}); ok {
		t.Error("one cluster: silhouette should be undefined")
	}
}

// TestKMeans2 separates two obvious groups whatever the seed.
func TestKMeans2(t *testing.T) {
	a := mat.NewDense(6, 2, []float64{0, 0, 0.1, 0, 0, 0.1, 10, 10, 10.1, 10, 10, 10.1})
	for seed := uint64(0); seed < 5; seed++ {
		lab := make([]int, 6)
		KMeans2(lab, a, 3, rand.New(rand.NewPCG(seed, 0)))
		if lab[0] != lab[1] || lab[1] != lab[2] || lab[3] != lab[4] || lab[4] != lab[5] || lab[0] == lab[3] {
			t.Errorf("seed %d: labels %v", seed, lab)
		}
	}
}

// TestClusterFlags follows ART's analyses on clusters of 7 and 3 (shares
// 0.7 / 0.3): smaller and relative-size (0.3 < 0.35) flag cluster 1;
// silhouette flags it only above the silhouette threshold.
func TestClusterFlags(t *testing.T) {
	labels := []int{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}
	flag := make([]bool, 10)
	for _, c := range []struct {
		analysis string
		sil      float64
		want     int
	}{{AnalysisSmaller, 0, 1}, {AnalysisRelativeSize, 0, 1}, {AnalysisSilhouette, 0.5, 1}, {AnalysisSilhouette, 0.05, -1}} {
		_, p := ClusterFlags(flag, labels, c.analysis, 0.35, c.sil, 0.1)
		if p != c.want || flag[9] != (c.want == 1) || flag[0] {
			t.Errorf("%s sil %g: poisoned cluster %d, flags %v; want %d", c.analysis, c.sil, p, flag, c.want)
		}
	}
	// Equal halves: smaller takes cluster 0 (numpy argmin), relative-size nothing.
	half := []int{0, 1, 0, 1}
	if _, p := ClusterFlags(flag[:4], half, AnalysisSmaller, 0.35, 0, 0.1); p != 0 {
		t.Errorf("smaller on a tie: %d; want 0", p)
	}
	if _, p := ClusterFlags(flag[:4], half, AnalysisRelativeSize, 0.35, 0, 0.1); p != -1 {
		t.Errorf("relative-size on halves: %d; want -1", p)
	}
}

// TestAnomalyIndex: norms 1, 10, 11, 12, 13 have median 11 and absolute
// deviations 10, 1, 0, 1, 2 (median 1), so class 0's index is
// 10/1.4826 and class 4's 2/1.4826.
func TestAnomalyIndex(t *testing.T) {
	idx := make([]float64, 5)
	if !AnomalyIndex(idx, []float64{1, 10, 11, 12, 13}) {
		t.Fatal("undefined")
	}
	if math.Abs(idx[0]-10/1.4826) > tol || math.Abs(idx[4]-2/1.4826) > tol {
		t.Errorf("indices %v", idx)
	}
	if AnomalyIndex(idx[:3], []float64{5, 5, 5}) {
		t.Error("MAD 0 should leave the index undefined")
	}
}

// TestCount checks the confusion counts and F1 = 2TP/(2TP+FP+FN).
func TestCount(t *testing.T) {
	c := Count([]bool{true, true, false, false, true}, []bool{true, false, true, false, true})
	if c != (Confusion{TP: 2, FP: 1, FN: 1, TN: 1}) {
		t.Errorf("%+v", c)
	}
	if f, ok := c.F1(); !ok || math.Abs(f-4.0/6) > tol {
		t.Errorf("F1 %g", f)
	}
}
