// Package train is Gauntlet's built-in trainer: small classifiers
// (multinomial logistic regression and a one-hidden-layer ReLU network)
// fitted with gorgonia on in-memory data and written out as ONNX through
// Gauntlet's own ONNX builder, so that the trained models run through
// ONNX Runtime like any user model. The poisoning suite's susceptibility
// experiments use it.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gauntlet-ml/gauntlet/onnx"
)

// Architectures.
const (
	LogReg = "logreg" // softmax(x·W + b) on the flattened input
	MLP    = "mlp"    // softmax(relu(x·W1 + b1)·W2 + b2)
)

// Config configures a training run.
type Config struct {
	Arch         string  // LogReg or MLP
	Hidden       int     // hidden units (MLP)
	Epochs       int     // passes over the data
	Batch        int     // rows per Adam step (the shuffled tail of an epoch is dropped)
	LearningRate float64 // Adam step size
	Seed         uint64  // initial weights and epoch shuffles
}

// Defaults are the settings used unless configured otherwise.
var Defaults = Config{Arch: MLP, Hidden: 64, Epochs: 30, Batch: 32, LearningRate: 3e-3}

// Net is a trained classifier on flattened inputs of D values. For LogReg
// H is 0 and W1/B1 are the output layer.
type Net struct {
	D, H, K int
	W1, B1  []float64 // D×H (D×K for LogReg), H
	W2, B2  []float64 // H×K, K (MLP only)
}

// Fit trains a classifier on n = len(y) samples of d values each (x is
// n×d, row-major) with labels in [0, k). The inputs are used as they are
// (no standardisation), so the ONNX model reads the same values. Weights
// start Glorot-uniform from cfg.Seed; the result is deterministic.
func Fit(x []float32, d int, y []int64, k int, cfg Config) (*Net, error) {
	n := len(y)
	if n == 0 || d == 0 || len(x) != n*d {
		return nil, fmt.Errorf("train: %d labels and %d values do not make samples of %d values", n, len(x), d)
	}
	if cfg.Arch != LogReg && cfg.Arch != MLP {
		return nil, fmt.Errorf("train: architecture %q: want logreg or mlp", cfg.Arch)
	}
	if cfg.Epochs < 1 || cfg.Batch < 1 || cfg.LearningRate <= 0 || (cfg.Arch == MLP && cfg.Hidden < 1) {
		return nil, fmt.Errorf("train: epochs, batch, learning rate and hidden units must be positive")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x747261696e))
	b := min(cfg.Batch, n)
	glorot := func(in, out int) []float64 {
		w := make([]float64, in*out)
		a := math.Sqrt(6 / float64(in+out))
		for i := range w {
			w[i] = a * (2*rng.Float64() - 1)
		}
		return w
	}
	g := G.NewGraph()
	mat := func(name string, r, c int, v []float64) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(v))))
	}
	xb := make([]float64, b*d)
	yb := make([]float64, b*k)
	X := mat("x", b, d, xb)
	Y := mat("y", b, k, yb)
	net := &Net{D: d, K: k}
	var learn G.Nodes
	var logits *G.Node
	if cfg.Arch == LogReg {
		W := mat("w", d, k, glorot(d, k))
		B := mat("b", 1, k, make([]float64, k))
		logits = G.Must(G.BroadcastAdd(G.Must(G.Mul(X, W)), B, nil, []byte{0}))
		learn = G.Nodes{W, B}
	} else {
		h := cfg.Hidden
		net.H = h
		W1 := mat("w1", d, h, glorot(d, h))
		B1 := mat("b1", 1, h, make([]float64, h))
		W2 := mat("w2", h, k, glorot(h, k))
		B2 := mat("b2", 1, k, make([]float64, k))
		hid := G.Must(G.Rectify(G.Must(G.BroadcastAdd(G.Must(G.Mul(X, W1)), B1, nil, []byte{0}))))
		logits = G.Must(G.BroadcastAdd(G.Must(G.Mul(hid, W2)), B2, nil, []byte{0}))
		learn = G.Nodes{W1, B1, W2, B2}
	}
	logp := G.Must(G.LogSoftMax(logits))
	cost := G.Must(G.Div(G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(logp, Y)))))), G.NewConstant(float64(b))))
	if _, err := G.Grad(cost, learn...); err != nil {
		return nil, fmt.Errorf("train: gradient: %w", err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(cfg.LearningRate))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	for ep := 0; ep < cfg.Epochs; ep++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for s := 0; s+b <= n; s += b {
			clear(yb)
			for r, i := range order[s : s+b] {
				for j := 0; j < d; j++ {
					xb[r*d+j] = float64(x[i*d+j])
				}
				yb[r*k+int(y[i])] = 1
			}
			if err := vm.RunAll(); err != nil {
				return nil, fmt.Errorf("train: epoch %d: %w", ep, err)
			}
			if err := solver.Step(G.NodesToValueGrads(learn)); err != nil {
				return nil, fmt.Errorf("train: epoch %d: %w", ep, err)
			}
			vm.Reset()
		}
	}
	val := func(nd *G.Node) []float64 { return append([]float64(nil), nd.Value().Data().([]float64)...) }
	net.W1, net.B1 = val(learn[0]), val(learn[1])
	if cfg.Arch == MLP {
		net.W2, net.B2 = val(learn[2]), val(learn[3])
	}
	return net, nil
}

