package train

import (
	"context"
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
	CNN    = "cnn"    // Conv(Filters, 3×3, pad 1)-ReLU-MaxPool 2-Flatten, then the MLP
)

// Config configures a training run.
type Config struct {
	Arch         string  // LogReg or MLP
	Hidden       int     // hidden units (MLP, CNN)
	Filters      int     // convolution filters (CNN)
	Epochs       int     // passes over the data
	Batch        int     // rows per Adam step (the shuffled tail of an epoch is dropped)
	LearningRate float64 // Adam step size
	Seed         uint64  // initial weights and epoch shuffles
}

// Defaults are the settings used unless configured otherwise.
var Defaults = Config{Arch: MLP, Hidden: 64, Filters: 8, Epochs: 30, Batch: 32, LearningRate: 3e-3}

// Net is a trained classifier on inputs of D values. For LogReg H is 0 and
// W1/B1 are the output layer. A CNN first maps its [C, Ht, Wd] input
// through a 3×3 convolution of F filters (pad 1), ReLU and 2×2 max
// pooling; W1 then reads the F×(Ht/2)×(Wd/2) pooled values.
type Net struct {
	D, H, K     int
	W1, B1      []float64 // D×H (D×K for LogReg), H
	W2, B2      []float64 // H×K, K (MLP and CNN)
	F           int       // CNN filters (0: no convolution)
	C, Ht, Wd   int       // CNN input channels, height and width
	Conv, ConvB []float64 // F×C×3×3, F
}

// Fit trains a classifier on n = len(y) samples of the given shape (x is
// sample-major) with labels in [0, k). The inputs are used as they are (no
// standardisation), so the ONNX model reads the same values. Weights start
// Glorot-uniform from cfg.Seed; the result is deterministic. A CNN needs
// samples of shape [C, H, W] or [H, W] with H, W ≥ 2.
func Fit(x []float32, shape []int, y []int64, k int, cfg Config) (*Net, error) {
	targets := make([]float64, len(y)*k)
	for i, c := range y {
		if c < 0 || int(c) >= k {
			return nil, fmt.Errorf("train: label %d of sample %d is not a class in [0, %d)", c, i, k)
		}
		targets[i*k+int(c)] = 1
	}
	return FitTargets(context.Background(), x, shape, targets, k, cfg)
}

