package evasion

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// shareTol is the slack when comparing a robust accuracy from the metrics
// with one recomputed from counts: both are k/n in float64, so equal up to
// the last bit of a division.
const shareTol = 1e-15

// autoAttackEntry returns the details.attacks entry of attack key at eps.
func autoAttackEntry(t *testing.T, r *suite.Result, key string, eps float64) map[string]any {
	t.Helper()
	for _, e := range r.Details["attacks"].([]map[string]any) {
		if e["attack"] == key && e["eps"] == eps {
			return e
		}
	}
	t.Fatalf("no details.attacks entry for %s eps %v", key, eps)
	return nil
}

// TestAutoAttackParts runs the preset and APGD-CE alone (same seed, steps
// and restarts) on the digits model and checks the per-part figures:
//   - the preset's robust accuracy is at most APGD-CE's alone. The preset's
//     APGD-CE part draws its own random stream (seed derived from the
//     preset's metric prefix), so this is not a per-sample identity, but
//     APGD-T and Square only remove points. Measured with 20 steps (preset
//     vs APGD-CE alone): L∞ 0.05: 0.8275 vs 0.8275; L∞ 0.1: 0.4025 vs
//     0.4225; L2 0.5: 0.395 vs 0.4125, where the preset's APGD-CE part
//     alone left 0.4225;
//   - after.apgd-ce ≥ after.apgd-t ≥ after.square = robust_accuracy: each
//     part runs only on the points the parts before it left robust;
//   - a sample is robust exactly when every part failed (broken_by '0'),
//     '-' marks exactly the clean-wrong samples, and the per-part counts of
//     broken_by are the parts' successes, which sum to the preset's.
func TestAutoAttackParts(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	raw := map[string]any{"attacks": []any{
		map[string]any{"name": "apgd", "eps": []any{0.05, 0.1}, "steps": 20},
		map[string]any{"name": "autoattack", "eps": []any{0.05, 0.1}, "steps": 20, "queries": 100},
		map[string]any{"name": "apgd", "label": "apgd-l2", "norm": "l2", "eps": []any{0.5}, "steps": 20},
		map[string]any{"name": "autoattack", "label": "aa-l2", "norm": "l2", "eps": []any{0.5}, "steps": 20, "queries": 100},
	}}
	cfg := decode(t, raw)
	r, err := Suite{}.Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	listed := Suite{}.Metrics(cfg, tg.Classes)
	cleanBits := r.Details["clean_correct"].(string)
	n := tg.Data.N
	for _, c := range []struct {
		apgd, aa, norm string
		eps            float64
	}{{"apgd", "autoattack", Linf, 0.05}, {"apgd", "autoattack", Linf, 0.1}, {"apgd-l2", "aa-l2", L2, 0.5}} {
		m := r.Metrics
		robust := m[Prefix(c.aa, c.norm, c.eps)+".robust_accuracy"]
		alone := m[Prefix(c.apgd, c.norm, c.eps)+".robust_accuracy"]
		names := aaVersions[AAStandard]
		after := make([]float64, len(names))
		for p, part := range names {
			key := afterPrefix(c.aa, c.norm, c.eps, part) + ".robust_accuracy"
			for _, k := range suite.ProportionKeys(key) {
				if _, ok := m[k]; !ok {
					t.Fatalf("metric %s missing", k)
				}
				if !slices.Contains(listed, k) {
					t.Errorf("metric %s not listed by Metrics", k)
				}
			}
			after[p] = m[key]
		}
		t.Logf("%s eps %v: apgd-ce alone %.4f; autoattack after %v: %.4f; robust %.4f",
			c.norm, c.eps, alone, names, after, robust)
		if robust > alone {
			t.Errorf("%s eps %v: autoattack robust accuracy %v above APGD-CE's alone %v", c.norm, c.eps, robust, alone)
		}
		for p := 1; p < len(after); p++ {
			if after[p-1] < after[p] {
				t.Errorf("%s eps %v: cumulative robust accuracies %v increase", c.norm, c.eps, after)
			}
		}
		if after[len(after)-1] != robust {
			t.Errorf("%s eps %v: robust accuracy after square %v, preset's %v", c.norm, c.eps, after[len(after)-1], robust)
		}

		e := autoAttackEntry(t, r, c.aa, c.eps)
		enc := e["broken_by"].(string)
		rob := e["robust"].(string)
		if len(enc) != n {
			t.Fatalf("broken_by has %d characters for %d samples", len(enc), n)
		}
		count := make([]int, len(names))
		nRobust := 0
		for i := 0; i < n; i++ {
			ch := enc[i]
			if (ch == brokenNotAttacked) != (cleanBits[i] == '0') {
				t.Fatalf("sample %d: broken_by %q, clean_correct %q", i, ch, cleanBits[i])
			}
			if (ch == brokenNone) != (rob[i] == '1') {
				t.Fatalf("sample %d: broken_by %q, robust %q: robust must mean every part failed", i, ch, rob[i])
			}
			switch {
			case ch == brokenNone:
				nRobust++
			case ch >= '1' && int(ch) <= '0'+len(names):
				count[ch-'1']++
			case ch != brokenNotAttacked:
				t.Fatalf("sample %d: broken_by %q", i, ch)
			}
		}
		parts := e["parts"].([]map[string]any)
		total := 0
		left := nRobust
		for p := len(names) - 1; p >= 0; p-- {
			pe := parts[p]
			if pe["part"] != names[p] || pe["successes"] != count[p] {
				t.Errorf("%s eps %v part %d: %v; broken_by counts %d", c.norm, c.eps, p, pe, count[p])
			}
			if got := pe["robust_accuracy"].(float64); math.Abs(got-float64(left)/float64(n)) > shareTol || got != after[p] {
				t.Errorf("%s eps %v %s: details robust_accuracy %v, metric %v, recount %d/%d", c.norm, c.eps, names[p], got, after[p], left, n)
			}
			left += count[p]
			total += count[p]
		}
		if e["successes"] != total {
			t.Errorf("%s eps %v: successes %v, parts sum to %d", c.norm, c.eps, e["successes"], total)
		}
	}
}

