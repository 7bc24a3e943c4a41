package runtime

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// OutputKind says whether a classifier's output holds logits or probabilities.
type OutputKind string

// Output kinds.
const (
	Logits        OutputKind = "logits"
	Probabilities OutputKind = "probabilities"
)

// ParseOutputKind parses "logits" or "probabilities"; "" gives "" (detect).
func ParseOutputKind(s string) (OutputKind, error) {
	switch k := OutputKind(s); k {
	case "", Logits, Probabilities:
		return k, nil
	}
	return "", errs.Invalidf("output kind %q: want logits or probabilities", s)
}

// ProbSumTol is how far from 1 a row's sum may be for DetectOutputKind to
// take the row as a probability vector: float32 softmax rows of up to a few
// thousand classes sum to 1 within about 1e-6 per class, so 1e-3 accepts
// them with margin while a row of logits hits it only by coincidence.
const ProbSumTol = 1e-3

// passThroughOps are the operators DetectOutputKind looks through when it
// walks back from the output to the node that computes it.
var passThroughOps = map[string]bool{"Identity": true, "Cast": true}

// DetectOutputKind says whether the model's output named outputName holds
// probabilities or logits.
//
// It first looks at the graph: if the node producing the output, looking
// through Identity and Cast nodes, is Softmax, the output is probabilities;
// if it is LogSoftmax, it is logits (log-probabilities differ from logits by
// a per-row constant, so argmax, softmax and cross-entropy treat them
// alike). Otherwise it decides on sample, rows of classes outputs computed
// by the model: if every row is non-negative and sums to 1 within ProbSumTol
// the output is probabilities, else logits. With no graph verdict and no
// complete row, it says logits. model may be nil.
func DetectOutputKind(model *onnx.Model, outputName string, sample []float32, classes int) OutputKind {
	k, _ := detectOutputKind(model, outputName, sample, classes)
	return k
}

// detectOutputKind is DetectOutputKind and a short reason for the report.
func detectOutputKind(model *onnx.Model, outputName string, sample []float32, classes int) (OutputKind, string) {
	switch op := producerOp(model, outputName); op {
	case "Softmax":
		return Probabilities, "graph: output computed by Softmax"
	case "LogSoftmax":
		return Logits, "graph: output computed by LogSoftmax (log-probabilities, used as logits)"
	}
	if classes <= 0 || len(sample) < classes {
		return Logits, "no graph evidence and no sample outputs; assumed logits"
	}
	rows := len(sample) / classes
	for i := 0; i < rows; i++ {
		row := sample[i*classes : (i+1)*classes]
		var sum float64
		for _, v := range row {
			if v < 0 || math.IsNaN(float64(v)) {
				return Logits, "sample outputs: a row has negative values"
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > ProbSumTol {
			return Logits, "sample outputs: a row does not sum to 1"
		}
	}
	return Probabilities, "sample outputs: every row non-negative and sums to 1"
}

// producerOp returns the op type of the node computing the graph value
// name, looking through passThroughOps, or "" if none is found.
func producerOp(model *onnx.Model, name string) string {
	if model == nil || model.Proto == nil {
		return ""
	}
	nodes := model.Proto.GetGraph().GetNode()
	for hops := 0; hops <= len(nodes); hops++ {
		var op string
		var in []string
		for _, n := range nodes {
			for _, o := range n.GetOutput() {
				if o == name {
					op, in = n.GetOpType(), n.GetInput()
				}
			}
		}
		if !passThroughOps[op] || len(in) == 0 {
			return op
		}
		name = in[0]
	}
	return ""
}
