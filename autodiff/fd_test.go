package autodiff_test

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// Finite-difference tolerances. The check compares the ORT-run gradient g
// with central differences d of the ORT forward pass on up to fdMaxCoords
// input coordinates and requires max_j |g_j − d_j| ≤ tol · max_j |d_j|.
const (
	// fdStep64 and fdTol64: in float64 the central difference has
	// truncation error ~h²·|f'''| ≈ 1e-10 and rounding error
	// ~ε·|L|/h ≈ 1e-16·10/1e-5 = 1e-10 relative to gradients of order 1,
	// so 1e-6 leaves four orders of margin and still catches any wrong rule
	// (wrong rules give errors of order 1).
	fdStep64 = 1e-5
	fdTol64  = 1e-6
	// fdStep32 and fdTol32: operators ORT runs only in float32 get h = 1e-2
	// (rounding ~6e-8·|L|/h ≈ 1e-4 relative, truncation ~h² ≈ 1e-4) and a
	// tolerance of 1e-2, still two orders below a wrong rule.
	fdStep32 = 1e-2
	fdTol32  = 1e-2
	// fdMaxCoords bounds the coordinates checked per case.
	fdMaxCoords = 48
)

// builder writes the graph under test on input x (batch axis first) with
// constants of element type elem, and returns the tensor the loss reads.
type builder func(b *onnx.Builder, x string, elem int32, r *rand.Rand) string

type fdCase struct {
	name  string
	opset int64
	shape []int64 // one sample, without the batch axis
	build builder
	pos   bool // inputs in (0.5, 1.5) instead of (−1, 1)
	// distinct: inputs are a shuffled grid in (−3, 3) whose spacing is
	// above 4h, so that no ±h step crosses a tie of a max (MaxPool) or a
	// kink at 0 (the grid is offset by half a step).
	distinct bool
	loss     string // "" means reduce of the build output times a random weight
	f32      bool   // the ops have no float64 kernel in ORT: run in float32
	labels   []int64
	kind     string // Spec.OutputKind for loss heads
	// dynamic declares every input dim as dynamic (-1), so that rules
	// must work without static sizes (run-time broadcasting fallbacks).
	// outShape is the per-sample output shape of a dynamic case, or of an
	// operator whose output shape Infer does not know (for the loss
	// weight).
	dynamic  bool
	outShape []int64
	// step overrides the float32 step: cases whose intermediate tensors
	// (conv outputs) have near-ties that a 1e-2 step crosses use 1e-3,
	// where rounding (~6e-8·|L|/h ≈ 2e-4 relative) still fits fdTol32.
	step float64
	// single runs every (perturbed) sample as a batch of its own, for
	// graphs that use the batch axis as a data axis (a Squeeze of it
	// makes a 1-D operand that depends on the input).
	single bool
}

func randVals(r *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float64()
	}
	return v
}

func prod(s []int64) int {
	n := 1
	for _, d := range s {
		n *= int(d)
	}
	return n
}

// cst adds a random constant of the given shape.
func cst(b *onnx.Builder, elem int32, r *rand.Rand, dims ...int64) string {
	return b.ConstFloat("w", elem, dims, randVals(r, prod(dims), -1, 1))
}

// makeModel builds the case's model and returns it with the spec to
// differentiate it.
func (fc fdCase) makeModel(t *testing.T, elem int32) (*onnx.Model, autodiff.Spec) {
	r := rand.New(rand.NewPCG(20240601, uint64(len(fc.name))))
	opset := fc.opset
	if opset == 0 {
		opset = 17
	}
	m := onnx.NewModel(fc.name, opset)
	b := onnx.NewBuilder(m, "t/")
	decl := append([]int64{-1}, fc.shape...)
	if fc.dynamic {
		for i := range decl {
			decl[i] = -1
		}
	}
	b.AddInput("x", elem, decl, "N")
	y := fc.build(b, "x", elem, r)
	spec := autodiff.Spec{Loss: fc.loss, Output: y, OutputKind: fc.kind}
	if fc.loss == "" {
		inf := m.Infer()
		ys := inf.Types[y].Shape
		if fc.dynamic || fc.outShape != nil {
			ys = append([]int64{-1}, fc.outShape...)
		}
		if ys == nil || !(onnx.ValueType{Shape: ys[1:]}).Known() {
			t.Fatalf("%s: output %q has no static shape (%v)", fc.name, y, ys)
		}
		w := cst(b, elem, r, ys[1:]...)
		y = b.Op("Mul", []string{y, w})
		spec = autodiff.Spec{Loss: autodiff.LossReduce, Tensor: y}
	}
	b.AddOutput(y, elem, nil)
	if err := m.Check(); err != nil {
		t.Fatalf("%s: test model: %v", fc.name, err)
	}
	return m, spec
}

