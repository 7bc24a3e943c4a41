package corruption

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// allocatingFamilies are the image families whose per-sample work still
// allocates, and why: image/jpeg's encoder, decoder and decoded image are
// the standard library's, allocated at every call.
var allocatingFamilies = map[string]bool{"jpeg_compression": true}

// TestCorruptLoopAllocs corrupts one batch of samples as a worker of
// runJobs does (one scratch reused from sample to sample, one random
// stream per sample) and asserts that the allocations do not grow with
// the number of samples: none at all for every family but those in
// allocatingFamilies, whose allocations are only logged. It also checks
// that the reused scratch and the reseeded source (suite.BatchSeeds) give
// the pixels of a fresh scratch and suite.BatchRand. The images are random (PCG 1, 2), 32×32
// RGB (the cifar set) and 20×28 grey (non-square, one channel); the
// expected 0 is the design (DEVELOPERS.md: no allocations in per-sample
// loops), not a measured figure.
func TestCorruptLoopAllocs(t *testing.T) {
	shapes := []struct {
		name    string
		c, h, w int
	}{{"rgb32", 3, 32, 32}, {"grey20x28", 1, 20, 28}}
	const n = 8
	checked := 0
	for _, sh := range shapes {
		size := sh.c * sh.h * sh.w
		r := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, n*size)
		for j := range x {
			x[j] = r.Float32()
		}
		d := &data.Dataset{X: x, N: n, SampleShape: []int{sh.c, sh.h, sh.w}}
		ic := &imageCorrupter{p: SetFor(max(sh.h, sh.w)), c: sh.c, h: sh.h, w: sh.w, lo: 0, hi: 1}
		dst := make([]float32, n*size)
		pcg := rand.NewPCG(0, 0)
		rng := rand.New(pcg)
		for _, fam := range Families {
			var sc scratch
			batch := func(k int) func() {
				return func() {
					for i := range k {
						pcg.Seed(suite.BatchSeeds(7, i))
						if err := ic.corrupt(&sc, dst[i*size:(i+1)*size], d, i, fam, 3, rng); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			// The reseeded source and the reused scratch give the pixels
			// of a fresh scratch and suite.BatchRand.
			batch(n)()
			for i := range n {
				want := make([]float32, size)
				if err := ic.corrupt(new(scratch), want, d, i, fam, 3, suite.BatchRand(7, i)); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(dst[i*size:(i+1)*size], want) {
					t.Fatalf("%s %s: sample %d differs from a fresh scratch and suite.BatchRand", sh.name, fam, i)
				}
			}
			one := testing.AllocsPerRun(5, batch(1))
			all := testing.AllocsPerRun(5, batch(n))
			if allocatingFamilies[fam] {
				t.Logf("%s %s: %v allocations for 1 sample, %v for %d (expected: %s allocates per sample)", sh.name, fam, one, all, n, fam)
				continue
			}
			if one != 0 || all != 0 {
				t.Errorf("%s %s: %v allocations for 1 sample, %v for %d samples, want 0 and 0", sh.name, fam, one, all, n)
			}
			checked++
		}
	}
	if want := 2 * (len(Families) - len(allocatingFamilies)); checked != want {
		t.Errorf("checked %d family × shape pairs, want %d", checked, want)
	}
}
