package differential

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/quantize"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// maxKeepTries bounds the FP16 conversion's retries (one per operator type
// ONNX Runtime refuses in float16).
const maxKeepTries = 32

// opened is one variant's session and what was done to make it.
type opened struct {
	sess     *runtime.Session
	path     string         // the model file the session loaded
	details  map[string]any // for the report
	warnings []string
}

// open opens variant v (index i of cfg) on the target's environment; a
// Gauntlet-made model is written to dir first.
func open(ctx context.Context, t *suite.Target, cfg Config, i int, dir string) (*opened, error) {
	v := cfg.Variants[i]
	o := t.SessionOptions
	o.OutputKind = ""
	o.Optimization = v.Optimization
	if v.Device != "" {
		o.Device = cfg.devices[i]
	}
	details := map[string]any{}
	if v.Optimization != "" {
		details["optimization"] = v.Optimization
	}
	what := fmt.Sprintf("config suites.differential.variants[%d] (%s)", i, v.Name)
	src := t.Session.Info().Path
	var (
		sess *runtime.Session
		err  error
		path = src
	)
	switch {
	case v.Model != "":
		path = v.Model
		if !filepath.IsAbs(path) {
			path = filepath.Join(t.BaseDir, path)
		}
		if sess, err = runtime.Open(t.Env, path, o); err != nil {
			return nil, errs.WithCode(errs.Code(err, errs.Invalid), fmt.Errorf("%s: %w", what, err))
		}
	case v.Quantize != "" || v.Convert != "":
		m, err := onnx.Load(src)
		if err != nil {
			return nil, errs.WithCode(errs.Invalid, err)
		}
		path = filepath.Join(dir, v.Name+".onnx")
		if sess, err = makeVariant(ctx, t, cfg, v, m, path, o, details); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	default:
		if sess, err = runtime.Open(t.Env, path, o); err != nil {
			return nil, errs.WithCode(errs.Code(err, errs.Invalid), fmt.Errorf("%s: %w", what, err))
		}
	}
	if err := sameIO(t.Session, sess, what); err != nil {
		sess.Close()
		return nil, err
	}
	if err := t.CheckClassLabels(sess, what); err != nil {
		sess.Close()
		return nil, err
	}
	if sess.NumClasses() != t.Classes {
		sess.Close()
		return nil, errs.Invalidf("%s: the variant has %d classes, the model %d", what, sess.NumClasses(), t.Classes)
	}
	var warnings []string
	if details["quantized_nothing"] == true {
		warnings = append(warnings, fmt.Sprintf("differential: variant %s: the model has no Conv, Gemm or MatMul with constant float32 weights, so nothing was quantised and the variant computes what the model does", v.Name))
	}
	delete(details, "quantized_nothing")
	info := sess.Info()
	details["model"] = info.Path
	if path != src && v.Model == "" && t.OutDir != "" {
		// A variant Gauntlet made: its path relative to the output
		// folder, as the flips CSV's (the same in every shard's report).
		details["model"] = filepath.Join(Folder, v.Name+".onnx")
	}
	details["sha256"] = info.SHA256
	details["provider"] = sess.Provider().Provider
	details["device"] = sess.Provider().Device
	details["output_kind"] = string(sess.OutputKind())
	return &opened{sess: sess, path: path, details: details, warnings: warnings}, nil
}

// sameIO checks that the variant's inputs and outputs have the model's
// names, element types and shapes (a dynamic dim matches any); the error,
// errs.Invalid, names both.
func sameIO(ref, vari *runtime.Session, what string) error {
	a, b := ref.Info(), vari.Info()
	if ioEqual(a.Inputs, b.Inputs) && ioEqual(a.Outputs, b.Outputs) {
		return nil
	}
	return errs.Invalidf("%s: model %s has inputs [%s] and outputs [%s], but the model under test %s has inputs [%s] and outputs [%s]; a variant must have the same inputs and outputs",
		what, b.Path, ioString(b.Inputs), ioString(b.Outputs), a.Path, ioString(a.Inputs), ioString(a.Outputs))
}

func ioEqual(a, b []runtime.TensorInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type || len(a[i].Shape) != len(b[i].Shape) {
			return false
		}
		for j, d := range a[i].Shape {
			if e := b[i].Shape[j]; d >= 0 && e >= 0 && d != e {
				return false
			}
		}
	}
	return true
}

func ioString(v []runtime.TensorInfo) string {
	s := make([]string, len(v))
	for i, t := range v {
		s[i] = fmt.Sprintf("%s %s %v", t.Name, t.Type, t.Shape)
	}
	return strings.Join(s, ", ")
}