func runFD(t *testing.T, fc fdCase) {
	needORT(t)
	elem := onnx.Float64
	if fc.f32 {
		elem = onnx.Float32
	}
	m, spec := fc.makeModel(t, elem)
	gm, nm, err := autodiff.BuildNamed(m, spec)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	ins := []string{nm.Input}
	if nm.Labels != "" {
		ins = append(ins, nm.Labels)
	}
	s, err := ortexec.NewSession(gm.Bytes, ins, []string{nm.Loss, nm.Grad}, ortexec.Options{IntraOpThreads: 1})
	if err != nil {
		if elem == onnx.Float64 && strings.Contains(err.Error(), "implementation") {
			t.Fatalf("no float64 kernel: mark the case f32: %v", err)
		}
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(7, uint64(len(fc.name))))
	per := prod(fc.shape)
	lo, hi := -1.0, 1.0
	if fc.pos {
		lo, hi = 0.5, 1.5
	}
	x0 := randVals(r, per, lo, hi)
	h, tol := fdStep64, fdTol64
	if elem == onnx.Float32 {
		h, tol = fdStep32, fdTol32
	}
	if fc.step > 0 {
		h = fc.step
	}
	if fc.distinct {
		step := 6.0 / float64(per)
		if step <= 4*h {
			t.Fatalf("distinct grid spacing %.3g is not above 4h = %.3g: use a smaller input", step, 4*h)
		}
		for i, p := range r.Perm(per) {
			x0[i] = -3 + step*(float64(p)+0.5)
		}
	}
	coords := r.Perm(per)
	if len(coords) > fdMaxCoords {
		coords = coords[:fdMaxCoords]
	}
	// batch: x0 first, then x0 ± h e_j for each checked coordinate; the
	// per-sample losses are independent, so one run gives every difference.
	nb := 1 + 2*len(coords)
	xb := make([]float64, 0, nb*per)
	xb = append(xb, x0...)
	for _, j := range coords {
		for _, sg := range []float64{1, -1} {
			row := append([]float64{}, x0...)
			row[j] += sg * h
			xb = append(xb, row...)
		}
	}
	in := []ortexec.Tensor{{Shape: append([]int64{int64(nb)}, fc.shape...)}}
	if elem == onnx.Float64 {
		in[0].F64 = xb
	} else {
		in[0].F32 = make([]float32, len(xb))
		for i, v := range xb {
			in[0].F32[i] = float32(v)
		}
	}
	if nm.Labels != "" {
		lab := make([]int64, nb)
		for i := range lab {
			lab[i] = fc.labels[0]
		}
		in = append(in, ortexec.Tensor{Shape: []int64{int64(nb)}, I64: lab})
	}
	out, err := runBatch(s, in, fc.single)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	loss, grad := toF64(out[0]), toF64(out[1])
	if len(grad) != nb*per || len(loss) != nb {
		t.Fatalf("got %d gradient values and %d losses for batch %d × %d", len(grad), len(loss), nb, per)
	}
	var maxErr, scale float64
	for k, j := range coords {
		d := (loss[1+2*k] - loss[2+2*k]) / (2 * h)
		// the gradient of x0 (sample 0); every sample's gradient is its own
		g := grad[j]
		if os.Getenv("FD_DEBUG") != "" {
			t.Logf("coord %d: grad %.6g fd %.6g", j, g, d)
		}
		maxErr = math.Max(maxErr, math.Abs(g-d))
		scale = math.Max(scale, math.Abs(d))
	}
	if scale == 0 {
		t.Fatalf("all checked finite differences are zero: the case tests nothing")
	}
	if maxErr > tol*scale {
		t.Errorf("%s (%s): max |grad − finite difference| = %.3g > %.g × max |fd| = %.3g", fc.name, onnx.ElemName(elem), maxErr, tol, tol*scale)
	} else {
		t.Logf("%s (%s): relative error %.2g over %d coordinates", fc.name, onnx.ElemName(elem), maxErr/scale, len(coords))
	}
	// Per-sample: the perturbed samples' gradients stay close to sample 0's
	// (they differ by O(h)), a check that samples do not mix. The change
	// is at most h·|∂²L/∂x_j∂x_i|: mixBound64·h allows second derivatives
	// up to 1e3 (float64, h = 1e-5); float32 runs take h = 1e-2, where
	// mixBound32·h allows second derivatives up to 30 (the ratio is logged
	// as "mix ratio"; the largest over the 118 float32 runs is Softsign's
	// 2.96, measured; samples that mix differ by O(|g|), a ratio ~1/h = 100).
	bound := mixBound64
	if elem == onnx.Float32 {
		bound = mixBound32
	}
	var mix float64
	for k := 1; k < nb; k++ {
		for j := 0; j < per; j++ {
			d := math.Abs(grad[k*per+j] - grad[j])
			mix = math.Max(mix, d/(h*math.Max(1, scale)))
			if d > bound*h*math.Max(1, scale) && !fc.kinked() {
				t.Fatalf("sample %d coordinate %d: gradient %g vs sample 0's %g (|Δ| %.3g > %g·h·max(1, max|fd|)): samples interact?", k, j, grad[k*per+j], grad[j], d, bound)
			}
		}
	}
	t.Logf("%s (%s): mix ratio max|g_k − g_0|/(h·max(1,|fd|)) = %.3g (kinked: %v)", fc.name, onnx.ElemName(elem), mix, fc.kinked())
}

