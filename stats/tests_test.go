package stats

import (
	"math"
	"testing"
)

func TestFisherExact(t *testing.T) {
	// Fisher's tea tasting, [[3,1],[1,3]]: hypergeometric P(a) =
	// C(4,a)C(4,4−a)/C(8,4) = 1, 16, 36, 16, 1 (/70); two-sided sums the
	// tables no more likely than a=3: (1+16+16+1)/70.
	near(t, "fisher tea", FisherExact(3, 1, 1, 3), 34.0/70, 1e-12)
	near(t, "fisher [[4,0],[0,4]]", FisherExact(4, 0, 0, 4), 2.0/70, 1e-12)
	// [[8,2],[1,5]]: margins 10, 9 of 16; C(10,a)C(6,9−a) for a = 3..9 is
	// 120, 1260, 3780, 4200, 1800, 270, 10 (/11440); no more likely than
	// a=8 (270): 120+270+10 = 400/11440.
	near(t, "fisher [[8,2],[1,5]]", FisherExact(8, 2, 1, 5), 400.0/11440, 1e-12)
}

func TestTwoProportion(t *testing.T) {
	// 30/100 vs 50/100: pooled p .4, z = .2/sqrt(.4·.6·.02) = 2.8868; p
	// from Python's math.erfc(z/√2) = 0.003892417122778627.
	name, p, ok := TwoProportionTest(30, 100, 50, 100)
	if !ok || name != TwoProportionZName {
		t.Fatalf("test %q ok %v", name, ok)
	}
	near(t, "z p-value", p, 0.003892417122778627, 1e-12)
	// 3/4 vs 1/4: expected cells 2 < 5, so Fisher on [[3,1],[1,3]].
	if name, p, _ := TwoProportionTest(3, 4, 1, 4); name != FisherExactName || math.Abs(p-34.0/70) > 1e-12 {
		t.Errorf("small table used %q, p %v", name, p)
	}
	if _, _, ok := TwoProportionTest(0, 0, 1, 4); ok {
		t.Error("empty group tested")
	}
	near(t, "identical", TwoProportionZ(0, 10, 0, 20), 1, 0)
}

func TestMcNemarExact(t *testing.T) {
	for _, tc := range []struct {
		b, c int
		want float64
	}{
		// 2·P(X ≤ 1), X ~ Bin(5, ½) = 2·(1+5)/32.
		{4, 1, 12.0 / 32},
		// 2·P(X ≤ 2), X ~ Bin(12, ½) = 2·(1+12+66)/4096.
		{10, 2, 158.0 / 4096},
		{2, 10, 158.0 / 4096},
		// No discordant pairs; equal cells cap at 1.
		{0, 0, 1},
		{3, 3, 1},
		// 2·P(X ≤ 0), X ~ Bin(20, ½) = 2/2^20.
		{20, 0, 2.0 / (1 << 20)},
	} {
		if got := McNemarExact(tc.b, tc.c); math.Abs(got-tc.want) > 1e-12*math.Max(1, tc.want) {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tc.b, tc.c, got, tc.want)
		}
	}
}
