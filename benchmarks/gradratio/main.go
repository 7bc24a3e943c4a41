package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/benchmarks"
)

func main() {
	lib := flag.String("ort-library", "", "ONNX Runtime shared library (default: $ONNXRUNTIME_SHARED_LIBRARY_PATH, else .ort/)")
	model := flag.String("model", "", "ONNX classifier with one float32 input and a dynamic batch axis")
	batches := flag.String("batch", "8", "batch sizes, comma-separated")
	threadList := flag.String("threads", "1", "intra-op thread counts, comma-separated")
	xPath := flag.String("x", "", "float32 .npy inputs, batch axis first (default: uniform [0,1) from -seed)")
	cfg := benchmarks.GradConfig{}
	flag.Uint64Var(&cfg.Seed, "seed", 1, "input seed without -x")
	flag.IntVar(&cfg.Warmup, "warmup", 2, "unmeasured runs of each side first")
	flag.IntVar(&cfg.MinReps, "min-reps", 7, "fewest measured repetitions (each runs both sides)")
	flag.IntVar(&cfg.MaxReps, "max-reps", 200, "most measured repetitions")
	flag.DurationVar(&cfg.MinTime, "min-time", time.Second, "repeat until each side has run this long in total (within -max-reps)")
	asJSON := flag.Bool("json", false, "one JSON object per result")
	flag.Parse()
	if *model == "" {
		fail(fmt.Errorf("-model is required"))
	}
	bs, err := ints("-batch", *batches)
	if err != nil {
		fail(err)
	}
	ts, err := ints("-threads", *threadList)
	if err != nil {
		fail(err)
	}
	if *xPath != "" {
		if cfg.X, err = readX(*xPath); err != nil {
			fail(err)
		}
	}
	if err := ortexec.Init(*lib); err != nil {
		fail(err)
	}
	for _, t := range ts {
		g, err := benchmarks.OpenGrad(*model, t)
		if err != nil {
			fail(err)
		}
		for _, b := range bs {
			c := cfg
			c.Batch = b
			res, err := g.Measure(c)
			if err != nil {
				g.Close()
				fail(err)
			}
			if *asJSON {
				out, _ := json.Marshal(map[string]any{
					"model": res.Model, "batch": res.Batch, "threads": res.Threads, "reps": len(res.Forward),
					"forward_ms": msOf(res.ForwardMedian), "grad_ms": msOf(res.GradMedian), "ratio": res.Ratio,
					"forward_cpu_ms": msOf(res.ForwardCPUMedian), "grad_cpu_ms": msOf(res.GradCPUMedian), "cpu_ratio": res.CPURatio,
				})
				fmt.Println(string(out))
			} else {
				fmt.Println(res)
			}
		}
		g.Close()
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ints parses a comma-separated list of positive integers.
func ints(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%s %q: want positive integers separated by commas", flagName, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// readX reads a float32 .npy file.
func readX(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-x: %w", err)
	}
	defer f.Close()
	var x []float32
	if err := npyio.Read(f, &x); err != nil {
		return nil, fmt.Errorf("-x %s: %w", path, err)
	}
	return x, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gradratio:", err)
	os.Exit(2)
}