// TestSquareQueryBudget: Square's per-sample query count never exceeds
// its budget, alone (L∞, L2, targeted) and as the preset's last part.
// Expected counts from the attack loops with exact gradients (one query
// per gradient-graph call): Square spends 1 query on its start and one per
// iteration it = 1 … queries−1, so a point it never breaks costs exactly
// queries = 30. In the preset, a point every part failed costs exactly
// restarts·(steps+1) = 2·4 in APGD-CE, min(target_classes, k−1)·(steps+1)
// = 2·4 in APGD-T, min(target_classes, k−1)·2·steps = 2·6 in FAB-T (a
// gradient and a forward pass per step) and 30 in Square; a point broken by one part costs
// nothing in the later ones; the parts' queries sum to the sample's.
func TestSquareQueryBudget(t *testing.T) {
	const (
		budget   = 30
		steps    = 3
		restarts = 2
		targets  = 2
	)
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	cfg := decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "square", "eps": []any{0.1}, "queries": budget},
		map[string]any{"name": "square", "norm": "l2", "eps": []any{0.5}, "queries": budget},
		map[string]any{"name": "square", "label": "square-t3", "eps": []any{0.2}, "queries": budget, "targeted": true, "target": 3},
		map[string]any{"name": "autoattack", "eps": []any{0.05}, "steps": steps, "restarts": restarts, "target_classes": targets, "queries": budget},
		map[string]any{"name": "autoattack", "label": "aa-l2", "norm": "l2", "eps": []any{0.3}, "steps": steps, "restarts": restarts, "target_classes": targets, "queries": budget},
	}})
	outs, correct := runOutcomes(t, tg, cfg)
	names := aaVersions[AAStandard]
	want := []int32{restarts * (steps + 1), targets * (steps + 1), targets * 2 * steps, budget}
	sqIdx := slices.Index(names, partSquare)
	for _, o := range outs {
		full := 0
		for i := range correct {
			sq := o.queries[i]
			if o.brokenBy != nil {
				pq := o.partQueries[i*numParts : (i+1)*numParts]
				if pq[0]+pq[1]+pq[2]+pq[3] != o.queries[i] {
					t.Fatalf("%s sample %d: part queries %v do not sum to %d", o.a.Key(), i, pq, o.queries[i])
				}
				sq = pq[sqIdx]
				for p := range names {
					switch b := int(o.brokenBy[i]); {
					case correct[i] && b == 0 && pq[p] != want[p]:
						t.Errorf("%s sample %d (robust): %s spent %d queries, want %d", o.a.Key(), i, names[p], pq[p], want[p])
					case b > 0 && p >= b && pq[p] != 0:
						t.Errorf("%s sample %d (broken by %s): %s spent %d queries", o.a.Key(), i, names[b-1], names[p], pq[p])
					}
				}
			}
			if sq > budget {
				t.Errorf("%s sample %d: Square spent %d queries, budget %d", o.a.Key(), i, sq, budget)
			}
			if !correct[i] && o.queries[i] != 0 {
				t.Errorf("%s sample %d: clean-wrong but %d queries", o.a.Key(), i, o.queries[i])
			}
			if o.robust[i] && o.a.Name == Square && !o.a.Targeted && sq != budget {
				t.Errorf("%s sample %d: robust after %d queries, want the full %d", o.a.Key(), i, sq, budget)
			}
			if sq == budget {
				full++
			}
		}
		t.Logf("%-10s %s: %d samples spent the full Square budget, robust %.4f", o.a.Key(), o.a.Norm, full, share(o.robust))
		if full == 0 {
			t.Errorf("%s: no sample spent the full budget; the check would be vacuous", o.a.Key())
		}
	}
}

