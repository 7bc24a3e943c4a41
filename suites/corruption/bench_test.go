package corruption

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFamilies times each family at severity 3 on one image of each
// parameter set's own size (RGB), for the cost table of
// docs/metrics/corruption.md, with one scratch reused from call to call as
// a worker of the suite reuses it (so -benchmem shows the per-sample
// allocations: none but jpeg_compression's).
func BenchmarkFamilies(b *testing.B) {
	for _, ps := range Sets {
		m := NewImage(ps.Size, ps.Size, 3)
		r := rand.New(rand.NewPCG(1, 2))
		for j := range m.P {
			m.P[j] = r.Float64()
		}
		for _, fam := range Families {
			b.Run(ps.Name+"/"+fam, func(b *testing.B) {
				var sc scratch
				for i := 0; i < b.N; i++ {
					if _, err := sc.corrupt(fam, 3, ps, m, r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
