package quantize

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// CalibrationModel returns m with two float32 outputs of shape [N, 1] per
// tensor of names: each sample's minimum and maximum of that tensor
// (Flatten from axis 1, then ReduceMin and ReduceMax), named in mins and
// maxs. Running it over calibration samples and taking the extremes gives
// the min-max ranges Static takes. A tensor that is not float32 is an
// errs.Invalid error naming it.
func CalibrationModel(m *onnx.Model, names []string) (c *onnx.Model, mins, maxs []string, err error) {
	c = m.Clone()
	inf := c.Infer()
	b := onnx.NewBuilder(c, "gauntlet/calibrate/")
	for _, t := range names {
		if e := inf.Types[t].Elem; e != onnx.Float32 {
			return nil, nil, nil, errs.Invalidf("model %s: tensor %q is %s; quantisation needs float32 activations", m.Path, t, onnx.ElemName(e))
		}
		f := b.Op("Flatten", []string{t}, onnx.AttrInt("axis", 1))
		lo := b.Reduce("ReduceMin", f, []int64{1}, true)
		hi := b.Reduce("ReduceMax", f, []int64{1}, true)
		b.AddOutput(lo, onnx.Float32, []int64{-1, 1})
		b.AddOutput(hi, onnx.Float32, []int64{-1, 1})
		mins, maxs = append(mins, lo), append(maxs, hi)
	}
	c.Proto.Graph.ValueInfo = nil
	if _, err := c.Marshal(); err != nil {
		return nil, nil, nil, fmt.Errorf("calibration model: %w", err)
	}
	return c, mins, maxs, nil
}
