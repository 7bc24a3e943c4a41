package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/gauntlet-ml/gauntlet/benchmarks"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

func main() {
	cfg := benchmarks.Config{}
	lib := flag.String("ort-library", "", "ONNX Runtime shared library (default: the usual search)")
	flag.StringVar(&cfg.Model, "model", "../shared/fixtures/vision/mnist_cnn.onnx", "ONNX classifier with a dynamic batch axis")
	flag.IntVar(&cfg.Samples, "samples", 2048, "dataset size (a multiple of -batch)")
	flag.IntVar(&cfg.Batch, "batch", 256, "batch size")
	workers := flag.Int("workers", 0, "workers (0: auto, see runtime.PlanThreads)")
	threads := flag.Int("threads", 0, "intra-op threads (0: auto)")
	flag.IntVar(&cfg.Rounds, "rounds", 6, "measured rounds, alternating order")
	flag.IntVar(&cfg.Passes, "passes", 3, "passes over the dataset per side per round")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "dataset seed")
	flag.Parse()

	path, err := runtime.FindLibrary(runtime.DefaultSearch(*lib, ""))
	if err != nil {
		fail(err)
	}
	env, err := runtime.Init(path)
	if err != nil {
		fail(err)
	}
	if cfg.Workers, cfg.Threads, err = runtime.PlanThreads(goruntime.NumCPU(), *workers, *threads); err != nil {
		fail(err)
	}
	fmt.Printf("onnx runtime %s (%s), %d cores\n", env.Version, env.LibraryPath, goruntime.NumCPU())
	res, err := benchmarks.Compare(context.Background(), env, cfg)
	if err != nil {
		fail(err)
	}
	fmt.Print(res)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ortratio:", err)
	os.Exit(2)
}
