package evasion

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// aaRefTol is the bound on |robust accuracy − AutoAttack's| after each part
// of standard AutoAttack and for FAB-T alone: 3 points, 3 of the N = 100
// images. The issue asks for 1 point, which one draw of each tool cannot
// hold at N = 100: APGD's random start and Square's windows draw from
// Gauntlet's streams, not torch's, and the attacks' own seed-to-seed
// spread is that large. Measured on the MNIST CNN at L∞ 0.15, APGD-CE
// alone: the reference (APGDAttack, 100 steps, 1 restart) leaves 0.46,
// 0.46, 0.44, 0.44 robust with seeds 0-3; Gauntlet's apgd (loss ce) 0.44,
// 0.43, 0.45, 0.42, 0.44, 0.45, 0.43, 0.43 with seeds 1-8 (mean 0.436 vs
// 0.450). Draws of one attack span up to 3 samples (Gauntlet's 0.42-0.45); the
// spread in points shrinks as 1/√N, so 1 point needs about 9 times the
// images, beyond what the reference's 25 minutes a case (at load ≈ 20 on
// 2 cores) allowed. FAB-T itself has no randomness with one restart; its
// figures differ through the points APGD left.
const aaRefTol = 0.03

// peerAA is testdata/peer_autoattack.json (peer_autoattack.py).
type peerAA struct {
	N      int `json:"n"`
	Models map[string]map[string]json.RawMessage
}

type peerAACase struct {
	After map[string]float64 `json:"after"`
	FABT  *float64           `json:"fab_t_robust_accuracy"` // absent when the run stopped before it
}

// aaCase is one model, norm and eps of peer_autoattack.py's CASES. The eps
// are where standard AutoAttack leaves roughly half of the 100 images
// robust, so that each of APGD-CE, APGD-T, FAB-T and Square has points to
// work on (picked by a 30-step PGD sweep in torch, recorded in the script).
type aaCase struct {
	model, file string
	norm        string
	eps         float64
	key         string
	ci          bool // run under CI=true (the others with GAUNTLET_FULL_ART=1)
}

// aaInformative is the range the reference's final robust accuracy must
// lie in for a case to tell the attacks apart: the issue's "roughly 0.3 to
// 0.8", so that every part has points left to work on.
var aaInformative = [2]float64{0.3, 0.8}

