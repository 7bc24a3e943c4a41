package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
)

func open(t testing.TB, name string, opt Options) *Session {
	t.Helper()
	s, err := Open(testEnv(t), fixture(name), opt)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenIntrospection(t *testing.T) {
	for _, c := range []struct {
		file   string
		in     TensorInfo
		out    TensorInfo
		fixed  int
		kind   OutputKind
		reason string
	}{
		// Signatures as exported by testdata/gen_models.py.
		{"mlp_logits.onnx", TensorInfo{"x", "float32", []int64{-1, 4}, []string{"batch", ""}},
			TensorInfo{"out", "float32", []int64{-1, 3}, []string{"batch", ""}}, 0, Logits, "sample outputs"},
		{"mlp_softmax.onnx", TensorInfo{"x", "float32", []int64{-1, 4}, []string{"batch", ""}},
			TensorInfo{"out", "float32", []int64{-1, 3}, []string{"batch", ""}}, 0, Probabilities, "graph: output computed by Softmax"},
		{"mlp_logsoftmax.onnx", TensorInfo{"x", "float32", []int64{-1, 4}, []string{"batch", ""}},
			TensorInfo{"out", "float32", []int64{-1, 3}, []string{"batch", ""}}, 0, Logits, "graph: output computed by LogSoftmax"},
		{"mlp_float64.onnx", TensorInfo{"x", "float64", []int64{-1, 4}, []string{"batch", ""}},
			TensorInfo{"out", "float32", []int64{-1, 3}, []string{"batch", ""}}, 0, Logits, "sample outputs"},
		{"fixed_batch4.onnx", TensorInfo{"x", "float32", []int64{4, 4}, []string{"", ""}},
			TensorInfo{"out", "float32", []int64{4, 3}, []string{"", ""}}, 4, Logits, "sample outputs"},
	} {
		t.Run(c.file, func(t *testing.T) {
			s := open(t, c.file, Options{})
			info := s.Info()
			if info.Opset != 13 || len(info.SHA256) != 64 || info.Path != fixture(c.file) {
				t.Errorf("info = %+v; want opset 13, a sha256 and the path", info)
			}
			if !reflect.DeepEqual(info.Inputs, []TensorInfo{c.in}) || !reflect.DeepEqual(s.Input(), c.in) {
				t.Errorf("inputs = %+v, want [%+v]", info.Inputs, c.in)
			}
			if !reflect.DeepEqual(info.Outputs, []TensorInfo{c.out}) || !reflect.DeepEqual(s.Output(), c.out) {
				t.Errorf("outputs = %+v, want [%+v]", info.Outputs, c.out)
			}
			if s.NumClasses() != 3 || !reflect.DeepEqual(s.SampleShape(), []int64{4}) || s.FixedBatch() != c.fixed {
				t.Errorf("classes %d, sample shape %v, fixed batch %d; want 3, [4], %d", s.NumClasses(), s.SampleShape(), s.FixedBatch(), c.fixed)
			}
			if s.OutputKind() != c.kind || !strings.HasPrefix(s.OutputKindReason(), c.reason) {
				t.Errorf("output kind %s (%s), want %s (%s…)", s.OutputKind(), s.OutputKindReason(), c.kind, c.reason)
			}
			if p := s.Provider(); p.Provider != cuda.CPUProvider || p.Device != "cpu" || p.Requested != "cpu" || p.Fallback != "" {
				t.Errorf("provider = %+v, want the CPU", p)
			}
		})
	}
}

func TestOutputKindOverride(t *testing.T) {
	s := open(t, "mlp_logits.onnx", Options{OutputKind: Probabilities})
	if s.OutputKind() != Probabilities || s.OutputKindReason() != "set in config" {
		t.Errorf("kind %s (%s), want probabilities set in config", s.OutputKind(), s.OutputKindReason())
	}
	if err := s.SetOutputKind(Logits); err != nil || s.OutputKind() != Logits {
		t.Errorf("SetOutputKind(logits): %v, kind %s", err, s.OutputKind())
	}
	if err := s.SetOutputKind("scores"); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("SetOutputKind(scores) = %v, want an errs.Invalid error", err)
	}
	if _, err := Open(testEnv(t), fixture("mlp_logits.onnx"), Options{OutputKind: "scores"}); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("Open with output kind scores = %v, want an errs.Invalid error", err)
	}
}