// Bounds of the per-sample check above, in units of h·max(1, max|fd|).
const (
	mixBound64 = 1e3
	mixBound32 = 30
)

// kinkedOps are the operators whose gradient jumps at a kink or tie (max,
// thresholds, clipping, piecewise-linear or piecewise-defined
// activations): a float32 step h = 1e-2 may cross one, so the per-sample
// smoothness check is off for float32 cases built on them. Smooth float32
// operators (Conv, pools that average, Softplus, Gelu, Erf, Mean,
// InstanceNormalization, Celu whose derivative is continuous, ...) keep it.
var kinkedOps = []string{"Clip", "Elu", "GlobalMaxPool", "HardSigmoid", "HardSwish", "LeakyRelu", "MaxPool", "Relu", "Selu", "ThresholdedRelu"}

// kinked reports cases whose gradient may jump under an O(h) change,
// where the per-sample smoothness check is skipped: float32 cases of a
// kinked operator (float64 steps of 1e-5 do not cross the kinks of the
// random inputs).
func (fc fdCase) kinked() bool {
	if !fc.f32 {
		return false
	}
	for _, op := range kinkedOps {
		if strings.HasPrefix(fc.name, op) {
			return true
		}
	}
	return false
}

func toF64(t ortexec.Tensor) []float64 {
	if t.F64 != nil {
		return t.F64
	}
	out := make([]float64, len(t.F32))
	for i, v := range t.F32 {
		out[i] = float64(v)
	}
	return out
}

// runBatch runs the session on in, at once or (single) one sample at a
// time, and returns the outputs concatenated along the batch axis.
func runBatch(s *ortexec.Session, in []ortexec.Tensor, single bool) ([]ortexec.Tensor, error) {
	if !single {
		return s.Run(in)
	}
	nb := int(in[0].Shape[0])
	var all []ortexec.Tensor
	for k := 0; k < nb; k++ {
		one := make([]ortexec.Tensor, len(in))
		for i, t := range in {
			per := prod(t.Shape[1:])
			one[i] = ortexec.Tensor{Shape: append([]int64{1}, t.Shape[1:]...)}
			switch {
			case t.F64 != nil:
				one[i].F64 = t.F64[k*per : (k+1)*per]
			case t.F32 != nil:
				one[i].F32 = t.F32[k*per : (k+1)*per]
			default:
				one[i].I64 = t.I64[k*per : (k+1)*per]
			}
		}
		out, err := s.Run(one)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = make([]ortexec.Tensor, len(out))
		}
		for i, o := range out {
			all[i].F64 = append(all[i].F64, o.F64...)
			all[i].F32 = append(all[i].F32, o.F32...)
		}
	}
	return all, nil
}