// Logits writes the network's logits for one sample x (D values) into dst
// (K values); hidden is scratch of H values (nil for LogReg).
func (m *Net) Logits(dst []float64, x []float32, hidden []float64) {
	w, bias, in := m.W1, m.B1, m.D
	var feats []float64
	if m.H > 0 {
		for u := 0; u < m.H; u++ {
			s := m.B1[u]
			for j := 0; j < m.D; j++ {
				s += float64(x[j]) * m.W1[j*m.H+u]
			}
			hidden[u] = max(s, 0)
		}
		w, bias, in, feats = m.W2, m.B2, m.H, hidden
	}
	for c := 0; c < m.K; c++ {
		s := bias[c]
		for j := 0; j < in; j++ {
			v := 0.0
			if feats != nil {
				v = feats[j]
			} else {
				v = float64(x[j])
			}
			s += v * w[j*m.K+c]
		}
		dst[c] = s
	}
}

// ONNX returns the network as an ONNX model (opset 13) with one float32
// input of shape [N, sample...] called input and one output logits
// [N, K]: Flatten, Gemm (and Relu, Gemm for the MLP). Weights are stored
// as float32.
func (m *Net) ONNX(input string, sample []int) (*onnx.Model, error) {
	size := 1
	for _, s := range sample {
		size *= s
	}
	if size != m.D {
		return nil, fmt.Errorf("train: sample shape %v has %d values; the network takes %d", sample, size, m.D)
	}
	model := onnx.NewModel("gauntlet_trained_"+m.arch(), 13)
	b := onnx.NewBuilder(model, "")
	shape := []int64{-1}
	for _, s := range sample {
		shape = append(shape, int64(s))
	}
	b.AddInput(input, onnx.Float32, shape, "N")
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	flat := b.Op("Flatten", []string{input}, onnx.AttrInt("axis", 1))
	out := m.K
	if m.H > 0 {
		out = m.H
	}
	w1 := b.Initializer(onnx.TensorF32("fc1.weight", []int64{int64(m.D), int64(out)}, f32(m.W1)))
	b1 := b.Initializer(onnx.TensorF32("fc1.bias", []int64{int64(out)}, f32(m.B1)))
	z := b.Op("Gemm", []string{flat, w1, b1})
	if m.H > 0 {
		hid := b.Op("Relu", []string{z})
		w2 := b.Initializer(onnx.TensorF32("fc2.weight", []int64{int64(m.H), int64(m.K)}, f32(m.W2)))
		b2 := b.Initializer(onnx.TensorF32("fc2.bias", []int64{int64(m.K)}, f32(m.B2)))
		z = b.Op("Gemm", []string{hid, w2, b2})
	}
	b.Identity(z, "logits")
	b.AddOutput("logits", onnx.Float32, []int64{-1, int64(m.K)}, "N")
	if err := model.Check(); err != nil {
		return nil, fmt.Errorf("train: onnx model: %w", err)
	}
	return model, nil
}

func (m *Net) arch() string {
	if m.H > 0 {
		return MLP
	}
	return LogReg
}