func TestOpenBadInputs(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.onnx")
	// Fixed bytes, not valid protobuf: 0xff is an invalid wire type.
	if err := os.WriteFile(corrupt, []byte{0xff, 0xfe, 0xfd, 0x00, 0x13, 0x37, 0xff, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.onnx")
	for _, c := range []struct {
		name, path string
		opt        Options
		want       []string
	}{
		{"missing", missing, Options{}, []string{missing}},
		{"corrupt", corrupt, Options{}, []string{corrupt}},
		{"two inputs", fixture("two_inputs.onnx"), Options{}, []string{"two_inputs.onnx", "2 inputs", "a float32", "b float32", "runtime.input"}},
		{"two inputs, one named", fixture("two_inputs.onnx"), Options{InputName: "a"}, []string{"two_inputs.onnx", "runtime.input \"a\""}},
		{"unknown input", fixture("mlp_logits.onnx"), Options{InputName: "y"}, []string{"mlp_logits.onnx", "runtime.input \"y\"", "x float32"}},
		{"unknown output", fixture("mlp_logits.onnx"), Options{OutputName: "z"}, []string{"mlp_logits.onnx", "runtime.output \"z\"", "out float32"}},
		{"negative threads", fixture("mlp_logits.onnx"), Options{IntraOpThreads: -1}, []string{"intra_op_threads"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(env, c.path, c.opt)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if errs.Code(err, 0) != errs.Invalid {
				t.Errorf("exit code %d, want %d: %v", errs.Code(err, 0), errs.Invalid, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestOpenExplicitNames(t *testing.T) {
	s := open(t, "mlp_logits.onnx", Options{InputName: "x", OutputName: "out", IntraOpThreads: 1})
	if s.Input().Name != "x" || s.Output().Name != "out" {
		t.Errorf("input %q output %q", s.Input().Name, s.Output().Name)
	}
}

func TestRunnerMatchesTorch(t *testing.T) {
	e := loadExpected(t)
	for _, c := range []struct {
		file  string
		want  []float32
		batch int
	}{
		{"mlp_logits.onnx", e.Logits, 6},
		{"mlp_logits.onnx", e.Logits, 8}, // n < batch: tail tensors
		{"mlp_softmax.onnx", e.Softmax, 6},
		{"mlp_logsoftmax.onnx", e.LogSoftmax, 6},
		{"mlp_float64.onnx", e.Float64, 6},
		{"fixed_batch4.onnx", e.Fixed, 6}, // chunks of 4: 4 + 2 padded
		{"fixed_batch4.onnx", e.Fixed, 3}, // batch below the fixed size
	} {
		s := open(t, c.file, Options{})
		r, err := s.NewRunner(c.batch)
		if err != nil {
			t.Fatal(err)
		}
		// Whole batches up to the runner's size, then one sample at a time.
		for off := 0; off < e.N; off += c.batch {
			n := min(c.batch, e.N-off)
			got, err := r.Run(context.Background(), e.X[off*e.Features:], n)
			if err != nil {
				t.Fatalf("%s batch %d: %v", c.file, c.batch, err)
			}
			closeTo(t, c.file, got, c.want[off*e.Classes:(off+n)*e.Classes], torchTol)
		}
		for i := 0; i < e.N; i++ {
			got, err := r.Run(context.Background(), e.X[i*e.Features:(i+1)*e.Features], 1)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, c.file+" one sample", got, c.want[i*e.Classes:(i+1)*e.Classes], torchTol)
		}
		if got, err := r.Run(context.Background(), nil, 0); err != nil || len(got) != 0 {
			t.Errorf("%s: Run of 0 samples = %v, %v", c.file, got, err)
		}
		if _, err := r.Run(context.Background(), e.X, c.batch+1); err == nil {
			t.Errorf("%s: Run of batch+1 samples succeeded", c.file)
		}
		if _, err := r.Run(context.Background(), e.X[:3], 1); err == nil {
			t.Errorf("%s: Run with a short x succeeded", c.file)
		}
		r.Close()
	}
}

// TestRunnerInput runs samples written straight into the Runner's input
// buffer, with no copy, full and partial.
func TestRunnerInput(t *testing.T) {
	e := loadExpected(t)
	for _, c := range []struct {
		file  string
		batch int
		room  int
	}{{"mlp_logits.onnx", 6, 6}, {"fixed_batch4.onnx", 6, 4}, {"fixed_batch4.onnx", 2, 2}} {
		s := open(t, c.file, Options{})
		r, err := s.NewRunner(c.batch)
		if err != nil {
			t.Fatal(err)
		}
		in := r.Input()
		if len(in) != c.room*e.Features {
			t.Fatalf("%s batch %d: Input has %d values, want %d", c.file, c.batch, len(in), c.room*e.Features)
		}
		for _, n := range []int{c.room, 1} {
			for i := range in {
				in[i] = 99 // stale values beyond n must not leak into the result
			}
			copy(in, e.X[:n*e.Features])
			got, err := r.Run(context.Background(), in, n)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, c.file+" in place", got, e.Logits[:n*e.Classes], torchTol)
		}
		r.Close()
	}
	s := open(t, "mlp_float64.onnx", Options{})
	r, err := s.NewRunner(2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Input() != nil {
		t.Error("Input of a float64 model is not nil")
	}
}

// TestRunnerViews checks the no-copy path for full batches: a view sees
// new contents written into the same x, and the view cache evicts beyond
// its capacity without mixing up buffers.
func TestRunnerViews(t *testing.T) {
	e := loadExpected(t)
	s := open(t, "mlp_logits.onnx", Options{})
	r, err := s.NewRunner(2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.viewCap = 2
	// Three buffers of two samples each: rows 0-1, 2-3, 4-5 of X.
	bufs := make([][]float32, 3)
	for i := range bufs {
		bufs[i] = append([]float32(nil), e.X[2*i*e.Features:2*(i+1)*e.Features]...)
	}
	for round := 0; round < 3; round++ {
		for i, b := range bufs {
			got, err := r.Run(context.Background(), b, 2)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "view", got, e.Logits[2*i*e.Classes:2*(i+1)*e.Classes], torchTol)
			if len(r.views) > 2 {
				t.Fatalf("%d cached views, capacity 2", len(r.views))
			}
		}
	}
	// Same buffer, new contents: rows 4-5 written into bufs[0].
	copy(bufs[0], e.X[4*e.Features:6*e.Features])
	got, err := r.Run(context.Background(), bufs[0], 2)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "view after rewrite", got, e.Logits[4*e.Classes:6*e.Classes], torchTol)
}

func TestRunnerCancelled(t *testing.T) {
	e := loadExpected(t)
	s := open(t, "mlp_logits.onnx", Options{})
	r, err := s.NewRunner(6)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, e.X, 6); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v, want context.Canceled", err)
	}
	got, err := r.Run(context.Background(), e.X, 6)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "after cancel", got, e.Logits, torchTol)
}

// TestRunnerCancelledDuringRun cancels while ONNX Runtime is inside a long
// run (the MNIST CNN on 4096 samples), so that the terminate flag stops it,
// then checks that the flag was cleared for the next run.
func TestRunnerCancelledDuringRun(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s, err := Open(testEnv(t), mnistCNN(t), Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 4096
	r, err := s.NewRunner(n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := make([]float32, n*s.SampleSize())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel) // mid-run: the whole run takes far longer
	if _, err := r.Run(ctx, x, n); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if _, err := r.Run(context.Background(), x[:s.SampleSize()], 1); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// TestConcurrentRunners runs one Session from several Runners at once; run
// with -race. Every worker must get torch's outputs for its rows.
func TestConcurrentRunners(t *testing.T) {
	e := loadExpected(t)
	for _, file := range []string{"mlp_logits.onnx", "fixed_batch4.onnx"} {
		want := e.Logits
		s := open(t, file, Options{IntraOpThreads: 1})
		const workers, rounds = 4, 50
		runners := make([]*Runner, workers)
		for w := range runners {
			var err error
			if runners[w], err = s.NewRunner(e.N); err != nil {
				t.Fatal(err)
			}
			defer runners[w].Close()
		}
		err := Pool{Workers: workers}.Run(context.Background(), workers*rounds, func(ctx context.Context, w, i int) error {
			n := 1 + i%e.N // 1..6 samples, so tails and full batches mix
			got, err := runners[w].Run(ctx, e.X, n)
			if err != nil {
				return err
			}
			for j := range got {
				if d := got[j] - want[j]; d > torchTol || d < -torchTol {
					return errors.New(file + ": wrong output under concurrency")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunnerConcurrentSafeClose(t *testing.T) {
	s := open(t, "mlp_logits.onnx", Options{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.NewRunner(2)
			if err != nil {
				t.Error(err)
				return
			}
			r.Close()
		}()
	}
	wg.Wait()
}

// TestRunnerAllocs checks the heap allocations of a steady-state
// full-batch Run: none of its own, only onnxruntime_go's (maxRunAllocs),
// and with a cancellable context those of context.AfterFunc as well.
func TestRunnerAllocs(t *testing.T) {
	e := loadExpected(t)
	for _, c := range []struct {
		file  string
		batch int
	}{{"mlp_logits.onnx", 6}, {"fixed_batch4.onnx", 4}, {"mlp_float64.onnx", 6}} {
		s := open(t, c.file, Options{})
		r, err := s.NewRunner(c.batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, cc := range []struct {
			name string
			ctx  context.Context
			n    int
			max  float64
		}{
			{"background", context.Background(), c.batch, maxRunAllocs},
			{"cancellable", cancellable(t), c.batch, maxRunAllocs + maxAfterFuncAllocs},
			{"partial batch (copied)", context.Background(), c.batch - 1, maxRunAllocs},
		} {
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := r.Run(cc.ctx, e.X, cc.n); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s, %s context: %.0f allocations per Run", c.file, cc.name, allocs)
			if allocs > cc.max {
				t.Errorf("%s, %s context: %.0f allocations per Run, want at most %.0f", c.file, cc.name, allocs, cc.max)
			}
		}
		r.Close()
	}
}

func cancellable(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// TestOpenDevices opens a model on GPU devices with a CPU-only ONNX Runtime
// (the build `make ort` fetches): auto falls back to the CPU and records
// why; an explicit cuda device is a bad-config error.
func TestOpenDevices(t *testing.T) {
	env := testEnv(t)
	if cuda.Probe()[1].Available {
		t.Skip("this ONNX Runtime can use CUDA; the fallback needs a CPU-only build")
	}
	s, err := Open(env, fixture("mlp_logits.onnx"), Options{Device: cuda.Device{Kind: cuda.Auto}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := s.Provider(); p.Provider != cuda.CPUProvider || p.Requested != "auto" || p.Fallback == "" {
		t.Errorf("auto: provider %+v, want the CPU with a fallback reason", p)
	}
	_, err = Open(env, fixture("mlp_logits.onnx"), Options{Device: cuda.Device{Kind: cuda.CUDA}})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "cuda:0") {
		t.Errorf("cuda: %v, want an errs.Invalid error naming cuda:0", err)
	}
}