// FitTargets is Fit with a target distribution per sample instead of a
// label: targets holds n×k values, sample-major, each row the
// probabilities the cross-entropy is taken against (a one-hot row is a
// label). Model extraction trains on a model's output probabilities with
// it. Training stops with ctx's error when ctx is done (checked before
// every step).
func FitTargets(ctx context.Context, x []float32, shape []int, targets []float64, k int, cfg Config) (*Net, error) {
	if k < 1 || len(targets)%k != 0 {
		return nil, fmt.Errorf("train: %d target values are not rows of %d classes", len(targets), k)
	}
	n := len(targets) / k
	d := 1
	for _, s := range shape {
		d *= s
	}
	if n == 0 || d == 0 || len(x) != n*d {
		return nil, fmt.Errorf("train: %d labels and %d values do not make samples of %d values", n, len(x), d)
	}
	if cfg.Arch != LogReg && cfg.Arch != MLP && cfg.Arch != CNN {
		return nil, fmt.Errorf("train: architecture %q: want logreg, mlp or cnn", cfg.Arch)
	}
	if cfg.Epochs < 1 || cfg.Batch < 1 || cfg.LearningRate <= 0 || (cfg.Arch != LogReg && cfg.Hidden < 1) || (cfg.Arch == CNN && cfg.Filters < 1) {
		return nil, fmt.Errorf("train: epochs, batch, learning rate, hidden units and filters must be positive")
	}
	var c, ht, wd int
	if cfg.Arch == CNN {
		switch len(shape) {
		case 2:
			c, ht, wd = 1, shape[0], shape[1]
		case 3:
			c, ht, wd = shape[0], shape[1], shape[2]
		default:
			return nil, fmt.Errorf("train: cnn needs samples of shape [C,H,W] or [H,W]; got %v", shape)
		}
		if ht < 2 || wd < 2 {
			return nil, fmt.Errorf("train: cnn needs images of at least 2×2; got %v", shape)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x747261696e))
	b := min(cfg.Batch, n)
	glorotN := func(n, in, out int) []float64 {
		w := make([]float64, n)
		a := math.Sqrt(6 / float64(in+out))
		for i := range w {
			w[i] = a * (2*rng.Float64() - 1)
		}
		return w
	}
	glorot := func(in, out int) []float64 { return glorotN(in*out, in, out) }
	g := G.NewGraph()
	mat := func(name string, r, c int, v []float64) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(v))))
	}
	xb := make([]float64, b*d)
	yb := make([]float64, b*k)
	Y := mat("y", b, k, yb)
	net := &Net{D: d, K: k}
	var learn G.Nodes
	var logits *G.Node
	var X *G.Node
	if cfg.Arch == CNN {
		X = G.NewTensor(g, tensor.Float64, 4, G.WithShape(b, c, ht, wd), G.WithName("x"),
			G.WithValue(tensor.New(tensor.WithShape(b, c, ht, wd), tensor.WithBacking(xb))))
	} else {
		X = mat("x", b, d, xb)
	}
	if cfg.Arch == CNN {
		f, h := cfg.Filters, cfg.Hidden
		net.F, net.C, net.Ht, net.Wd, net.H = f, c, ht, wd, h
		kw := glorotN(f*c*9, c*9, f*9)
		K := G.NewTensor(g, tensor.Float64, 4, G.WithShape(f, c, 3, 3), G.WithName("conv"),
			G.WithValue(tensor.New(tensor.WithShape(f, c, 3, 3), tensor.WithBacking(kw))))
		KB := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, f, 1, 1), G.WithName("conv_b"),
			G.WithValue(tensor.New(tensor.WithShape(1, f, 1, 1), tensor.WithBacking(make([]float64, f)))))
		conv, err := G.Conv2d(X, K, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
		if err != nil {
			return nil, fmt.Errorf("train: conv: %w", err)
		}
		conv, err = G.BroadcastAdd(conv, KB, nil, []byte{0, 2, 3})
		if err != nil {
			return nil, fmt.Errorf("train: conv bias: %w", err)
		}
		pool, err := G.MaxPool2D(G.Must(G.Rectify(conv)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
		if err != nil {
			return nil, fmt.Errorf("train: max pool: %w", err)
		}
		pd := f * (ht / 2) * (wd / 2)
		flat := G.Must(G.Reshape(pool, tensor.Shape{b, pd}))
		W1 := mat("w1", pd, h, glorot(pd, h))
		B1 := mat("b1", 1, h, make([]float64, h))
		W2 := mat("w2", h, k, glorot(h, k))
		B2 := mat("b2", 1, k, make([]float64, k))
		hid := G.Must(G.Rectify(G.Must(G.BroadcastAdd(G.Must(G.Mul(flat, W1)), B1, nil, []byte{0}))))
		logits = G.Must(G.BroadcastAdd(G.Must(G.Mul(hid, W2)), B2, nil, []byte{0}))
		learn = G.Nodes{W1, B1, W2, B2, K, KB}
	} else if cfg.Arch == LogReg {
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
			for r, i := range order[s : s+b] {
				for j := 0; j < d; j++ {
					xb[r*d+j] = float64(x[i*d+j])
				}
				copy(yb[r*k:(r+1)*k], targets[i*k:(i+1)*k])
			}
			if err := ctx.Err(); err != nil {
				return nil, err
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
	if cfg.Arch != LogReg {
		net.W2, net.B2 = val(learn[2]), val(learn[3])
	}
	if cfg.Arch == CNN {
		net.Conv, net.ConvB = val(learn[4]), val(learn[5])
	}
	return net, nil
}

// ScratchSize is the length of the scratch slice Logits needs.
func (m *Net) ScratchSize() int { return m.pooled() + m.H }

// pooled is the number of values after the CNN's pooling (0 without one).
func (m *Net) pooled() int {
	if m.F == 0 {
		return 0
	}
	return m.F * (m.Ht / 2) * (m.Wd / 2)
}

// Logits writes the network's logits for one sample x (D values) into dst
// (K values), in float64; scratch holds ScratchSize values.
func (m *Net) Logits(dst []float64, x []float32, scratch []float64) {
	var feats []float64
	if m.F > 0 {
		feats = scratch[:m.pooled()]
		m.convPool(feats, x)
	}
	w, bias, nIn := m.W1, m.B1, m.D
	if m.F > 0 {
		nIn = m.pooled()
	}
	if m.H > 0 {
		hidden := scratch[m.pooled() : m.pooled()+m.H]
		for u := 0; u < m.H; u++ {
			s := m.B1[u]
			for j := 0; j < nIn; j++ {
				s += input(x, feats, j) * m.W1[j*m.H+u]
			}
			hidden[u] = max(s, 0)
		}
		w, bias, nIn, feats = m.W2, m.B2, m.H, hidden
	}
	for c := 0; c < m.K; c++ {
		s := bias[c]
		for j := 0; j < nIn; j++ {
			s += input(x, feats, j) * w[j*m.K+c]
		}
		dst[c] = s
	}
}

// input is feature j: feats[j] when set, else the raw input x[j].
func input(x []float32, feats []float64, j int) float64 {
	if feats != nil {
		return feats[j]
	}
	return float64(x[j])
}

// convPool writes relu(conv3×3(x) + b) max-pooled 2×2 (stride 2) into dst
// (F × Ht/2 × Wd/2).
func (m *Net) convPool(dst []float64, x []float32) {
	ph, pw := m.Ht/2, m.Wd/2
	conv := func(f, r, q int) float64 {
		s := m.ConvB[f]
		for c := 0; c < m.C; c++ {
			for dr := -1; dr <= 1; dr++ {
				for dq := -1; dq <= 1; dq++ {
					rr, qq := r+dr, q+dq
					if rr < 0 || qq < 0 || rr >= m.Ht || qq >= m.Wd {
						continue
					}
					s += float64(x[(c*m.Ht+rr)*m.Wd+qq]) * m.Conv[((f*m.C+c)*3+dr+1)*3+dq+1]
				}
			}
		}
		return max(s, 0)
	}
	for f := 0; f < m.F; f++ {
		for r := 0; r < ph; r++ {
			for q := 0; q < pw; q++ {
				v := conv(f, 2*r, 2*q)
				v = max(v, conv(f, 2*r, 2*q+1), conv(f, 2*r+1, 2*q), conv(f, 2*r+1, 2*q+1))
				dst[(f*ph+r)*pw+q] = v
			}
		}
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
	feat, nIn := input, m.D
	if m.F > 0 {
		if len(sample) < 2 || sample[len(sample)-2] != m.Ht || sample[len(sample)-1] != m.Wd {
			return nil, fmt.Errorf("train: sample shape %v is not the network's %d×%d image", sample, m.Ht, m.Wd)
		}
		if len(sample) == 2 { // [H, W]: add the channel axis
			feat = b.Reshape(feat, 0, 1, int64(m.Ht), int64(m.Wd))
		}
		cw := b.Initializer(onnx.TensorF32("conv1.weight", []int64{int64(m.F), int64(m.C), 3, 3}, f32(m.Conv)))
		cb := b.Initializer(onnx.TensorF32("conv1.bias", []int64{int64(m.F)}, f32(m.ConvB)))
		feat = b.Op("Conv", []string{feat, cw, cb}, onnx.AttrInts("kernel_shape", 3, 3), onnx.AttrInts("pads", 1, 1, 1, 1))
		feat = b.Op("Relu", []string{feat})
		feat = b.Op("MaxPool", []string{feat}, onnx.AttrInts("kernel_shape", 2, 2), onnx.AttrInts("strides", 2, 2))
		nIn = m.pooled()
	}
	flat := b.Op("Flatten", []string{feat}, onnx.AttrInt("axis", 1))
	out := m.K
	if m.H > 0 {
		out = m.H
	}
	w1 := b.Initializer(onnx.TensorF32("fc1.weight", []int64{int64(nIn), int64(out)}, f32(m.W1)))
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
	if m.F > 0 {
		return CNN
	}
	if m.H > 0 {
		return MLP
	}
	return LogReg
}
