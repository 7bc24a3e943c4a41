package grad_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// linear returns a model z = x Wᵀ + b with x [batch, 3] (batch −1:
// dynamic) and 4 classes, in element type elem.
func linear(elem int32, batch int64, w, b []float64) *onnx.Model {
	m := onnx.NewModel("linear", 13)
	bl := onnx.NewBuilder(m, "l/")
	bl.AddInput("x", elem, []int64{batch, 3}, "N")
	wn := bl.ConstFloat("w", elem, []int64{4, 3}, w)
	bn := bl.ConstFloat("b", elem, []int64{4}, b)
	bl.NodeOut("Gemm", []string{"x", wn, bn}, []string{"logits"}, onnx.AttrInt("transB", 1))
	bl.AddOutput("logits", elem, []int64{batch, 4}, "N")
	return m
}

// ceGrad is the closed form ∂CE/∂x = Wᵀ(softmax(Wx + b) − e_y).
func ceGrad(w, b []float64, x []float32, y int64) []float64 {
	z := make([]float64, 4)
	top := math.Inf(-1)
	for k := range z {
		z[k] = b[k]
		for j := 0; j < 3; j++ {
			z[k] += w[k*3+j] * float64(x[j])
		}
		top = math.Max(top, z[k])
	}
	var s float64
	for k := range z {
		z[k] = math.Exp(z[k] - top)
		s += z[k]
	}
	g := make([]float64, 3)
	for k := range z {
		d := z[k] / s
		if int64(k) == y {
			d--
		}
		for j := 0; j < 3; j++ {
			g[j] += w[k*3+j] * d
		}
	}
	return g
}

// Tolerances against the closed form: float32 runs resolve ~1e-7 relative
// per operation on O(1) values; float64 runs ~1e-16.
const (
	closedTol32 = 1e-5
	closedTol64 = 1e-12
	f32Round    = 1.0 / (1 << 24)
)

// TestComputeBatching runs Compute on 7 samples with a fixed batch of 4
// (the last batch is padded), a dynamic batch of 3, and in float64, and
// checks every gradient against the closed form.
func TestComputeBatching(t *testing.T) {
	needORT(t)
	r := rand.New(rand.NewPCG(1, 2))
	w, b := make([]float64, 12), make([]float64, 4)
	for i := range w {
		w[i] = r.Float64()*2 - 1
	}
	for i := range b {
		b[i] = r.Float64() - 0.5
	}
	const n = 7
	d := &data.Dataset{X: make([]float32, n*3), N: n, SampleShape: []int{3}, Y: make([]int64, n)}
	for i := range d.X {
		d.X[i] = float32(r.Float64()*2 - 1)
	}
	for i := range d.Y {
		d.Y[i] = int64(i % 4)
	}
	for _, tc := range []struct {
		name  string
		elem  int32
		batch int64
		opt   int
		tol   float64
	}{{"fixed batch 4", onnx.Float32, 4, 0, closedTol32}, {"dynamic batch 3", onnx.Float32, -1, 3, closedTol32}, {"float64", onnx.Float64, -1, 5, closedTol64}} {
		res, err := grad.Compute(context.Background(), linear(tc.elem, tc.batch, w, b), d, grad.Options{Batch: tc.opt, Spec: autodiff.Spec{Loss: "ce"}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(res.Grad) != n*3 || res.Shape[0] != n || res.Shape[1] != 3 {
			t.Fatalf("%s: %d values, shape %v", tc.name, len(res.Grad), res.Shape)
		}
		for i := 0; i < n; i++ {
			want := ceGrad(w, b, d.X[i*3:i*3+3], d.Y[i])
			for j := range want {
				// Result.Grad is float32 even for float64 models: add its
				// rounding (2⁻²⁴ relative) to the run's tolerance.
				if e := math.Abs(float64(res.Grad[i*3+j]) - want[j]); e > (tc.tol+f32Round)*math.Max(1, math.Abs(want[j])) {
					t.Errorf("%s: sample %d coord %d: %v, closed form %v", tc.name, i, j, res.Grad[i*3+j], want[j])
				}
			}
		}
	}
}
