package autodiff_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// benchBatch is the batch size of the cost benchmark.
const benchBatch = 128

// benchSessions opens mnist_cnn forward-only and forward+gradient (CE)
// sessions with the given intra-op threads, and a batch of test images.
func benchSessions(b *testing.B, threads int) (fwd, grad *ortexec.Session, in []ortexec.Tensor) {
	needORT(b)
	dir := visionDir(b)
	m, err := onnx.Load(filepath.Join(dir, "mnist_cnn.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	opt := ortexec.Options{IntraOpThreads: threads}
	fwd, err = ortexec.NewSession(m.Bytes, []string{"input"}, []string{"logits"}, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fwd.Close() })
	grad, _ = gradModel(b, m, autodiff.Spec{Loss: "ce"}, opt)
	var x []float32
	if err := readNPY(filepath.Join(dir, "mnist_test_x.npy"), &x); err != nil {
		b.Fatal(err)
	}
	y := make([]int64, benchBatch)
	in = []ortexec.Tensor{
		{Shape: []int64{benchBatch, 1, 28, 28}, F32: x[:benchBatch*784]},
		{Shape: []int64{benchBatch}, I64: y},
	}
	return fwd, grad, in
}

// BenchmarkMNISTCNN measures forward alone and forward + CE gradient on
// mnist_cnn at batch 128 on the CPU, and reports their ratio (the issue
// asks for ≤ 3; theory says 2–3).
//
// Measured (ORT 1.30.0 CPU, 2-core x86-64 shared with other builds, so
// absolute times vary 2–4× with the load): at 1 intra-op thread forward
// 6.4–6.8 ms, forward + gradient 34 ms, ratio 5.1–5.4 (thread CPU time,
// which the load disturbs least: 6.0–7.0 ms and 31–35 ms, ratio 5.0–5.3);
// at 2 threads the alternating-block ratio is 3.6–4.5. The ORT profiler puts the excess in
// MaxPool with its Indices output (a slower kernel that also leaves the
// blocked NCHWc layout, adding reorders) and MaxUnpool, i.e. in routing
// the pooling gradient; conv backward costs about 1.4× the forward conv.
// Measured and dropped: Sign-based Relu masks (slower than Where),
// routing by strided slices (Slice/Concat/Transpose dominate), a fused
// Conv→Relu→MaxPool backward by strided convolutions and a stacked-kernel
// ConvTranspose (CPU-time ratio 5.35–5.46, no gain), ORT_ENABLE_EXTENDED instead of
// ALL (forward 2× slower).
func BenchmarkMNISTCNN(b *testing.B) {
	for _, threads := range []int{2, 1} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) { benchMNISTCNN(b, threads) })
	}
}

func benchMNISTCNN(b *testing.B, threads int) {
	fwd, grad, in := benchSessions(b, threads)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if _, err := fwd.Run(in[:1]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("forward_grad", func(b *testing.B) {
		for b.Loop() {
			if _, err := grad.Run(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	// ratio alternates blocks of ratioBlock forward runs and ratioBlock
	// forward+gradient runs: each block runs with warm caches, and the
	// alternation cancels the drift of a machine shared with other jobs.
	b.Run("ratio", func(b *testing.B) {
		const ratioBlock = 8
		var tf, tg time.Duration
		for b.Loop() {
			t0 := time.Now()
			for range ratioBlock {
				if _, err := fwd.Run(in[:1]); err != nil {
					b.Fatal(err)
				}
			}
			t1 := time.Now()
			for range ratioBlock {
				if _, err := grad.Run(in); err != nil {
					b.Fatal(err)
				}
			}
			tf, tg = tf+t1.Sub(t0), tg+time.Since(t1)
		}
		b.ReportMetric(float64(tg)/float64(tf), "grad/fwd")
		b.ReportMetric(float64(tf.Microseconds())/float64(b.N*ratioBlock), "fwd-µs/run")
		b.ReportMetric(float64(tg.Microseconds())/float64(b.N*ratioBlock), "grad-µs/run")
	})
}
