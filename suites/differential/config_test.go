package differential

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestDecodeRefuses: every bad block is exit code 2 naming the key.
func TestDecodeRefuses(t *testing.T) {
	v := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return map[string]any{"variants": []any{m}}
	}
	const p = "config suites.differential."
	cases := map[string]struct {
		raw  map[string]any
		want string
	}{
		"no variants":     {map[string]any{}, p + "variants: list at least one"},
		"no name":         {v("quantize", "int8_static"), p + `variants[0].name ""`},
		"dotted name":     {v("name", "a.b", "convert", "fp16"), p + `variants[0].name "a.b"`},
		"nothing differs": {v("name", "same"), p + "variants[0]: set model, device"},
		"two graphs":      {v("name", "x", "model", "m.onnx", "convert", "fp16"), p + "variants[0]: set at most one"},
		"bad quantize":    {v("name", "x", "quantize", "int4"), p + `variants[0].quantize "int4"`},
		"bad convert":     {v("name", "x", "convert", "bf16"), p + `variants[0].convert "bf16"`},
		"bad level":       {v("name", "x", "optimization", "max"), p + `variants[0].optimization: graph optimisation level "max"`},
		"bad device":      {v("name", "x", "device", "tpu"), p + "variants[0].device"},
		"calibration 0":   {map[string]any{"variants": []any{map[string]any{"name": "x", "convert": "fp16"}}, "calibration_samples": 0}, p + "calibration_samples 0"},
		"bad evasion":     {map[string]any{"variants": []any{map[string]any{"name": "x", "convert": "fp16"}}, "evasion": map[string]any{}}, p + "evasion: config suites.evasion.attacks"},
		"duplicate": {map[string]any{"variants": []any{map[string]any{"name": "x", "convert": "fp16"}, map[string]any{"name": "x", "quantize": "int8_static"}}},
			p + `variants[1].name "x": also the name of variants[0]`},
	}
	for name, c := range cases {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", name, err, c.want)
		}
	}
}

// digits opens the repository's 8×8 digits CNN on its 400 evaluation
// images (never skips for want of ../shared).
func digits(t *testing.T) *suite.Target {
	t.Helper()
	tg := suitetest.Digits(t, "digits_cnn.onnx")
	tg.BatchSize, tg.Pool, tg.Seed, tg.Range, tg.OutDir = 64, runtime.Pool{Workers: 2}, 1, [2]float64{0, 1}, t.TempDir()
	return tg
}

