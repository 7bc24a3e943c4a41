package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gauntlet-ml/gauntlet/benchmarks"
	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

func main() {
	lib := flag.String("ort-library", "", "ONNX Runtime shared library (default: the usual search)")
	model := flag.String("model", "", "ONNX classifier")
	xPath := flag.String("x", "", "inputs (.npy, values in [0, 1])")
	yPath := flag.String("y", "", "labels (.npy)")
	n := flag.Int("n", 1000, "the first n samples")
	batch := flag.Int("batch", 128, "attack batch size")
	threads := flag.Int("threads", 1, "intra-op threads (one worker)")
	eps := flag.Float64("eps", 0.1, "L∞ radius")
	step := flag.Float64("step", 0.01, "step size")
	steps := flag.Int("steps", 40, "PGD steps")
	fuses := flag.String("fuse", "never,always", "values of suites.evasion.fuse to time, in this order")
	early := flag.Bool("early-stop", false, "PGD's early_stop (the suite's default is true; the peer loop has none)")
	flag.Parse()
	if *model == "" || *xPath == "" || *yPath == "" {
		fail(fmt.Errorf("-model, -x and -y are required"))
	}
	path, err := runtime.FindLibrary(runtime.DefaultSearch(*lib, ""))
	if err != nil {
		fail(err)
	}
	env, err := runtime.Init(path)
	if err != nil {
		fail(err)
	}
	tg, err := open(env, *model, *xPath, *yPath, *n, *batch, *threads)
	if err != nil {
		fail(err)
	}
	defer tg.Session.Close()
	for _, f := range strings.Split(*fuses, ",") {
		raw := map[string]any{"gradient_mode": "exact", "fuse": strings.TrimSpace(f), "attacks": []any{
			map[string]any{"name": "pgd", "norm": "linf", "eps": []any{*eps}, "step_size": *step, "steps": *steps, "early_stop": *early},
		}}
		cfg, err := evasion.Suite{}.Decode(raw)
		if err != nil {
			fail(err)
		}
		c0, _ := benchmarks.ProcessCPU()
		t0 := time.Now()
		res, err := evasion.Suite{}.Run(context.Background(), tg, cfg)
		wall := time.Since(t0)
		c1, _ := benchmarks.ProcessCPU()
		if err != nil {
			fail(err)
		}
		key := evasion.Prefix("pgd", evasion.Linf, *eps) + ".robust_accuracy"
		path := ""
		if d, ok := res.Details["fuse"].(map[string]any); ok {
			path, _ = d["pgd_path"].(string)
		}
		out, _ := json.Marshal(map[string]any{"fuse": f, "pgd_path": path, "wall_s": wall.Seconds(), "cpu_s": (c1 - c0).Seconds(),
			"robust_accuracy": res.Metrics[key], "clean_accuracy": res.Metrics["clean_accuracy"],
			"n": tg.Data.N, "batch": *batch, "early_stop": *early, "threads": *threads, "ort": env.Version})
		fmt.Println(string(out))
	}
}

// open opens the model on the CPU with threads intra-op threads and the
// first n samples of x and y as a suite target with data.range [0, 1],
// one worker and the given batch.
func open(env *runtime.Environment, model, x, y string, n, batch, threads int) (*suite.Target, error) {
	xa, err := filepath.Abs(x)
	if err != nil {
		return nil, err
	}
	ya, err := filepath.Abs(y)
	if err != nil {
		return nil, err
	}
	ds, err := data.Load(data.Spec{X: xa, Y: ya}, "")
	if err != nil {
		return nil, err
	}
	if n > 0 && n < ds.N {
		ds.X, ds.Y, ds.N = ds.X[:n*ds.SampleSize()], ds.Y[:n], n
	}
	opt := runtime.Options{Device: cuda.Device{Kind: cuda.CPU}, IntraOpThreads: threads}
	sess, err := runtime.Open(env, model, opt)
	if err != nil {
		return nil, err
	}
	in := sess.Input()
	if err := ds.FitInput(in.Name, in.Shape); err != nil {
		sess.Close()
		return nil, err
	}
	if err := ds.Validate(sess.NumClasses()); err != nil {
		sess.Close()
		return nil, err
	}
	out, err := os.MkdirTemp("", "pgdpeer")
	if err != nil {
		sess.Close()
		return nil, err
	}
	return &suite.Target{Model: sess.Model(), Session: sess, Env: env, SessionOptions: opt, Data: ds,
		Classes: sess.NumClasses(), OutputKind: sess.OutputKind(), BaseDir: filepath.Dir(model), ConfidenceLevel: 0.95,
		Range: [2]float64{0, 1}, BatchSize: batch, Pool: runtime.Pool{Workers: 1}, Seed: 20260101, OutDir: out}, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pgdpeer:", err)
	os.Exit(2)
}
