package evasion

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestCraftBatchesEqualCraft: a Crafter's batches are Craft's. On the
// first 80 digits (examples/digits_cnn.onnx) in attack batches of 24 (4
// batches, the last of 8), PGD with a random start, square, DeepFool at
// two eps (one run for both), FGSM, HopSkipJump at two eps (one run),
// Sign-OPT and FMN (L∞, two eps, one run), crafted as the batches [3, 4),
// [0, 1) and [1, 3) in that order, give bit for bit the adversarial
// points, successes and robust flags of one Craft over every batch (the
// expected values are Craft's: each batch runs from its own seed and
// stream, so neither the order nor the other batches change it).
func TestCraftBatchesEqualCraft(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	const n = 80
	tg.Data.X, tg.Data.Y, tg.Data.N = tg.Data.X[:n*tg.Data.SampleSize()], tg.Data.Y[:n], n
	cfg := decode(t, map[string]any{"batch_size": 24, "attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 5},
		map[string]any{"name": "square", "eps": []any{0.1}, "queries": 20},
		map[string]any{"name": "deepfool", "norm": "l2", "eps": []any{0.5, 1}, "steps": 10},
		map[string]any{"name": "fgsm", "eps": []any{0.05}},
		map[string]any{"name": "hopskipjump", "norm": "l2", "budgets": []any{60}, "eps": []any{2.0, 4.0}, "init_eval": 10, "max_eval": 20, "init_size": 20},
		map[string]any{"name": "signopt", "norm": "l2", "budgets": []any{100}, "eps": []any{3.0}},
		map[string]any{"name": "fmn", "norm": "linf", "eps": []any{0.1, 0.2}, "steps": 20},
	}})
	ctx := context.Background()
	want, mode, err := Craft(ctx, tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCrafter(tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Batches() != 4 || c.BatchSize() != 24 || AttackBatchSize(tg, cfg) != 24 || c.Mode() != mode || mode != ModeExact {
		t.Fatalf("%d batches of %d (AttackBatchSize %d), mode %s (Craft: %s), want 4 of 24, exact", c.Batches(), c.BatchSize(), AttackBatchSize(tg, cfg), c.Mode(), mode)
	}
	d := tg.Data.SampleSize()
	compared, fooled := 0, 0
	for _, r := range [][2]int{{3, 4}, {0, 1}, {1, 3}} {
		got, err := c.CraftBatches(ctx, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := r[0]*24, min(r[1]*24, n)
		if len(got) != len(want) {
			t.Fatalf("batches %v: %d attacks, Craft %d", r, len(got), len(want))
		}
		for a, g := range got {
			w := want[a]
			if g.Prefix != w.Prefix || len(g.Success) != hi-lo || len(g.Robust) != hi-lo || len(g.Adv) != (hi-lo)*d {
				t.Fatalf("batches %v, %s: %d samples, %d values (Craft's %s, want %d samples)", r, g.Prefix, len(g.Success), len(g.Adv), w.Prefix, hi-lo)
			}
			for i := range hi - lo {
				if g.Success[i] != w.Success[lo+i] || g.Robust[i] != w.Robust[lo+i] {
					t.Errorf("%s sample %d: success %v robust %v, Craft %v %v", g.Prefix, lo+i, g.Success[i], g.Robust[i], w.Success[lo+i], w.Robust[lo+i])
				}
				if g.Success[i] {
					fooled++
				}
			}
			for j, v := range g.Adv {
				if math.Float32bits(v) != math.Float32bits(w.Adv[lo*d+j]) {
					t.Fatalf("%s sample %d: value %d is %v, Craft %v", g.Prefix, lo+j/d, j%d, v, w.Adv[lo*d+j])
				}
			}
			compared++
		}
	}
	if compared != 3*10 {
		t.Errorf("compared %d attack×batch ranges, want 30", compared)
	}
	if fooled == 0 {
		t.Error("no attack succeeded: nothing to compare but clean points")
	}
}

// TestNewCrafterRefuses: the attacks that do not run batch by batch are
// exit 2 naming the entry: an attack not listed as sharding (every attack
// is today: the test takes hopskipjump off the list), and FGSM on
// estimated gradients (the square fallback reruns the whole attack).
func TestNewCrafterRefuses(t *testing.T) {
	delete(shardable, HopSkipJump)
	t.Cleanup(func() { shardable[HopSkipJump] = true })
	tg := digits(t, "digits_cnn.onnx", 1, 64)
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}, map[string]any{"name": "hopskipjump", "norm": "l2", "eps": []any{1}}}},
			"attacks[1] (hopskipjump): hopskipjump does not run batch by batch yet"},
		{map[string]any{"gradient_mode": "estimated", "attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}},
			"attacks[0] (fgsm): runs on estimated gradients here (gradient_mode: estimated)"},
	} {
		_, err := NewCrafter(tg, decode(t, c.raw))
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewCrafter = %v, want exit 2 with %q", err, c.want)
		}
	}
}