// TestVariantSignatureRefused: a variant model whose inputs and outputs
// differ from the model's is exit code 2, and the message names both
// files and both signatures.
func TestVariantSignatureRefused(t *testing.T) {
	tg := digits(t)
	other := testutil.Example(t, "adult/adult_mlp.onnx")
	cfg, err := Suite{}.Decode(map[string]any{"variants": []any{map[string]any{"name": "other", "model": other}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Suite{}.Run(context.Background(), tg, cfg)
	if errs.Code(err, 0) != errs.Invalid {
		t.Fatalf("error %v; want exit code 2", err)
	}
	for _, want := range []string{"variants[0] (other)", other, tg.Session.Info().Path, "differ", "must have the same inputs and outputs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestVariantMissingFile: a variant model that does not exist is exit
// code 2 naming the variant and the file.
func TestVariantMissingFile(t *testing.T) {
	tg := digits(t)
	cfg, err := Suite{}.Decode(map[string]any{"variants": []any{map[string]any{"name": "gone", "model": "no_such.onnx"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Suite{}.Run(context.Background(), tg, cfg)
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "no_such.onnx") || !strings.Contains(err.Error(), "(gone)") {
		t.Fatalf("error %v; want exit code 2 naming the variant and no_such.onnx", err)
	}
}

// TestNeedsLabels: without labels the suite is exit code 2.
func TestNeedsLabels(t *testing.T) {
	tg := digits(t)
	d := *tg.Data
	d.Y = nil
	tg.Data = &d
	cfg, _ := Suite{}.Decode(map[string]any{"variants": []any{map[string]any{"name": "fp16", "convert": "fp16"}}})
	if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "needs labels") {
		t.Fatalf("error %v; want exit code 2 saying labels are needed", err)
	}
}

// TestSameModelAgrees: the model itself as a variant (the same file, the
// same optimisation level written out) agrees on every sample with zero
// probability delta, the same attack leaves it exactly as robust, and
// every adversarial example crafted on the model fools it: the identity
// the other figures are measured from.
func TestSameModelAgrees(t *testing.T) {
	tg := digits(t)
	raw := map[string]any{"variants": []any{map[string]any{"name": "same", "model": tg.Session.Info().Path, "optimization": "all"}},
		"evasion": map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.1}}}}}
	res := suitetest.Run(t, Suite{}, tg, raw)
	suitetest.Defined(t, res)
	if len(res.Warnings) > 0 {
		t.Errorf("warnings %v; want none", res.Warnings)
	}
	if r := res.Metrics["fgsm.linf.eps=0.1.robust_accuracy"]; !(r > 0 && r < res.Metrics["accuracy"]) {
		t.Errorf("fgsm robust accuracy %v: want the attack to break some samples and not all (accuracy %v)", r, res.Metrics["accuracy"])
	}
	for k, want := range map[string]float64{"same.agreement": 1, "same.accuracy_delta": 0, "same.mcnemar_p": 1, "same.max_abs_prob_delta": 0, "same.flips": 0,
		"same.fgsm.linf.eps=0.1.robust_accuracy_delta": 0, "same.fgsm.linf.eps=0.1.transfer_rate": 1} {
		if got := res.Metrics[k]; got != want {
			t.Errorf("%s = %v; want %v", k, got, want)
		}
	}
	if res.Metrics["same.accuracy"] != res.Metrics["accuracy"] {
		t.Errorf("same.accuracy %v; want the model's %v", res.Metrics["same.accuracy"], res.Metrics["accuracy"])
	}
	b, err := os.ReadFile(filepath.Join(tg.OutDir, Folder, "same_flips.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "sample,reference_class,variant_class,label\n" {
		t.Errorf("flips CSV %q; want the header only", b)
	}
}

// TestCUDAVariant runs the CUDA variant of the digits CNN against the
// CPU. It needs an NVIDIA GPU and a CUDA build of ONNX Runtime
// ($ONNXRUNTIME_SHARED_LIBRARY_PATH, docs/gpu.md); it skips without one
// and says which is missing.
func TestCUDAVariant(t *testing.T) {
	if len(cuda.GPUs()) == 0 {
		t.Skip("no NVIDIA GPU on this machine")
	}
	tg := digits(t)
	probe, err := runtime.Open(tg.Env, tg.Session.Info().Path, runtime.Options{Device: cuda.Device{Kind: cuda.CUDA}, IntraOpThreads: 1})
	if err != nil {
		t.Skipf("GPU present but this ONNX Runtime has no usable CUDA provider (CPU build?): %v", err)
	}
	probe.Close()
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"variants": []any{map[string]any{"name": "gpu", "device": "cuda:0"}}})
	det := res.Details["variants"].([]map[string]any)[0]
	if det["provider"] != cuda.CUDAProvider {
		t.Errorf("provider %v; want %s", det["provider"], cuda.CUDAProvider)
	}
	// cuDNN's convolutions round differently from MLAS: decisions agree
	// but for samples at a tie; 0.99 is 4 of the 400 digits (a bound
	// chosen, not yet measured on a GPU).
	if a := res.Metrics["gpu.agreement"]; a < 0.99 {
		t.Errorf("gpu.agreement %v < 0.99", a)
	}
}

// TestCUDAVariantRefusedOnCPUBuild: on an ONNX Runtime without CUDA, a
// cuda:0 variant is exit code 2 naming the variant and the device, never
// a silent run on the CPU. A CUDA build runs TestCUDAVariant instead.
func TestCUDAVariantRefusedOnCPUBuild(t *testing.T) {
	tg := digits(t)
	if cuda.Probe()[1].Available {
		t.Skip("this ONNX Runtime can use CUDA; the refusal needs a CPU-only build (TestCUDAVariant runs instead)")
	}
	cfg, err := Suite{}.Decode(map[string]any{"variants": []any{map[string]any{"name": "gpu", "device": "cuda:0"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Suite{}.Run(context.Background(), tg, cfg)
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "(gpu)") || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("error %v; want exit code 2 naming the variant and cuda", err)
	}
	t.Log(err)
}
