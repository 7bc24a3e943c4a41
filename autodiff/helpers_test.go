package autodiff_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// needORT initialises ONNX Runtime or skips the test (fails under CI=true).
func needORT(tb testing.TB) {
	tb.Helper()
	if err := ortexec.Init(""); err != nil {
		if errors.Is(err, ortexec.ErrNoLibrary) && os.Getenv("CI") != "true" {
			tb.Skipf("onnx runtime not available: %v", err)
		}
		tb.Fatalf("onnx runtime: %v", err)
	}
}

// visionDir returns ../shared/fixtures/vision beside the repository, or
// skips the test when it is absent.
func visionDir(tb testing.TB) string {
	tb.Helper()
	d := filepath.Join("..", "..", "shared", "fixtures", "vision")
	if _, err := os.Stat(d); err != nil {
		tb.Skipf("shared fixtures not available: %v", err)
	}
	return d
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
