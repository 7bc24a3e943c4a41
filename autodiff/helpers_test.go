package autodiff_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// needORT initialises ONNX Runtime or skips the test (fails under CI=true:
// internal/testutil.ORTLibrary).
func needORT(tb testing.TB) {
	tb.Helper()
	if err := ortexec.Init(testutil.ORTLibrary(tb)); err != nil {
		tb.Fatalf("onnx runtime: %v", err)
	}
}

// visionDir returns ../shared/fixtures/vision beside the repository
// (internal/testutil.Shared: skips when absent, fails under CI=true).
func visionDir(tb testing.TB) string {
	tb.Helper()
	return testutil.Shared(tb, "fixtures/vision")
}

// gradModel builds the gradient graph and opens it in ORT with the inputs
// (input, labels if any) and outputs (loss, grad) in that order.
func gradModel(tb testing.TB, m *onnx.Model, spec autodiff.Spec, opt ortexec.Options) (*ortexec.Session, autodiff.Names) {
	tb.Helper()
	gm, nm, err := autodiff.BuildNamed(m, spec)
	if err != nil {
		tb.Fatalf("build: %v", err)
	}
	ins := []string{nm.Input}
	if nm.Labels != "" {
		ins = append(ins, nm.Labels)
	}
	s, err := ortexec.NewSession(gm.Bytes, ins, []string{nm.Loss, nm.Grad}, opt)
	if err != nil {
		if dir := os.Getenv("GAUNTLET_DUMP"); dir != "" {
			_ = gm.Save(filepath.Join(dir, "failed.onnx"))
		}
		tb.Fatalf("session: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, nm
}

// readNPY reads a .npy file into ptr.
func readNPY(path string, ptr any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return npyio.Read(f, ptr)
}
