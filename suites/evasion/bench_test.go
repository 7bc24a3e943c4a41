package evasion

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// benchBatch is the batch of the PGD benchmark (ART's batch_size in
// REFERENCE.json).
const benchBatch = 128

// pgdBench prepares one batch of the first 128 MNIST test images on the
// CNN fixture with 2 ORT threads (ART's reference ran torch on 2 threads).
func pgdBench(b *testing.B, model string) (*suite.Target, *runners, *job, Config) {
	_, dir := artReference(b)
	tg := openTarget(b, model, data.Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir, 1, benchBatch, benchBatch)
	tg.SessionOptions.IntraOpThreads = 2
	tg.Session.Close()
	s, err := tg.OpenModel(filepath.Join(dir, model))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	tg.Session = s
	cfg := decode(b, map[string]any{"attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.1}, "step_size": 0.01, "steps": 40, "early_stop": false},
	}})
	d, k := tg.Data.SampleSize(), tg.Classes
	rt, err := newRunners(tg, cfg, ModeExact, d, k)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.close)
	n := tg.Data.N
	clean := make([]float32, n*k)
	if err := suite.ForEachBatch(context.Background(), tg, tg.Data, func(_, lo, hi int, out []float32) error {
		copy(clean[lo*k:hi*k], out[:(hi-lo)*k])
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	j := &job{n: n, eps: 0.1, norm: Linf, x0: tg.Data.X, y: tg.Data.Y, correct: make([]bool, n), clean: clean,
		success: make([]bool, n), pred: make([]int, n), queries: make([]int32, n), xadv: make([]float32, n*d)}
	for i := range j.correct {
		j.correct[i] = true // attack every sample: fixed work per op
	}
	return tg, rt, j, cfg
}

// BenchmarkPGD40 times PGD-40 (L∞, no early stop: every sample takes all
// 40 steps plus the final evaluation) on one batch of 128 MNIST images
// with the CNN fixture, and reports samples per second and the ratio of
// its time to 40 bare forward passes of the same batch (fwd_samples/s is
// the bare forward throughput). allocs/op counts the whole attack on the
// batch (41 ORT calls; all of them onnxruntime_go's, see
// TestPGDLoopAllocs).
func BenchmarkPGD40(b *testing.B) {
	tg, rt, j, _ := pgdBench(b, "mnist_cnn.onnx")
	w := rt.works[0]
	o := w.oracles[headCE]
	ctx := context.Background()
	p := pgdParams{alpha: 0.01, steps: 40, restarts: 1}
	// forward baseline: 40 forward passes of the batch
	fwd := func() time.Duration {
		start := time.Now()
		for range 40 {
			if _, err := w.fwd.Run(ctx, j.x0, j.n); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	fwd() // warm up
	base := fwd()
	w.begin(j)
	if err := w.pgd(ctx, j, o, p, nil); err != nil { // warm up: creates the tensors
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.begin(j)
		if err := w.pgd(ctx, j, o, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(j.n)/per.Seconds(), "samples/s")
	b.ReportMetric(per.Seconds()/base.Seconds(), "x_forward40")
	b.ReportMetric(float64(40*j.n)/base.Seconds(), "fwd_samples/s")
	_ = tg
}

// BenchmarkSuitePGD40 runs the whole suite as a user would: PGD-40 L∞
// eps 0.1 (ART's protocol, with the default early stop) on the first 1000
// MNIST test images and the CNN fixture, batch 128, 2 workers × 1 ORT
// thread, and reports samples per second (ART 1.18.2 took 14.0 s for the
// same attack without early stop, REFERENCE.json).
func BenchmarkSuitePGD40(b *testing.B) {
	_, dir := artReference(b)
	tg := mnist(b, dir, "mnist_cnn.onnx", 2, benchBatch, 1000)
	for _, early := range []bool{true, false} {
		name := "early_stop"
		if !early {
			name = "no_early_stop"
		}
		b.Run(name, func(b *testing.B) {
			cfg := decode(b, map[string]any{"attacks": []any{
				map[string]any{"name": "pgd", "eps": []any{0.1}, "step_size": 0.01, "steps": 40, "early_stop": early},
			}})
			var r *suite.Result
			for b.Loop() {
				var err error
				if r, err = (Suite{}).Run(context.Background(), tg, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(1000/(b.Elapsed().Seconds()/float64(b.N)), "samples/s")
			b.ReportMetric(r.Metrics["pgd.linf.eps=0.1.robust_accuracy"], "robust_acc")
		})
	}
}
