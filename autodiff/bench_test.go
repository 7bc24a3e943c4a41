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
	var x []float32
	if err := readNPY(filepath.Join(dir, "mnist_test_x.npy"), &x); err != nil {
		b.Fatal(err)
	}
	return benchModel(b, filepath.Join(dir, "mnist_cnn.onnx"), threads, []int64{1, 28, 28}, x[:benchBatch*784])
}

// benchModel opens forward-only and forward+gradient (CE) sessions of the
// model at path with the given intra-op threads, and its input: x, a
// batch of benchBatch samples of the given shape, with labels 0.
func benchModel(b *testing.B, path string, threads int, sample []int64, x []float32) (fwd, grad *ortexec.Session, in []ortexec.Tensor) {
	needORT(b)
	m, err := onnx.Load(path)
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
	in = []ortexec.Tensor{
		{Shape: append([]int64{benchBatch}, sample...), F32: x},
		{Shape: []int64{benchBatch}, I64: make([]int64, benchBatch)},
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
//
// Issue 14 (≤ 2.5× asked), each variant measured in one run of a
// throw-away harness alternating blocks of forward, plain gradient and
// variant gradient (10 blocks of 6 runs, batch 128, 1 / 2 intra-op
// threads), figures as variant vs plain grad/fwd:
//   - Kept: BatchNorm folded into the preceding Conv's input gradient
//     (rules_fuse.go: the weights scaled per output channel in a new
//     constant, no Mul on the gradient). res_cnn 4.27 vs 4.49 plain at 1
//     thread, 3.23 vs 3.43 at 2 (and 4.63 vs 5.28, 3.88 vs 4.12 in an
//     earlier run); mnist_cnn has no BatchNorm (unchanged).
//   - Dropped: MaxPool without Indices (the forward keeps ORT's blocked
//     kernel) for Conv [→ BN] → Relu → MaxPool chains, routed by strided
//     Slices of the pool input compared (Equal) with the pooled maximum,
//     first offset wins (Where on the gradient left to route), the per-offset
//     gradients concatenated and sent through one stride pool×conv
//     ConvTranspose whose kernel places the (BN-scaled) Conv weights at
//     each offset, fusing the scatter with the Conv's input gradient.
//     mnist_cnn 7.44 vs 4.79 plain at 1 thread, 6.70 vs 4.43 at 2;
//     res_cnn 5.40 vs 5.28 and 4.41 vs 4.12. The ORT profiler (1 thread):
//     a strided Slice of [128,32,26,26] costs 4–5 ms (as much as the
//     forward Conv producing it), each Where on the pooled size 2–3 ms,
//     and the fused 256→32-channel stride-2 ConvTranspose of mnist_cnn's
//     second pool 19 ms against 7.5 ms for the flipped-kernel Conv it
//     replaces; only the 3-channel stem of res_cnn got cheaper (16 → 8 ms).
//   - Dropped: the input gradient of res_cnn's 3-channel stem Conv as a
//     flipped-kernel Conv instead of ConvTranspose (convBackwardMinChannels
//     2 instead of 8): 4.53 vs 4.27 at 1 thread, 3.38 vs 3.23 at 2.
//
// Where the time goes now (ORT profiler, 1 thread, batch 128, kernel
// times per run; the machine was loaded, so shares, not times, count):
// mnist_cnn forward 12 ms (Conv 70%, MaxPool 21%), forward+gradient
// 51 ms: MaxPool with Indices 31% (12.3 ms for the first pool against
// 1.8 ms for the blocked kernel without Indices), Conv 30% (forward and
// the 64→32 input gradient), layout reorders 16%, MaxUnpool 9%,
// ConvTranspose (32→1) 4.5%, Relu masks (Greater, Where) 6.5%. res_cnn
// forward 19–30 ms (Conv 85–90%), forward+gradient about 4.3× it: Conv
// 31%, ConvTranspose (stride-2 and 3-channel input gradients) 16–18%,
// Relu masks at full size (Where, Greater) 15–20%, MaxPool with Indices
// 10–12%, reorders 8–10%, MaxUnpool 5%. So ≤ 2.5× is not reached: on
// this CPU EP every pass over a full-size activation (mask, routing,
// layout reorder) costs about as much as the convolution producing it.
// After the kept change, three runs of the ratio sub-benchmarks
// (-benchtime 6x, machine heavily loaded): mnist_cnn 5.03 / 4.87 / 7.83
// at 1 thread, 5.00 / 4.44 / 4.41 at 2; res_cnn 4.60 / 3.27 / 6.02 at 1,
// 4.85 / 6.71 / 4.48 at 2.
func BenchmarkMNISTCNN(b *testing.B) {
	for _, threads := range []int{2, 1} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) { benchMNISTCNN(b, threads) })
	}
}

func benchMNISTCNN(b *testing.B, threads int) {
	fwd, grad, in := benchSessions(b, threads)
	benchRatio(b, fwd, grad, in)
}

// BenchmarkResCNN is BenchmarkMNISTCNN on a small ResNet with BatchNorm
// (testdata/exporters/res_cnn_op13.onnx, 3×32×32 inputs: a
// Conv-BN-ReLU-MaxPool stem, two BasicBlocks, one strided with a 1×1
// shortcut) at batch 128, on the inputs of its reference
// (gradients_res_cnn.npz, 8 images repeated).
func BenchmarkResCNN(b *testing.B) {
	for _, threads := range []int{2, 1} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			ref := readRef(b, filepath.Join("testdata", "exporters", "gradients_res_cnn.npz"))
			x := make([]float32, 0, benchBatch*3*32*32)
			for len(x) < cap(x) {
				x = append(x, ref.x...)
			}
			fwd, grad, in := benchModel(b, filepath.Join("testdata", "exporters", "res_cnn_op13.onnx"), threads,
				[]int64{3, 32, 32}, x[:cap(x)])
			benchRatio(b, fwd, grad, in)
		})
	}
}

// benchRatio runs the forward and forward+gradient sessions alone and in
// alternating blocks (ratio), and reports grad/fwd.
func benchRatio(b *testing.B, fwd, grad *ortexec.Session, in []ortexec.Tensor) {
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