// TestAutoAttackSquareFlag: with APGD cut to one step and one target
// class (FAB-T one step), Square breaks points on the digits model that
// the white-box parts missed, and the preset raises the
// black_box_beats_white_box flag whose figure is their share of all
// samples: the drop from after.fab-t to after.square.
func TestAutoAttackSquareFlag(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 64)
	r, err := Suite{}.Run(context.Background(), tg, decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "autoattack", "eps": []any{0.1}, "steps": 1, "target_classes": 1, "queries": 100},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	enc := autoAttackEntry(t, r, "autoattack", 0.1)["broken_by"].(string)
	sq := strings.Count(enc, string(rune('1'+slices.Index(aaVersions[AAStandard], partSquare))))
	if sq == 0 {
		t.Fatal("Square broke no sample after a 1-step APGD; the flag is untested")
	}
	n := float64(tg.Data.N)
	flags, _ := r.Details["sanity"].([]map[string]any)
	var got []map[string]any
	for _, f := range flags {
		if f["flag"] == "black_box_beats_white_box" {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("flags %v, want one black_box_beats_white_box", flags)
	}
	m := r.Metrics
	drop := m["autoattack.linf.eps=0.1.after.fab-t.robust_accuracy"] - m["autoattack.linf.eps=0.1.after.square.robust_accuracy"]
	if v := got[0]["value"].(float64); v != float64(sq)/n || math.Abs(v-drop) > shareTol {
		t.Errorf("flag value %v, want %d/%v = %v (robust accuracy drop %v)", v, sq, n, float64(sq)/n, drop)
	}
	if msg := got[0]["message"].(string); !strings.Contains(msg, "Square broke "+strconv.Itoa(sq)+" samples") {
		t.Errorf("message %q does not give the %d samples", msg, sq)
	}
	t.Logf("%s", got[0]["message"])
}

// TestAutoAttackSanityMadeUp feeds sanity a made-up preset outcome over 5
// samples of the standard version: broken by APGD-CE, none (robust),
// Square, APGD-T, Square. Two samples fell to Square only: figure 2/5 =
// 0.4; robust accuracy 3/5 after FAB-T and 1/5 after Square. Without
// Square successes, no flag.
func TestAutoAttackSanityMadeUp(t *testing.T) {
	tg := &suite.Target{OutputKind: runtime.Logits}
	o := &outcome{a: AttackConfig{Name: AutoAttack, Norm: Linf}, eps: 0.1,
		robust: []bool{false, true, false, false, false}, brokenBy: []int8{1, 0, 4, 2, 4}}
	r := suite.NewResult()
	sanity(tg, r, []*outcome{o}, nil)
	flags, _ := r.Details["sanity"].([]map[string]any)
	if len(flags) != 1 || flags[0]["flag"] != "black_box_beats_white_box" || flags[0]["value"] != 0.4 {
		t.Fatalf("flags %v, want black_box_beats_white_box 0.4", flags)
	}
	if want := "Square broke 2 samples (40.00% of all) that apgd-ce, apgd-t, fab-t missed: robust accuracy 0.6 after fab-t, 0.2 after Square"; !strings.Contains(r.Warnings[0], want) {
		t.Errorf("warning %q, want it to contain %q", r.Warnings[0], want)
	}
	o.brokenBy = []int8{1, 0, 1, 2, 2}
	r = suite.NewResult()
	sanity(tg, r, []*outcome{o}, nil)
	if r.Warnings != nil || r.Details["sanity"] != nil {
		t.Errorf("no Square successes, but warnings %q", r.Warnings)
	}
}

// TestAutoAttackFlatInput runs the L2 preset on runtime/testdata's
// mlp_logits.onnx (4 features, 3 classes; gen_models.py): APGD-T falls
// back to the targeted cross-entropy (fewer than 4 classes) and L2 Square
// is skipped (no image layout), so the Square part breaks nothing, spends
// nothing, says why, and after.square equals after.fab-t.
func TestAutoAttackFlatInput(t *testing.T) {
	const n = 64
	tg := selfLabelled(t, "mlp_logits.onnx", n, 16, 11)
	res, err := Suite{}.Run(context.Background(), tg, decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "autoattack", "norm": "l2", "eps": []any{0.3}, "steps": 5, "queries": 20}}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Details["gradient_mode"].(map[string]string)["autoattack"]; got != ModeExact {
		t.Fatalf("gradient_mode %q, want exact", got)
	}
	parts := autoAttackEntry(t, res, "autoattack", 0.3)["parts"].([]map[string]any)
	sq := parts[slices.Index(aaVersions[AAStandard], partSquare)]
	if _, ok := sq["skipped"]; !ok || sq["successes"] != 0 || sq["queries"] != 0.0 {
		t.Errorf("square part %v, want skipped with no successes or queries", sq)
	}
	m := res.Metrics
	at, as := m["autoattack.l2.eps=0.3.after.fab-t.robust_accuracy"], m["autoattack.l2.eps=0.3.after.square.robust_accuracy"]
	if at != as || as != m["autoattack.l2.eps=0.3.robust_accuracy"] {
		t.Errorf("after fab-t %v, after square %v, robust %v: want all equal", at, as, m["autoattack.l2.eps=0.3.robust_accuracy"])
	}
	t.Logf("parts %v", parts)
	if parts[0]["successes"] == 0 {
		t.Errorf("APGD-CE broke no sample at L2 eps 0.3 on the MLP; the test is vacuous")
	}
}
