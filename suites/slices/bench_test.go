package slices

import (
	"math/rand/v2"
	"testing"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// BenchmarkSearch searches 100,000 rows of four columns (a numeric column
// in quartiles, categorical columns of 2, 5 and 10 values) to depth 2 and
// 3: one pass over the rows per column combination.
func BenchmarkSearch(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(24, 3))
	cards := []int{4, 2, 5, 10}
	cols := make([]column, len(cards))
	for j, card := range cards {
		c := column{Name: string(rune('a' + j)), Code: make([]int32, n)}
		for v := range card {
			c.Labels = append(c.Labels, c.Name+"="+string(rune('0'+v)))
		}
		for i := range c.Code {
			c.Code[i] = int32(rng.IntN(card))
		}
		cols[j] = c
	}
	hit := make([]bool, n)
	for i := range hit {
		hit[i] = rng.Float64() < 0.85
	}
	for _, depth := range []int{2, 3} {
		b.Run("depth="+string(rune('0'+depth)), func(b *testing.B) {
			for b.Loop() {
				search(Accuracy, cols, hit, depth, 1000, DefaultAlpha, stats.BenjaminiHochberg)
			}
		})
	}
}