// makeVariant writes the Gauntlet-made variant v of m to path and opens it.
func makeVariant(ctx context.Context, t *suite.Target, cfg Config, v Variant, m *onnx.Model, path string, o runtime.Options, details map[string]any) (*runtime.Session, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("variant folder: %w", err)
	}
	write := func(q *onnx.Model) error {
		return reports.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(q.Bytes); return err })
	}
	switch {
	case v.Convert == ConvertFP16:
		// everything in float16 first; the operators ONNX Runtime then
		// runs behind Casts to float32 it inserts itself (read from the
		// graph it runs at the basic level, before fusions rename them),
		// and any it refuses outright, are kept in float32 by name
		var keep []string
		for try := 0; ; try++ {
			q, rep, err := quantize.FP16(m, keep)
			if err != nil {
				return nil, err
			}
			if err := write(q); err != nil {
				return nil, err
			}
			probe := o
			probe.Optimization = runtime.OptimizeBasic
			g, err := ortGraph(t, path, probe)
			if err != nil {
				op := missingKernel(err)
				if op == "" || slices.Contains(keep, op) || try >= maxKeepTries {
					return nil, err
				}
				keep = append(keep, op)
				continue
			}
			more := false
			for _, op := range upcast(q, g) {
				if !slices.Contains(keep, op) {
					keep, more = append(keep, op), true
				}
			}
			if more && try < maxKeepTries {
				continue
			}
			details["conversion"] = map[string]any{"to": "float16", "inputs_outputs": "float32 (Cast at the boundaries)", "kept_float32": rep.KeptFloat32}
			break
		}
	case v.Quantize == QuantizeDynamic:
		q, rep, err := quantize.WeightsOnly(m)
		if err != nil {
			return nil, err
		}
		details["quantization"] = map[string]any{"mode": QuantizeDynamic, "weights": "int8 symmetric", "activations": "float32", "report": rep}
		details["quantized_nothing"] = len(rep.Quantized) == 0
		if err := write(q); err != nil {
			return nil, err
		}
	case v.Quantize == QuantizeStatic:
		ranges, calib, err := calibrate(ctx, t, cfg, v, m)
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		q, rep, err := quantize.Static(m, ranges)
		if err != nil {
			return nil, err
		}
		details["quantization"] = map[string]any{"mode": QuantizeStatic, "weights": "int8 symmetric", "activations": "uint8 asymmetric, min-max", "calibration": calib, "report": rep}
		details["quantized_nothing"] = len(rep.Quantized) == 0
		if err := write(q); err != nil {
			return nil, err
		}
	}
	s, err := runtime.Open(t.Env, path, o)
	if err != nil {
		return nil, errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	// the operators ONNX Runtime runs: QLinearConv, QGemm … show that
	// the QDQ pairs reached its integer kernels
	if g, err := ortGraph(t, path, o); err == nil {
		details["ort_ops"] = opCounts(g)
	} else {
		details["ort_ops_error"] = err.Error()
	}
	return s, nil
}

// kernelPatterns find the operator ONNX Runtime refuses in float16 in its
// load or session-creation error: one it has no kernel for ("Could not
// find an implementation for Gemm(13) node with name …") or one whose
// schema has no float16 ("Type Error: Type 'tensor(float16)' of input
// parameter (…) of operator (LinearClassifier) in node …").
var kernelPatterns = []*regexp.Regexp{
	regexp.MustCompile(`implementation for ([A-Za-z0-9_]+)\(`),
	regexp.MustCompile(`tensor\(float16\)' of (?:input|output) parameter \([^)]*\) of operator \(([A-Za-z0-9_]+)\)`),
}

func missingKernel(err error) string {
	for _, p := range kernelPatterns {
		if m := p.FindStringSubmatch(err.Error()); m != nil {
			return m[1]
		}
	}
	return ""
}

// calibrate measures the min-max range of every activation
// quantize.Activations lists over CalibrationSamples samples of the
// evaluation data drawn without replacement from the variant's seed.
func calibrate(ctx context.Context, t *suite.Target, cfg Config, v Variant, m *onnx.Model) (map[string]quantize.Range, map[string]any, error) {
	acts := quantize.Activations(m)
	if len(acts) == 0 { // nothing to quantise: no run
		return map[string]quantize.Range{}, map[string]any{"samples": 0, "method": "min-max", "activations": 0}, nil
	}
	c, mins, maxs, err := quantize.CalibrationModel(m, acts)
	if err != nil {
		return nil, nil, err
	}
	d := t.Data
	n := min(cfg.CalibrationSamples, d.N)
	seed := suite.DeriveSeed(t.Seed, "calibration/"+v.Name)
	idx := suite.BatchRand(seed, 0).Perm(d.N)[:n]
	slices.Sort(idx)
	in := runtime.GraphTensor{Name: t.Session.Input().Name, Type: "float32", Sample: t.Session.SampleShape()}
	if len(m.Proto.GetGraph().GetInput()) > 0 {
		in.Name = m.Proto.GetGraph().GetInput()[0].GetName()
	}
	outs := make([]runtime.GraphTensor, 0, 2*len(acts))
	for i := range acts {
		outs = append(outs, runtime.GraphTensor{Name: mins[i], Type: "float32", Sample: []int64{1}},
			runtime.GraphTensor{Name: maxs[i], Type: "float32", Sample: []int64{1}})
	}
	g, err := runtime.OpenGraph(t.Env, "calibration of "+m.Path, c.Bytes, []runtime.GraphTensor{in}, outs, t.SessionOptions)
	if err != nil {
		return nil, nil, err
	}
	defer g.Close()
	batch := max(1, min(t.BatchSize, n))
	r, err := g.NewRunner(batch)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	ranges := make(map[string]quantize.Range, len(acts))
	size := d.SampleSize()
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		x := r.F32In(0)
		for j, i := range idx[lo:hi] {
			copy(x[j*size:(j+1)*size], d.Sample(i))
		}
		if err := r.Run(ctx, hi-lo); err != nil {
			return nil, nil, err
		}
		for a, name := range acts {
			rg, seen := ranges[name]
			for j := 0; j < hi-lo; j++ {
				mn, mx := r.Out(2 * a)[j], r.Out(2*a + 1)[j]
				if !seen {
					rg, seen = quantize.Range{Min: mn, Max: mx}, true
				}
				rg.Min, rg.Max = min(rg.Min, mn), max(rg.Max, mx)
			}
			ranges[name] = rg
		}
	}
	return ranges, map[string]any{"samples": n, "seed": seed, "method": "min-max", "activations": len(acts)}, nil
}
