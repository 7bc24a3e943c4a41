package grad_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// perBatchTol bounds the float32 error of the gradients below: sums of
// eight terms of order 1.
const perBatchTol = 1e-5

// TestGraphSpecialisedPerBatch checks a model whose shape arithmetic reads
// the batch size N: logits z0 = Σ_{j<e} x_j with e = 4 + N mod 2 (a Slice
// end computed from Shape(x)[0]) and z1 = Σ_j tanh(x_j). No gradient graph
// can be built for a dynamic batch axis (the Slice end is unknown), so
// OpenTargetGraph specialises it on each batch size. The want is the
// cross-entropy gradient worked by hand: ∂CE/∂x_j = (p0 − [y=0])·[j<e] +
// (p1 − [y=1])·(1 − tanh² x_j), at N = 4 (e = 4) and N = 3 (e = 5).
func TestGraphSpecialisedPerBatch(t *testing.T) {
	m := onnx.NewModel("perbatch", 13)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{-1, 8}, "N")
	n := b.Op("Gather", []string{b.Shape(x), b.ConstI64(0)}, onnx.AttrInt("axis", 0)) // [1]
	e := b.Op("Add", []string{b.Op("Mod", []string{n, b.ConstI64(2)}), b.ConstI64(4)})
	s := b.Op("Slice", []string{x, b.ConstI64(0), e, b.ConstI64(1)})
	z0 := b.ReduceSum(s, []int64{1}, true)
	z1 := b.ReduceSum(b.Op("Tanh", []string{x}), []int64{1}, true)
	z := b.Op("Concat", []string{z0, z1}, onnx.AttrInt("axis", 1))
	b.Identity(z, "logits")
	b.AddOutput("logits", onnx.Float32, []int64{-1, 2}, "N")
	path := filepath.Join(t.TempDir(), "perbatch.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := autodiff.BuildNamed(m, autodiff.Spec{}); err == nil {
		t.Fatal("the gradient graph built for a dynamic batch axis: the test no longer exercises specialisation")
	}
	tg := suitetest.Open(t, path, nil)
	tg.BatchSize = 4
	spec := grad.TargetSpec(tg, autodiff.LossCE, "g")
	g, err := grad.OpenTargetGraph(tg, "test graph", tg.Model, spec,
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{{Name: nm.Input, Type: "float32", Sample: []int64{8}}, {Name: nm.Labels, Type: "int64"}}
		},
		func(nm autodiff.Names) []runtime.GraphTensor {
			return []runtime.GraphTensor{{Name: nm.Grad, Type: "float32", Sample: []int64{8}}}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !g.PerBatch() {
		t.Error("PerBatch() = false, want a graph specialised per batch size")
	}
	r, err := g.NewRunner(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, rows := range []int{4, 3, 4} {
		xs := r.F32In(0)
		for i := range xs[:rows*8] {
			xs[i] = float32(math.Sin(float64(i)*0.7)) * 0.8
		}
		ys := r.I64In(1)
		for i := 0; i < rows; i++ {
			ys[i] = int64(i % 2)
		}
		if err := r.Run(context.Background(), rows); err != nil {
			t.Fatalf("%d rows: %v", rows, err)
		}
		end := 4 + rows%2
		for i := 0; i < rows; i++ {
			row := xs[i*8 : i*8+8]
			var z0, z1 float64
			for j, v := range row {
				if j < end {
					z0 += float64(v)
				}
				z1 += math.Tanh(float64(v))
			}
			p0 := 1 / (1 + math.Exp(z1-z0))
			d0, d1 := p0, 1-p0
			if ys[i] == 0 {
				d0--
			} else {
				d1--
			}
			for j, v := range row {
				th := math.Tanh(float64(v))
				want := d1 * (1 - th*th)
				if j < end {
					want += d0
				}
				if got := float64(r.Out(0)[i*8+j]); math.Abs(got-want) > perBatchTol {
					t.Errorf("%d rows, sample %d, x_%d: gradient %g, want %g", rows, i, j, got, want)
				}
			}
		}
	}
}
