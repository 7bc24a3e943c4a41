package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// GradOptions are the options of `gauntlet grad`.
type GradOptions struct {
	grad.Args
	ORTLibrary string
	JSON       bool
}

func newGradCmd(s Streams) *cobra.Command {
	o := &GradOptions{}
	cmd := &cobra.Command{
		Use:   "grad -m MODEL --x X.npy [--y Y.npy] [--loss ce|targeted_ce|cw|dlr|logit:K] --out G.npy [--png DIR]",
		Short: "Write per-sample input gradients (saliency) computed by a gradient graph in ONNX Runtime",
		Long: `grad builds a gradient graph of the model in standard ONNX operators (forward
pass, loss head, reverse pass) and runs it in ONNX Runtime. It writes the
gradient of each sample's own loss with respect to that sample's input, as
float32 with the input's shape, and optionally one saliency PNG per sample
(|gradient|, max over channels, normalised per sample) for image inputs.
The graph runs on the CPU, or on the GPU with --device cuda[:N] or
tensorrt[:N] (exit 2 when that provider cannot be loaded); --device auto
uses the GPU when it can and otherwise says that it fell back.

Loss heads: ce (cross-entropy on the true label; needs --y), targeted_ce
(--y holds targets), cw (Carlini-Wagner margin), dlr (Croce & Hein 2020),
logit:K (the logit of class K).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return Grad(cmd, o, s) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.Model, "model", "m", "", "ONNX model")
	f.StringVar(&o.X, "x", "", "inputs (.npy or .npz)")
	f.StringVar(&o.Y, "y", "", "labels or targets (.npy or .npz)")
	f.Float64Var(&o.Scale, "scale", 0, "input scale (0: 1/255 for uint8 data, else 1)")
	f.StringVar(&o.Loss, "loss", "ce", "loss head: ce, targeted_ce, cw, dlr, logit:K")
	f.StringVar(&o.Input, "input", "", "model input (default: the only input)")
	f.StringVar(&o.Output, "output", "", "model output (default: the first [N,classes] output)")
	f.StringVar(&o.OutputKind, "output-kind", "", "logits or probabilities (default: detected)")
	f.StringVar(&o.Out, "out", "", "gradients .npy to write")
	f.StringVar(&o.PNGDir, "png", "", "folder for saliency PNGs (image inputs)")
	f.IntVar(&o.Batch, "batch-size", 128, "samples per ORT call")
	f.IntVar(&o.IntraOpThreads, "threads", 0, "ORT intra-op threads (0: ORT default)")
	f.StringVar(&o.Device, "device", "cpu", "execution provider: cpu, cuda[:N], tensorrt[:N] or auto (falls back to the CPU, and says so)")
	f.StringVar(&o.ORTLibrary, "ort-library", "", "path to the ONNX Runtime shared library")
	f.BoolVar(&o.JSON, "json", false, "print the summary as JSON")
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("x")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// Grad runs `gauntlet grad`.
func Grad(cmd *cobra.Command, o *GradOptions, s Streams) error {
	lib, err := runtime.FindLibrary(runtime.DefaultSearch(o.ORTLibrary, ""))
	if err != nil {
		return err
	}
	o.LibraryPath = lib
	sum, err := grad.Run(cmd.Context(), o.Args)
	if err != nil {
		return err
	}
	if o.JSON {
		b, _ := json.MarshalIndent(sum, "", "  ")
		_, err := fmt.Fprintln(s.Out, string(b))
		return err
	}
	if sum.Fallback != "" {
		fmt.Fprintf(s.Err, "gauntlet: grad: --device %s fell back to %s: %s\n", o.Device, sum.ExecutionProvider, sum.Fallback)
	}
	fmt.Fprintf(s.Out, "gradients of %s loss for %d samples %v → %s (mean loss %.6g, on %s)\n", sum.Loss, sum.Samples, sum.Shape, sum.Out, sum.MeanLoss, sum.ExecutionProvider)
	if len(sum.PNGs) > 0 {
		fmt.Fprintf(s.Out, "%d saliency PNGs in %s\n", len(sum.PNGs), o.PNGDir)
	}
	return nil
}
