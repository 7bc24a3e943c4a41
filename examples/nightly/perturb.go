//go:build ignore

// perturb writes after.onnx: the digits CNN (examples/digits_cnn.onnx) with
// Gaussian noise of standard deviation sigma added to the weights of its
// first convolution, standing in for a change that quietly hurts the model
// (a bad retrain, an over-eager quantisation). Deterministic: the noise
// comes from a PCG source seeded with seed.
//
//	go run examples/nightly/perturb.go [-sigma 0.35] [-seed 8]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/gauntlet-ml/gauntlet/onnx"
)

func main() {
	sigma := flag.Float64("sigma", 0.35, "noise standard deviation")
	seed := flag.Uint64("seed", 8, "noise seed")
	in := flag.String("in", "examples/digits_cnn.onnx", "model to perturb")
	out := flag.String("out", "examples/nightly/after.onnx", "model to write")
	flag.Parse()
	if err := run(*in, *out, *sigma, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "perturb:", err)
		os.Exit(1)
	}
}

func run(in, out string, sigma float64, seed uint64) error {
	m, err := onnx.Load(in)
	if err != nil {
		return err
	}
	var conv string
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" {
			conv = n.GetInput()[1]
			break
		}
	}
	w := m.Initializer(conv)
	if w == nil {
		return fmt.Errorf("no Conv weight initializer")
	}
	vals, err := onnx.TensorValues(w)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range vals {
		vals[i] += sigma * rng.NormFloat64()
	}
	*w = *onnx.TensorFloat(w.GetName(), onnx.Float32, w.GetDims(), vals)
	if err := m.Save(out); err != nil {
		return err
	}
	fmt.Printf("wrote %s (sha256 %s): %s + N(0, %g²) noise, seed %d\n", out, m.SHA256, conv, sigma, seed)
	return nil
}
