package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/runtime"
)

// Config says what Compare measures.
type Config struct {
	Model   string // ONNX classifier with a dynamic batch axis
	Samples int    // dataset size; a multiple of Batch
	Batch   int
	Workers int // goroutines, one Runner (or one set of bare tensors) each
	Threads int // ONNX Runtime intra-op threads of the shared session
	Rounds  int // measured rounds; each runs both sides, in alternating order
	Passes  int // passes over the dataset per side per round
	Seed    uint64
}

// Result holds per-round throughputs in samples per second.
type Result struct {
	Config
	Harness, Bare []float64
	// Ratio is total harness throughput over total bare throughput.
	Ratio float64
	// MedianRatio is the median of the per-round ratios.
	MedianRatio float64
}

// String formats the result for a terminal.
func (r Result) String() string {
	s := fmt.Sprintf("model %s, %d samples, batch %d, %d workers × %d intra-op threads, %d rounds × %d passes\n",
		r.Model, r.Samples, r.Batch, r.Workers, r.Threads, r.Rounds, r.Passes)
	for i := range r.Harness {
		s += fmt.Sprintf("  round %d: harness %8.0f samples/s  bare %8.0f samples/s  ratio %.3f\n", i+1, r.Harness[i], r.Bare[i], r.Harness[i]/r.Bare[i])
	}
	return s + fmt.Sprintf("harness/bare throughput: %.3f (median of rounds %.3f)\n", r.Ratio, r.MedianRatio)
}

// Compare opens cfg.Model once and measures, in alternating order, the
// harness (a runtime.Pool of cfg.Workers workers, each with its own
// runtime.Runner, over the dataset in batches) and bare ONNX Runtime (the
// same number of goroutines calling Run on tensors created over the dataset
// beforehand, so no copying at all). The dataset is uniform [0,1) values
// from cfg.Seed. Before measuring it checks that both give identical
// outputs.
func Compare(ctx context.Context, env *runtime.Environment, cfg Config) (Result, error) {
	res := Result{Config: cfg}
	if cfg.Batch < 1 || cfg.Samples < cfg.Batch || cfg.Samples%cfg.Batch != 0 || cfg.Workers < 1 || cfg.Rounds < 1 || cfg.Passes < 1 {
		return res, fmt.Errorf("compare: bad config %+v", cfg)
	}
	s, err := runtime.Open(env, cfg.Model, runtime.Options{IntraOpThreads: cfg.Threads})
	if err != nil {
		return res, err
	}
	defer s.Close()
	if s.FixedBatch() != 0 || s.Input().Type != "float32" {
		return res, fmt.Errorf("compare: %s: want a float32 input with a dynamic batch axis", cfg.Model)
	}
	size, classes, nb := s.SampleSize(), s.NumClasses(), cfg.Samples/cfg.Batch
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	x := make([]float32, cfg.Samples*size)
	for i := range x {
		x[i] = rng.Float32()
	}

	// Harness: one Runner per worker; results copied out per batch, as a
	// suite would consume them.
	runners := make([]*runtime.Runner, cfg.Workers)
	for w := range runners {
		if runners[w], err = s.NewRunner(cfg.Batch); err != nil {
			return res, err
		}
		defer runners[w].Close()
	}
	hOut := make([]float32, cfg.Samples*classes)
	harness := func() error {
		return runtime.Pool{Workers: cfg.Workers}.Run(ctx, nb, func(ctx context.Context, w, i int) error {
			y, err := runners[w].Run(ctx, x[i*cfg.Batch*size:(i+1)*cfg.Batch*size], cfg.Batch)
			if err != nil {
				return err
			}
			copy(hOut[i*cfg.Batch*classes:], y)
			return nil
		})
	}

	// Bare: tensors over the dataset and the output, made once.
	bOut := make([]float32, cfg.Samples*classes)
	ins, outs := make([]ort.Value, nb), make([]ort.Value, nb)
	for i := range nb {
		if ins[i], err = ort.NewTensor(append(ort.Shape{int64(cfg.Batch)}, s.SampleShape()...), x[i*cfg.Batch*size:(i+1)*cfg.Batch*size]); err != nil {
			return res, err
		}
		defer ins[i].Destroy()
		if outs[i], err = ort.NewTensor(ort.Shape{int64(cfg.Batch), int64(classes)}, bOut[i*cfg.Batch*classes:(i+1)*cfg.Batch*classes]); err != nil {
			return res, err
		}
		defer outs[i].Destroy()
	}
	sess := s.ORT()
	bare := func() error {
		var wg sync.WaitGroup
		errc := make(chan error, cfg.Workers)
		for g := range cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, out := make([]ort.Value, 1), make([]ort.Value, 1)
				for i := g; i < nb; i += cfg.Workers {
					in[0], out[0] = ins[i], outs[i]
					if err := sess.Run(in, out); err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		return <-errc
	}

	// Warm up both and check they agree.
	if err := harness(); err != nil {
		return res, err
	}
	if err := bare(); err != nil {
		return res, err
	}
	if !slices.Equal(hOut, bOut) {
		return res, fmt.Errorf("compare: harness and bare outputs differ")
	}

	timeIt := func(f func() error) (float64, error) {
		t0 := time.Now()
		for range cfg.Passes {
			if err := f(); err != nil {
				return 0, err
			}
		}
		return float64(cfg.Samples*cfg.Passes) / time.Since(t0).Seconds(), nil
	}
	var hSum, bSum float64
	ratios := make([]float64, cfg.Rounds)
	for r := range cfg.Rounds {
		var h, b float64
		if r%2 == 0 {
			if h, err = timeIt(harness); err == nil {
				b, err = timeIt(bare)
			}
		} else {
			if b, err = timeIt(bare); err == nil {
				h, err = timeIt(harness)
			}
		}
		if err != nil {
			return res, err
		}
		res.Harness, res.Bare = append(res.Harness, h), append(res.Bare, b)
		// Totals as harmonic sums: total samples over total time.
		hSum += 1 / h
		bSum += 1 / b
		ratios[r] = h / b
	}
	res.Ratio = bSum / hSum
	slices.Sort(ratios)
	res.MedianRatio = ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		res.MedianRatio = (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	}
	return res, nil
}
