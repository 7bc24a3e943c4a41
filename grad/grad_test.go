package grad_test

import (
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"github.com/sbinet/npyio"
	"github.com/sbinet/npyio/npz"

	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
)

func needORT(t *testing.T) {
	t.Helper()
	if err := ortexec.Init(testutil.ORTLibrary(t)); err != nil {
		t.Fatalf("onnx runtime: %v", err)
	}
}

func visionDir(t *testing.T) string {
	t.Helper()
	return testutil.Shared(t, "fixtures/vision")
}

// refTol is the per-sample tolerance floor against PyTorch's
// float64 gradients (relative L2), used with 10× PyTorch's own float32 error.
const refTol = 1e-4

func relL2(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

// TestRunMNIST runs the CLI path on the 64 reference samples of
// gradients_mnist_cnn.npz in batches of 24 (so the last batch is partial),
// reads the written .npy back with npyio and compares it with PyTorch's
// float64 cross-entropy gradients (README "Gradient references").
func TestRunMNIST(t *testing.T) {
	needORT(t)
	dir := visionDir(t)
	ref := filepath.Join(dir, "gradients_mnist_cnn.npz")
	out := t.TempDir()
	sum, err := grad.Run(context.Background(), grad.Args{
		Model: filepath.Join(dir, "mnist_cnn.onnx"), X: ref, Y: ref,
		Out: filepath.Join(out, "g.npy"), PNGDir: filepath.Join(out, "png"), Batch: 24,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Samples != 64 || len(sum.PNGs) != 64 {
		t.Fatalf("summary: %d samples, %d PNGs; want 64 and 64", sum.Samples, len(sum.PNGs))
	}
	f, err := os.Open(filepath.Join(out, "g.npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Descr.Shape; len(got) != 4 || got[0] != 64 || got[1] != 1 || got[2] != 28 || got[3] != 28 {
		t.Fatalf("written shape %v, want [64 1 28 28]", got)
	}
	var g []float32
	if err := r.Read(&g); err != nil {
		t.Fatal(err)
	}
	z, err := npz.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var want, want32 []float32
	if err := z.Read("grad_ce.npy", &want); err != nil {
		t.Fatal(err)
	}
	if err := z.Read("grad_ce_f32.npy", &want32); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64; i++ {
		s := i * 784
		e := relL2(g[s:s+784], want[s:s+784])
		tol := math.Max(refTol, 10*relL2(want32[s:s+784], want[s:s+784]))
		if e > tol {
			t.Errorf("sample %d: relative L2 error %.3g against PyTorch float64 > %.3g", i, e, tol)
		}
	}
	// the PNG of sample 0 decodes to a 28×28 image whose brightest pixel
	// is 255 (per-sample normalisation)
	pf, err := os.Open(sum.PNGs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 28 || b.Dy() != 28 {
		t.Fatalf("PNG size %v", b)
	}
	top := uint32(0)
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			v, _, _, _ := img.At(x, y).RGBA()
			top = max(top, v>>8)
		}
	}
	if top != 255 {
		t.Errorf("brightest saliency pixel %d, want 255", top)
	}
}

// TestRunErrors checks that bad input gives exit code 2 and names the
// problem.
func TestRunErrors(t *testing.T) {
	needORT(t)
	// Error paths need only a model: the repository's digits CNN (10
	// classes) and its evaluation split, so they run without ../shared.
	dir := testutil.Example(t, "")
	model := filepath.Join(dir, "digits_cnn.onnx")
	x := filepath.Join(dir, "digits_eval_x.npy")
	out := filepath.Join(t.TempDir(), "g.npy")
	for _, tc := range []struct {
		name string
		a    grad.Args
	}{
		{"no labels for ce", grad.Args{Model: model, X: x, Out: out}},
		{"bad loss", grad.Args{Model: model, X: x, Loss: "hinge", Out: out}},
		{"class out of range", grad.Args{Model: model, X: x, Loss: "logit:10", Out: out}},
		{"x does not fit", grad.Args{Model: model, X: filepath.Join(dir, "digits_eval_y.npy"), Loss: "logit:0", Out: out}},
		{"missing model", grad.Args{Model: filepath.Join(dir, "nope.onnx"), X: x, Loss: "logit:0", Out: out}},
		{"nothing to write", grad.Args{Model: model, X: x, Loss: "logit:0"}},
	} {
		_, err := grad.Run(context.Background(), tc.a)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if c := errs.Code(err, 99); c != errs.Invalid {
			t.Errorf("%s: exit code %d, want %d (%v)", tc.name, c, errs.Invalid, err)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

// TestWriteNPYRoundTrip writes a [2,1,3] array and reads it back with npyio.
func TestWriteNPYRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.npy")
	v := []float32{1, -2.5, 3, 0, float32(math.Pi), -1e-30}
	if err := grad.WriteNPY(p, v, []int{2, 1, 3}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Header.Descr.Shape; len(s) != 3 || s[0] != 2 || s[1] != 1 || s[2] != 3 {
		t.Fatalf("shape %v", s)
	}
	var got []float32
	if err := r.Read(&got); err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if got[i] != v[i] {
			t.Fatalf("value %d: %v, want %v", i, got[i], v[i])
		}
	}
	if err := grad.WriteNPY(p, v, []int{4}); err == nil {
		t.Fatal("shape mismatch not reported")
	}
}

// TestSaliency checks max-over-channels |g| normalised per sample on a
// hand-computed case: channels [1,−4,2] and [−3,0.5,0] give maxima
// [3,4,2], divided by 4.
func TestSaliency(t *testing.T) {
	dst := make([]float32, 3)
	grad.Saliency(dst, []float32{1, -4, 2, -3, 0.5, 0}, 2, 1, 3)
	want := []float32{0.75, 1, 0.5}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("saliency %v, want %v", dst, want)
		}
	}
	grad.Saliency(dst, make([]float32, 6), 2, 1, 3)
	for _, v := range dst {
		if v != 0 {
			t.Fatalf("zero gradient gives %v", dst)
		}
	}
}
