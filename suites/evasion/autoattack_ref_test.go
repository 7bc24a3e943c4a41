package evasion

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// aaRefTol is the bound on |robust accuracy − AutoAttack's| for standard
// AutoAttack and FAB-T: the 1 point. On N = 200 images that is 2
// samples. APGD's random start and Square's random windows draw from
// Gauntlet's streams, not torch's, so the two runs are different draws of
// the same randomised attacks; float32 gradients from ORT and torch also
// differ in the last bits. FAB-T has no randomness with one restart. On
// the N = 100 images of the peer run, 1 point is 1 sample.
const aaRefTol = 0.01

// peerAA is testdata/peer_autoattack.json (peer_autoattack.py).
type peerAA struct {
	N      int `json:"n"`
	Models map[string]map[string]json.RawMessage
}

type peerAACase struct {
	After map[string]float64 `json:"after"`
	FABT  *float64           `json:"fab_t_robust_accuracy"` // absent when the run stopped before it
}

// TestAutoAttackReference compares the autoattack preset (standard
// version, default parameters) and fab (targeted, FAB-T) on the first 100
// MNIST test images with the AutoAttack reference code run by
// testdata/peer_autoattack.py on the same weights: the robust accuracy
// after each part and after FAB-T alone, within aaRefTol. mnist_cnn at L∞
// 0.2 always; the residual CNN (benchmarks/pgdpeer's res_cnn.onnx) and
// L2 2 with GAUNTLET_FULL_ART=1 and under CI=true, for each case the peer
// file holds (the count of compared figures is asserted).
func TestAutoAttackReference(t *testing.T) {
	var ref peerAA
	dir, resRel := peerFixtures(t, "peer_autoattack.json", &ref)
	full := os.Getenv("GAUNTLET_FULL_ART") == "1" || testutil.CI()
	compared, cases, fabCases := 0, 0, 0
	for _, m := range []struct{ name, file string }{{"mnist_cnn", "mnist_cnn.onnx"}, {"res_cnn", resRel}} {
		for _, c := range []struct {
			norm string
			eps  float64
			key  string
		}{{Linf, 0.2, "linf_eps=0.2"}, {L2, 2, "l2_eps=2"}} {
			raw, ok := ref.Models[m.name][c.key]
			if m.name == "mnist_cnn" && c.norm == Linf && !ok {
				t.Fatalf("peer_autoattack.json has no %s %s", m.name, c.key)
			}
			if !ok || !full && (m.name != "mnist_cnn" || c.norm != Linf) {
				continue
			}
			cases++
			var want peerAACase
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if want.FABT != nil {
				fabCases++
			}
			tg := mnist(t, dir, m.file, 2, 100, ref.N)
			cfg := decode(t, map[string]any{"attacks": []any{
				map[string]any{"name": "autoattack", "norm": c.norm, "eps": []any{c.eps}},
				map[string]any{"name": "fab", "targeted": true, "norm": c.norm, "eps": []any{c.eps}},
			}})
			outs, _ := runOutcomes(t, tg, cfg)
			for _, o := range outs {
				checkConstraints(t, tg, o)
				if o.a.Name == FAB {
					if want.FABT != nil {
						checkAA(t, m.name+" "+c.key+" fab-t alone", share(o.robust), *want.FABT)
						compared++
					} else {
						t.Logf("%s %s fab-t alone: gauntlet %.3f (no reference figure)", m.name, c.key, share(o.robust))
					}
					continue
				}
				left := 0
				for _, r := range o.robust {
					if r {
						left++
					}
				}
				// AutoAttack stops once no point is robust: a part it
				// did not run keeps the figure of the part before
				parts := o.a.parts()
				after := make([]float64, len(parts))
				for p, part := range parts {
					w, ok := want.After[part]
					switch {
					case ok:
						after[p] = w
					case p > 0 && after[p-1] == 0:
					default:
						t.Fatalf("peer_autoattack.json %s %s has no robust accuracy after %s", m.name, c.key, part)
					}
				}
				for p := len(parts) - 1; p >= 0; p-- {
					w := after[p]
					checkAA(t, m.name+" "+c.key+" after "+parts[p], float64(left)/float64(ref.N), w)
					compared++
					for _, bb := range o.brokenBy {
						if int(bb) == p+1 {
							left++
						}
					}
				}
			}
		}
	}
	if compared != 4*cases+fabCases {
		t.Errorf("compared %d figures in %d cases (%d with FAB-T alone), want 4 a case and 1 for FAB-T", compared, cases, fabCases)
	}
}

func checkAA(t *testing.T, name string, got, want float64) {
	t.Helper()
	t.Logf("%-40s gauntlet %.3f  AutoAttack %.3f  (%+.0f samples of 100)", name, got, want, math.Round((got-want)*100))
	if math.Abs(got-want) > aaRefTol+1e-12 {
		t.Errorf("%s: robust accuracy %.4f, AutoAttack %.4f: beyond ±%v", name, got, want, aaRefTol)
	}
}
