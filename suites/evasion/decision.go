package evasion

import (
	"context"
	"fmt"
	"slices"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Decision-based (label-only) attacks see nothing of the model but the
// label it predicts: the model's own label output where it has one (a
// scikit-learn converter classifier's output_label, an API that answers a
// class), else the arg max of its scores. Every evaluation of one sample is
// one query, counted per sample.

// Values of label_output besides an output's name.
const (
	LabelAuto   = "auto"   // the model's int64 label output when it has exactly one, else argmax
	LabelArgmax = "argmax" // the arg max of the scores output
)

// labelChoice is where the decision-based attacks read labels, decided
// once per run (chooseLabels).
type labelChoice struct {
	output string // the label output read, "" for the arg max of the scores
	reason string // why the arg max is read under auto ("" otherwise)
	graph  *runtime.Graph
	// index maps a label value to its class index (the model's class
	// labels, runtime.ClassLabels); nil when the value is the index.
	index map[int64]int
}

// details is the report's details.decision.
func (c labelChoice) details() map[string]any {
	if c.output == "" {
		d := map[string]any{"source": "argmax"}
		if c.reason != "" {
			d["reason"] = c.reason
		}
		return d
	}
	return map[string]any{"source": "label_output", "output": c.output}
}

// labelCandidates lists the model's outputs that hold one class label per
// sample: int64 tensors of shape [N] or [N, 1].
func labelCandidates(outs []runtime.TensorInfo) (ints, strs []string) {
	for _, o := range outs {
		if len(o.Shape) != 1 && !(len(o.Shape) == 2 && o.Shape[1] == 1) {
			continue
		}
		switch o.Type {
		case "int64":
			ints = append(ints, o.Name)
		case "string":
			strs = append(strs, o.Name)
		}
	}
	return ints, strs
}

// chooseLabels decides where the decision-based attacks of cfg read labels
// and opens the label output's graph (the model itself, asked for that
// output only). Under auto a model without a usable label output is read
// through the arg max of its scores, with the reason; a named output that
// is missing, not an int64 label per sample, or that ONNX Runtime cannot
// run is an errs.Invalid error naming it.
func chooseLabels(t *suite.Target, cfg Config) (labelChoice, error) {
	need := false
	for _, a := range cfg.Attacks {
		need = need || a.decision()
	}
	if !need || cfg.LabelOutput == LabelArgmax {
		return labelChoice{}, nil
	}
	info := t.Session.Info()
	ints, strs := labelCandidates(info.Outputs)
	auto := cfg.LabelOutput == LabelAuto
	var name string
	switch {
	case auto && len(ints) == 1:
		name = ints[0]
	case auto && len(ints) > 1:
		return labelChoice{reason: fmt.Sprintf("the model has %d int64 label outputs (%v); set suites.evasion.label_output to one of them", len(ints), ints)}, nil
	case auto && len(strs) > 0:
		return labelChoice{reason: fmt.Sprintf("its label output %q holds strings, which Gauntlet reads only through the scores", strs[0])}, nil
	case auto:
		return labelChoice{reason: "the model has no label output"}, nil
	case slices.Contains(ints, cfg.LabelOutput):
		name = cfg.LabelOutput
	default:
		var names []string
		for _, o := range info.Outputs {
			names = append(names, fmt.Sprintf("%s %s %v", o.Name, o.Type, o.Shape))
		}
		return labelChoice{}, errs.Invalidf("config suites.evasion.label_output %q: not an int64 label output of the model (one label per sample, shape [N]); its outputs: %v; use auto, argmax or one of its int64 [N] outputs", cfg.LabelOutput, names)
	}
	fail := func(why string) (labelChoice, error) {
		if auto {
			return labelChoice{reason: fmt.Sprintf("its label output %q cannot be read: %s", name, why)}, nil
		}
		return labelChoice{}, errs.Invalidf("config suites.evasion.label_output %q: %s; use argmax to read the arg max of the scores", name, why)
	}
	in := t.Session.Input()
	for _, v := range info.Inputs {
		if v.Name == in.Name && v.Type != "float32" {
			return fail(fmt.Sprintf("the model's input %q is %s and only float32 inputs are fed to it as they are", v.Name, v.Type))
		}
	}
	model := t.Model.Bytes
	if model == nil {
		var err error
		if model, err = t.Model.Marshal(); err != nil {
			return labelChoice{}, err
		}
	}
	shape := make([]int64, len(t.Data.SampleShape))
	for i, d := range t.Data.SampleShape {
		shape[i] = int64(d)
	}
	var outShape []int64 // [N] or [N, 1]
	for _, o := range info.Outputs {
		if o.Name == name && len(o.Shape) == 2 {
			outShape = []int64{1}
		}
	}
	g, err := runtime.OpenGraph(t.Env, "label output "+name, model,
		[]runtime.GraphTensor{{Name: in.Name, Type: "float32", Sample: shape}},
		[]runtime.GraphTensor{{Name: name, Type: "int64", Sample: outShape}}, t.SessionOptions)
	if err != nil {
		return fail(err.Error())
	}
	c := labelChoice{output: name, graph: g}
	if cl := t.Session.Adaptation().ClassLabels; len(cl.Ints) > 0 {
		c.index = make(map[int64]int, len(cl.Ints))
		for i, v := range cl.Ints {
			c.index[v] = i
		}
	}
	return c, nil
}

// decider answers label queries for one worker: the class index the model
// gives each of the first n samples staged in in().
type decider struct {
	d, k  int
	max   int                  // rows per run
	fwd   *runtime.Runner      // the scores' arg max (g nil), the decider's own
	g     *runtime.GraphRunner // the label output
	name  string               // the label output's name
	index map[int64]int
	stage []float32 // batch×d staging rows of the arg max path
	cls   []int
	// fake, in tests, labels each staged row in place of the model.
	fake func(row []float32) int
}

// decisionRows is the number of rows a decider runs at once: the attack
// batch, or more when attackBatchBytes of inputs allow (up to
// maxAttackBatch), as the direction estimates of a batch's samples run
// hundreds of points each.
func decisionRows(batch, d int) int {
	r := maxAttackBatch
	for r > 1 && r*max(d, 1)*4 > attackBatchBytes {
		r /= 2
	}
	return max(r, batch)
}

// newDecider opens a worker's decider on c for up to rows rows at once.
func newDecider(c labelChoice, sess *runtime.Session, rows, d, k int) (*decider, error) {
	dc := &decider{d: d, k: k, name: c.output, index: c.index, cls: make([]int, rows), max: rows}
	if c.graph == nil {
		var err error
		if dc.fwd, err = sess.NewRunner(rows); err != nil {
			return nil, err
		}
		dc.stage = make([]float32, rows*d)
		return dc, nil
	}
	g, err := c.graph.NewRunner(rows)
	if err != nil {
		return nil, fmt.Errorf("label output %q: %w", c.output, err)
	}
	dc.g = g
	return dc, nil
}

// in is the staging buffer: batch rows of d values.
func (dc *decider) in() []float32 {
	if dc.g != nil {
		return dc.g.F32In(0)
	}
	return dc.stage
}

// run evaluates the first n staged rows and returns their class indices,
// valid until the next run. A label output value that is none of the
// model's classes is an errs.Invalid error naming the output.
func (dc *decider) run(ctx context.Context, n int) ([]int, error) {
	if dc.fake != nil {
		for r := 0; r < n; r++ {
			dc.cls[r] = dc.fake(dc.stage[r*dc.d : (r+1)*dc.d])
		}
		return dc.cls[:n], nil
	}
	if dc.g == nil {
		out, err := dc.fwd.Run(ctx, dc.stage[:n*dc.d], n)
		if err != nil {
			return nil, err
		}
		for r := 0; r < n; r++ {
			dc.cls[r] = stats.Argmax(out[r*dc.k : (r+1)*dc.k])
		}
		return dc.cls[:n], nil
	}
	if err := dc.g.Run(ctx, n); err != nil {
		return nil, err
	}
	out := dc.g.I64Out(0)
	for r := 0; r < n; r++ {
		v := out[r]
		c, ok := int(v), v >= 0 && v < int64(dc.k)
		if dc.index != nil {
			c, ok = dc.index[v]
		}
		if !ok {
			return nil, errs.Invalidf("label output %q: the model answered label %d, which is none of its %d classes", dc.name, v, dc.k)
		}
		dc.cls[r] = c
	}
	return dc.cls[:n], nil
}

// close closes the decider's runner.
func (dc *decider) close() {
	switch {
	case dc == nil:
	case dc.g != nil:
		dc.g.Close()
	case dc.fwd != nil:
		dc.fwd.Close()
	}
}
