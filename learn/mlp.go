package learn

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MLPConfig configures the gorgonia attack network: one hidden ReLU layer
// and a softmax output, trained with Adam on mini-batches of the
// standardised features (the shape of ART's and ML Privacy Meter's attack
// models).
type MLPConfig struct {
	Hidden       int     // hidden units
	Epochs       int     // passes over the training rows
	Batch        int     // rows per Adam step, at least; large sets use n/MaxSteps
	MaxSteps     int     // Adam steps per epoch, at most (bounds gorgonia's per-step cost on big sets)
	LearningRate float64 // Adam step size
	L2           float64 // weight decay (Adam's L2 regularisation)
}

// DefaultMLP is the attack network used unless configured otherwise.
var DefaultMLP = MLPConfig{Hidden: 32, Epochs: 30, Batch: 128, MaxSteps: 16, LearningRate: 0.01, L2: 1e-4}

// MLP returns a Trainer for FitMLP with cfg.
func MLP(cfg MLPConfig) Trainer {
	return func(x []float64, d int, y []int, k int, rows []int, seed uint64) (Model, error) {
		return FitMLP(x, d, y, k, rows, cfg, seed)
	}
}

// Net is a trained one-hidden-layer network: p = softmax(relu(x̂W1 + b1)W2 + b2)
// on standardised x̂.
type Net struct {
	D, H, K   int
	W1, B1    []float64 // D×H, H
	W2, B2    []float64 // H×K, K
	Mean, Std []float64
	hidden    []float64 // scratch for Prob
}

// FitMLP trains the network with gorgonia: Glorot-uniform weights and the
// epoch shuffles drawn from seed, full mini-batches of max(cfg.Batch,
// n/cfg.MaxSteps) rows (the tail of each shuffled epoch is left for the next
// shuffle), Adam.
func FitMLP(x []float64, d int, y []int, k int, rows []int, cfg MLPConfig, seed uint64) (*Net, error) {
	n := len(rows)
	if n == 0 {
		return nil, fmt.Errorf("attack network: no training rows")
	}
	mean, std := standardisation(x, d, rows)
	rng := rand.New(rand.NewPCG(seed, 0x6d6c70))
	b := min(max(cfg.Batch, n/max(1, cfg.MaxSteps)), n)
	h := cfg.Hidden
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
	W1 := mat("w1", d, h, glorot(d, h))
	B1 := mat("b1", 1, h, make([]float64, h))
	W2 := mat("w2", h, k, glorot(h, k))
	B2 := mat("b2", 1, k, make([]float64, k))
	hid, err := G.BroadcastAdd(G.Must(G.Mul(X, W1)), B1, nil, []byte{0})
	if err != nil {
		return nil, fmt.Errorf("attack network: %w", err)
	}
	hid = G.Must(G.Rectify(hid))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(hid, W2)), B2, nil, []byte{0}))
	logp := G.Must(G.LogSoftMax(logits))
	// Mean cross-entropy: −Σ y·log p / b.
	cost := G.Must(G.Div(G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(logp, Y)))))), G.NewConstant(float64(b))))
	learn := G.Nodes{W1, B1, W2, B2}
	if _, err := G.Grad(cost, learn...); err != nil {
		return nil, fmt.Errorf("attack network gradient: %w", err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(cfg.LearningRate), G.WithL2Reg(cfg.L2))
	order := append([]int(nil), rows...)
	for ep := 0; ep < cfg.Epochs; ep++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for s := 0; s+b <= n; s += b {
			clear(yb)
			for r, i := range order[s : s+b] {
				for j := 0; j < d; j++ {
					xb[r*d+j] = (x[i*d+j] - mean[j]) / std[j]
				}
				yb[r*k+y[i]] = 1
			}
			if err := vm.RunAll(); err != nil {
				return nil, fmt.Errorf("attack network, epoch %d: %w", ep, err)
			}
			if err := solver.Step(G.NodesToValueGrads(learn)); err != nil {
				return nil, fmt.Errorf("attack network, epoch %d: %w", ep, err)
			}
			vm.Reset()
		}
	}
	data := func(nd *G.Node) []float64 {
		return append([]float64(nil), nd.Value().Data().([]float64)...)
	}
	return &Net{D: d, H: h, K: k, W1: data(W1), B1: data(B1), W2: data(W2), B2: data(B2), Mean: mean, Std: std,
		hidden: make([]float64, h)}, nil
}

// Prob implements Model. It is not safe for concurrent use.
func (m *Net) Prob(dst, x []float64) {
	for u := 0; u < m.H; u++ {
		s := m.B1[u]
		for j := 0; j < m.D; j++ {
			s += (x[j] - m.Mean[j]) / m.Std[j] * m.W1[j*m.H+u]
		}
		m.hidden[u] = max(s, 0)
	}
	for c := 0; c < m.K; c++ {
		s := m.B2[c]
		for u, v := range m.hidden {
			s += v * m.W2[u*m.K+c]
		}
		dst[c] = s
	}
	lse := math.Inf(-1)
	for _, v := range dst[:m.K] {
		lse = max(lse, v)
	}
	var sum float64
	for c := range dst[:m.K] {
		sum += math.Exp(dst[c] - lse)
	}
	l := lse + math.Log(sum)
	for c := range dst[:m.K] {
		dst[c] = math.Exp(dst[c] - l)
	}
}

// standardisation returns the mean and population standard deviation of
// each feature over rows (1 where a feature is constant).
func standardisation(x []float64, d int, rows []int) (mean, std []float64) {
	mean, std = make([]float64, d), make([]float64, d)
	for _, i := range rows {
		for j := 0; j < d; j++ {
			mean[j] += x[i*d+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(len(rows))
	}
	for _, i := range rows {
		for j := 0; j < d; j++ {
			v := x[i*d+j] - mean[j]
			std[j] += v * v
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(len(rows)))
		if std[j] == 0 {
			std[j] = 1
		}
	}
	return mean, std
}
