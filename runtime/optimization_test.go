package runtime

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// TestOptimizationLevels: every level of SessionSettings.Optimization
// opens a session, an unknown one is exit code 2 listing the levels, and
// OptimizedModelPath writes the graph ONNX Runtime runs: from the extended
// level up (and by default) the MLP's Gemm+Relu is one com.microsoft
// FusedGemm (ORT's GemmActivationFusion, an extended-level rule); basic
// and disabled keep Gemm, Relu, Gemm as written.
func TestOptimizationLevels(t *testing.T) {
	env := testEnv(t)
	for _, level := range []string{"", OptimizeBasic, OptimizeExtended, OptimizeAll, OptimizeDisabled} {
		if err := ParseOptimization(level); err != nil {
			t.Errorf("ParseOptimization(%q): %v", level, err)
		}
		path := filepath.Join(t.TempDir(), "optimized.onnx")
		s, err := Open(env, fixture("mlp_logits.onnx"), Options{IntraOpThreads: 1, Optimization: level, OptimizedModelPath: path})
		if err != nil {
			t.Fatalf("level %q: %v", level, err)
		}
		s.Close()
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatalf("level %q: the optimised model: %v", level, err)
		}
		t.Logf("level %q: %v", level, m.OpHistogram())
		orig, err := onnx.Load(fixture("mlp_logits.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		fused := false
		for _, c := range m.OpHistogram() {
			fused = fused || c.Op == "FusedGemm"
		}
		if want := level != OptimizeBasic && level != OptimizeDisabled; fused != want {
			t.Errorf("level %q: FusedGemm in the graph ORT runs: %v; want %v", level, fused, want)
		}
		if (level == OptimizeBasic || level == OptimizeDisabled) && len(m.Proto.GetGraph().GetNode()) != len(orig.Proto.GetGraph().GetNode()) {
			t.Errorf("level %q: %d nodes; the model has %d", level, len(m.Proto.GetGraph().GetNode()), len(orig.Proto.GetGraph().GetNode()))
		}
	}
	err := ParseOptimization("max")
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "want basic, extended, all or disabled") {
		t.Errorf("ParseOptimization(max): %v; want exit code 2 listing the levels", err)
	}
	if _, err := Open(env, fixture("mlp_logits.onnx"), Options{Optimization: "max"}); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("Open at level max: %v; want exit code 2", err)
	}
}
