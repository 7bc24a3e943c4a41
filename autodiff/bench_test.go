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
//
// Issue 14, second round (≤ 2.5× asked at 1 and 2 threads; none of the
// six variants below is kept, so the graph and its gradients are those
// of the round above). Method: a throw-away test alternating blocks of 6
// runs of the forward and of each variant's gradient graph, 6–8 blocks,
// batch 128, ratios of wall clock and of process CPU time (user +
// system, which the load of the other jobs disturbs least at 1 thread);
// the 2-core machine ran at load 11–19 throughout, so only ratios taken
// in one run compare. Figures are variant vs the current graph
// (grad/fwd, CPU time at 1 thread unless said), and the largest
// |gradient difference| between the two graphs on the benchmark batch.
//   - Dropped: MaxPool routed without Indices by exposing the windows
//     (x reshaped to [N, C, h, kh, w, kw]; ReduceMax and ArgMax within
//     rows, ArgMax over the row maxima, GatherElements, Equal against
//     row/column ranges, two Wheres): exact first-maximum ties (the tie
//     and PyTorch tests pass), but ORT's broadcasting over these 6-D
//     shapes is slow: the profile (1 thread, loaded) put 493 ms per run
//     in the gradient graph, each of its 6-D Wheres 70 ms.
//   - Dropped: 2×2 stride-2 MaxPool routed by prefix maxima from three
//     more blocked pools of the pool input (1×1, 1×2, 2×1 windows:
//     P0 = x00, P1 = max(x00, x01), P2 = max(P1, max(x00, x10))), the
//     offsets' gradients g·(1−s0), g·(s0−s1), g·(s1−s2), g·s2 with
//     s_o = sign(y − P_o), placed by Concat and DepthToSpace. Gradients
//     bit-identical on mnist_cnn (ties go to the first maximum), but 6.01
//     vs 4.54 and 6.37 vs 5.05 on mnist_cnn (2 threads: 5.63 vs 4.19,
//     wall 5.55 vs 3.94), 4.64 vs 4.44 and 4.62 vs 4.40 on res_cnn: the
//     twelve elementwise ops at pooled size and the DepthToSpace (≈ 1.4×
//     the forward's second Conv) cost more than Indices and MaxUnpool.
//   - Dropped: the prefix maxima fused with a stem: for Relu(Conv) or
//     Relu(BN(Conv)) → 2×2 MaxPool where the Conv has < 8 input
//     channels, A_o = Where(P_o = y, g, 0), the offsets A0, A1−A0,
//     A2−A1, g−A2 concatenated and sent through one stride-2
//     ConvTranspose whose kernel holds the (BN-scaled) Conv weights
//     shifted to each offset. res_cnn (3-channel stem) 4.08 vs 4.20 and
//     4.06 vs 4.40 (wall 4.08 vs 4.28, 4.70 vs 5.09); mnist_cnn
//     (1-channel stem) 5.46 vs 5.01 and 5.60 vs 5.05, 2 threads 4.81 vs
//     4.19 (gradients within 4.8e-7). It wins only where the stem's
//     ConvTranspose was expensive, loses where it was cheap, and neither
//     comes near 2.5: not worth a fixture-shaped rule.
//   - Dropped: Relu's mask in the blocked layout: [y > 0] as two
//     depthwise 1×1 Convs (y·2^126, then ·2^23 clipped to [0, 1], exact
//     down to the smallest denormal) and a Mul, operators ORT keeps in
//     NCHWc, so the reorders around the backward Convs go. Gradients
//     bit-identical; res_cnn 4.15 vs 4.25 (wall 4.28 vs 4.27), mnist_cnn
//     5.01 vs 4.89: the reorders removed (ReorderOutput 10.6 → 8.1 ms,
//     ReorderInput 6.0 → 5.2 ms per run in a loaded profile of res_cnn)
//     are paid back by the mask Convs and the Mul. On
//     benchmarks/pgdpeer/res_cnn.onnx (no MaxPool, masks at 28×28)
//     3.57 vs 3.73, 2 threads 3.59 vs 3.75: within the noise of runs.
//   - Dropped: the input gradient of strided Convs (res_cnn's stride-2
//     3×3 and 1×1 shortcut) as a stride-1 flipped-kernel Conv of g with
//     zeros inserted (two Pads between Reshapes), instead of
//     ConvTranspose: 5.92 vs 4.55, 2 threads 4.77 vs 3.66.
//   - Dropped, session options of the gradient session: the NCHWc
//     transformer disabled (optimization.disable_specified_optimizers)
//     6.54 vs 4.78 on mnist_cnn, 5.11 vs 4.21 on res_cnn;
//     session.set_denormal_as_zero 4.46 vs 4.68 and 4.30 vs 4.17, noise,
//     and it would flush the tiny gradients of confident samples.
//
// Floor probe (not a gradient): MaxPool's rule replaced by a nearest
// Resize of g (no Indices, no MaxUnpool) and Relu's by the identity (no
// masks), so only the Convs' and Gemms' input gradients, the head and
// the layout reorders remain: mnist_cnn 2.80 vs 4.50 at 1 thread, 2.69 vs
// 4.21 at 2 (wall 3.53 vs 5.47, 2.72 vs 4.98); res_cnn 2.82 vs 4.20,
// 2.83 vs 3.66 (wall 2.59 vs 4.22, 2.69 vs 4.23); pgdpeer's res_cnn 2.61
// vs 3.90, 2.49 vs 3.56 (wall 2.64 vs 3.87, 2.67 vs 3.93). Even with
// routing and masks free, the graphs stay at about 2.5–2.8.
//
// The floor on this execution provider, from a profile of mnist_cnn on
// an idle machine (1 thread, kernel times per run): forward 9.6 ms (Conv
// 6.8, blocked MaxPool 1.9); forward+gradient 46.5 ms: Conv 14.3 (the
// second Conv's input gradient 7.0: 64→32 channels on 13×13, 1.4× the
// forward Conv's work), MaxPool with Indices 13.8 (first pool 10.3
// against 1.4 blocked), reorders 6.8, MaxUnpool 4.4, ConvTranspose (32→1)
// 2.5, Relu masks 3.1. Forward, the two Conv input gradients and the
// dense layers alone make 19.7 ms, 2.05× the forward, which leaves
// 4.3 ms for both pool routings, both masks and every reorder; one
// elementwise op over the first pool's output [128, 32, 13, 13] costs
// 0.5–1.8 ms here (Greater 0.55, Where 1.84), and an exact
// first-maximum routing from standard operators needs several such ops
// per pool; with the probe above, ≤ 2.5 is out of reach with standard
// operators on the CPU EP: it would take a MaxPool-gradient kernel (ORT
// has none in its inference build) and cheaper ConvTranspose and layout
// changes, or another execution provider (not measured here).
// Four runs of the ratio sub-benchmarks on the kept graph (-benchtime
// 5x): idle machine (load 1.2) mnist_cnn 4.54 at 1 thread, 3.38 at 2;
// res_cnn 4.75 and 3.47; at load 16–17: mnist_cnn 4.90 / 3.99 / 4.74 at
// 1 thread, 4.07 / 3.67 / 3.47 at 2; res_cnn 4.75 / 5.24 / 3.66 at 1,
// 4.56 / 4.49 / 4.70 at 2. benchmarks/pgdpeer/res_cnn.onnx (the residual
// CNN of make bench-peer, 1×28×28 inputs, no MaxPool) through
// benchmarks/gradratio -batch 128 -x mnist_test_x.npy, three runs at load
// 20: 1 thread wall 3.93 / 3.86 / 3.64, CPU 3.69 / 3.79 / 3.68; 2 threads
// wall 3.45 / 3.03 / 4.56, CPU 2.96 / 3.36 / 3.69.
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