// TestAutoAttackReference compares the autoattack preset (standard
// version, default parameters) and fab (targeted, FAB-T) on the first 100
// MNIST test images with the AutoAttack reference code run by
// testdata/peer_autoattack.py on the same weights: the robust accuracy
// after each part and after FAB-T alone, within aaRefTol, on the shared
// MNIST CNN at L∞ 0.15 and L2 1.5 and on the residual CNN
// (benchmarks/pgdpeer's res_cnn.onnx) at L∞ 0.025 and L2 0.4.
//
// Always: the peer file holds exactly these cases, each with the four
// parts, non-increasing, the last inside aaInformative. The runs cost
// Gauntlet about 100 CPU seconds a case (Square's 5000 queries on the
// ~45 robust images dominate): CI=true runs the case marked ci without
// FAB-T alone, and GAUNTLET_FULL_ART=1 all four with it. Each run asserts the count of figures it
// compared.
func TestAutoAttackReference(t *testing.T) {
	// read here, not only by peerFixtures: the file's own checks need no
	// ../shared
	b, err := os.ReadFile(filepath.Join("testdata", "peer_autoattack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref peerAA
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("testdata/peer_autoattack.json: %v", err)
	}
	if ref.N != 100 {
		t.Fatalf("peer_autoattack.json: n %d, want 100", ref.N)
	}
	cases := []aaCase{
		{"mnist_cnn", "mnist_cnn.onnx", Linf, 0.15, "linf_eps=0.15", true},
		{"mnist_cnn", "mnist_cnn.onnx", L2, 1.5, "l2_eps=1.5", false},
		{"res_cnn", "", Linf, 0.025, "linf_eps=0.025", false},
		{"res_cnn", "", L2, 0.4, "l2_eps=0.4", false},
	}
	held := 0
	for _, m := range ref.Models {
		for k := range m {
			if k != "clean_accuracy" {
				held++
			}
		}
	}
	if held != len(cases) {
		t.Errorf("peer_autoattack.json holds %d cases, want the %d of the test", held, len(cases))
	}
	wants := make([]peerAACase, len(cases))
	for i, c := range cases {
		raw, ok := ref.Models[c.model][c.key]
		if !ok {
			t.Fatalf("peer_autoattack.json has no %s %s", c.model, c.key)
		}
		if err := json.Unmarshal(raw, &wants[i]); err != nil {
			t.Fatalf("peer_autoattack.json %s %s: %v", c.model, c.key, err)
		}
		prev := 1.0
		for _, part := range aaVersions[AAStandard] {
			w, ok := wants[i].After[part]
			if !ok {
				t.Fatalf("peer_autoattack.json %s %s has no robust accuracy after %s", c.model, c.key, part)
			}
			if w > prev {
				t.Errorf("peer_autoattack.json %s %s: robust accuracy after %s %.2f above the part before (%.2f)", c.model, c.key, part, w, prev)
			}
			prev = w
		}
		if prev < aaInformative[0] || prev > aaInformative[1] {
			t.Errorf("peer_autoattack.json %s %s: final robust accuracy %.2f outside %v: the attacks are not told apart", c.model, c.key, prev, aaInformative)
		}
	}
	full := os.Getenv("GAUNTLET_FULL_ART") == "1"
	if !full && !testutil.CI() {
		t.Log("the runs against the reference: GAUNTLET_FULL_ART=1 (all four cases) or CI=true (mnist_cnn L∞)")
		return
	}
	dir, resRel := peerFixtures(t, "peer_autoattack.json", &ref)
	for i, c := range cases {
		if !full && !c.ci {
			continue
		}
		if c.file == "" {
			c.file = resRel
		}
		t.Run(c.model+"/"+c.key, func(t *testing.T) { aaCompare(t, dir, ref.N, c, wants[i], full) })
	}
}

// aaCompare runs one case and compares it with the reference's figures;
// FAB-T alone too with withFAB (GAUNTLET_FULL_ART=1: CI leaves it out for
// time, as the standard entry's FAB-T part is compared anyway).
func aaCompare(t *testing.T, dir string, n int, c aaCase, want peerAACase, withFAB bool) {
	start := time.Now()
	tg := mnist(t, dir, c.file, 2, 100, n)
	attacks := []any{map[string]any{"name": "autoattack", "norm": c.norm, "eps": []any{c.eps}}}
	if withFAB {
		attacks = append(attacks, map[string]any{"name": "fab", "targeted": true, "norm": c.norm, "eps": []any{c.eps}})
	}
	cfg := decode(t, map[string]any{"attacks": attacks})
	outs, _ := runOutcomes(t, tg, cfg)
	t.Logf("gauntlet ran %s %s in %.1f s (workers 2)", c.model, c.key, time.Since(start).Seconds())
	name := c.model + " " + c.key
	compared, fab := 0, 0
	for _, o := range outs {
		checkConstraints(t, tg, o)
		if o.a.Name == FAB {
			if want.FABT != nil {
				checkAA(t, name+" fab-t alone", share(o.robust), *want.FABT, n)
				compared++
				fab++
			} else {
				t.Logf("%s fab-t alone: gauntlet %.3f (no reference figure)", name, share(o.robust))
			}
			continue
		}
		left := 0
		for _, r := range o.robust {
			if r {
				left++
			}
		}
		// AutoAttack stops once no point is robust: a part it did not run
		// keeps the figure of the part before
		parts := o.a.parts()
		after := make([]float64, len(parts))
		for p, part := range parts {
			w, ok := want.After[part]
			switch {
			case ok:
				after[p] = w
			case p > 0 && after[p-1] == 0:
			default:
				t.Fatalf("peer_autoattack.json %s has no robust accuracy after %s", name, part)
			}
		}
		for p := len(parts) - 1; p >= 0; p-- {
			checkAA(t, name+" after "+parts[p], float64(left)/float64(n), after[p], n)
			compared++
			for _, bb := range o.brokenBy {
				if int(bb) == p+1 {
					left++
				}
			}
		}
	}
	if wantFAB := withFAB && want.FABT != nil; compared != 4+fab || (fab == 1) != wantFAB {
		t.Errorf("compared %d figures (%d FAB-T alone), want 4 parts and FAB-T alone (%v)", compared, fab, wantFAB)
	}
}

func checkAA(t *testing.T, name string, got, want float64, n int) {
	t.Helper()
	t.Logf("%-40s gauntlet %.3f  AutoAttack %.3f  (%+.0f samples of %d)", name, got, want, math.Round((got-want)*float64(n)), n)
	if math.Abs(got-want) > aaRefTol+1e-12 {
		t.Errorf("%s: robust accuracy %.4f, AutoAttack %.4f: beyond ±%v", name, got, want, aaRefTol)
	}
}
