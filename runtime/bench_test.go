package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	ort "github.com/yalue/onnxruntime_go"
)

// Benchmark settings: the task's reference workload, 2048 samples in
// batches of 256.
const (
	benchSamples = 2048
	benchBatch   = 256
)

// benchSplits are the worker × intra-op thread splits compared on a 2-core
// machine (PlanThreads' auto choice is justified by them).
var benchSplits = [][2]int{{2, 1}, {1, 2}}

// benchModel returns the MNIST CNN when ../shared is present, else the
// committed MLP fixture.
func benchModel(b *testing.B) string {
	if p, ok := testutil.SharedIfPresent(b, "fixtures/vision/mnist_cnn.onnx"); ok {
		return p
	}
	return fixture("mlp_logits.onnx")
}

// benchData returns samples of uniform [0,1) values from a fixed seed.
func benchData(s *Session) []float32 {
	rng := rand.New(rand.NewPCG(7, 11))
	x := make([]float32, benchSamples*s.SampleSize())
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// BenchmarkRunner is the harness: a Pool of w workers, each with its own
// Runner, over the whole dataset per iteration.
func BenchmarkRunner(b *testing.B) {
	for _, sp := range benchSplits {
		b.Run(fmt.Sprintf("%dx%d", sp[0], sp[1]), func(b *testing.B) {
			s, err := Open(testEnv(b), benchModel(b), Options{IntraOpThreads: sp[1]})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			x, size, nb := benchData(s), s.SampleSize(), benchSamples/benchBatch
			runners := make([]*Runner, sp[0])
			for w := range runners {
				if runners[w], err = s.NewRunner(benchBatch); err != nil {
					b.Fatal(err)
				}
				defer runners[w].Close()
			}
			b.ReportAllocs()
			for b.Loop() {
				err := Pool{Workers: sp[0]}.Run(context.Background(), nb, func(ctx context.Context, w, i int) error {
					_, err := runners[w].Run(ctx, x[i*benchBatch*size:(i+1)*benchBatch*size], benchBatch)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchSamples*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkBareORT is the baseline: the same session settings and
// goroutine count calling DynamicAdvancedSession.Run on tensors created over
// the dataset beforehand.
func BenchmarkBareORT(b *testing.B) {
	for _, sp := range benchSplits {
		b.Run(fmt.Sprintf("%dx%d", sp[0], sp[1]), func(b *testing.B) {
			s, err := Open(testEnv(b), benchModel(b), Options{IntraOpThreads: sp[1]})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			x, size, nb, c := benchData(s), s.SampleSize(), benchSamples/benchBatch, s.NumClasses()
			y := make([]float32, benchSamples*c)
			ins, outs := make([]ort.Value, nb), make([]ort.Value, nb)
			for i := range nb {
				if ins[i], err = ort.NewTensor(append(ort.Shape{benchBatch}, s.SampleShape()...), x[i*benchBatch*size:(i+1)*benchBatch*size]); err != nil {
					b.Fatal(err)
				}
				defer ins[i].Destroy()
				if outs[i], err = ort.NewTensor(ort.Shape{benchBatch, int64(c)}, y[i*benchBatch*c:(i+1)*benchBatch*c]); err != nil {
					b.Fatal(err)
				}
				defer outs[i].Destroy()
			}
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for g := range sp[0] {
					wg.Add(1)
					go func() {
						defer wg.Done()
						in, out := make([]ort.Value, 1), make([]ort.Value, 1)
						for i := g; i < nb; i += sp[0] {
							in[0], out[0] = ins[i], outs[i]
							if err := s.ORT().Run(in, out); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(benchSamples*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkThreadSplit is the measurement behind PlanThreads' auto choice:
// the harness (Pool + Runners) at each worker × intra-op thread split, one
// pass each per iteration in rotating order, so that load from other
// processes falls on all of them alike. Each split's throughput is reported
// as a metric.
func BenchmarkThreadSplit(b *testing.B) {
	splits := [][2]int{{2, 1}, {1, 2}, {2, 2}, {1, 1}}
	passes := make([]func() error, len(splits))
	for k, sp := range splits {
		s, err := Open(testEnv(b), benchModel(b), Options{IntraOpThreads: sp[1]})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		x, size, nb := benchData(s), s.SampleSize(), benchSamples/benchBatch
		runners := make([]*Runner, sp[0])
		for w := range runners {
			if runners[w], err = s.NewRunner(benchBatch); err != nil {
				b.Fatal(err)
			}
			defer runners[w].Close()
		}
		passes[k] = func() error {
			return Pool{Workers: sp[0]}.Run(context.Background(), nb, func(ctx context.Context, w, i int) error {
				_, err := runners[w].Run(ctx, x[i*benchBatch*size:(i+1)*benchBatch*size], benchBatch)
				return err
			})
		}
	}
	spent := make([]time.Duration, len(splits))
	round := 0
	for b.Loop() {
		for j := range splits {
			k := (j + round) % len(splits)
			t0 := time.Now()
			if err := passes[k](); err != nil {
				b.Fatal(err)
			}
			spent[k] += time.Since(t0)
		}
		round++
	}
	for k, sp := range splits {
		b.ReportMetric(float64(benchSamples*round)/spent[k].Seconds(), fmt.Sprintf("samples/s_%dx%d", sp[0], sp[1]))
	}
}
