package runtime

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// chain builds a model whose nodes compute x → n0 → n1 … → out, one node
// per op type.
func chain(ops ...string) *onnx.Model {
	g := &onnxpb.GraphProto{}
	in := "x"
	for i, op := range ops {
		out := "t" + string(rune('0'+i))
		if i == len(ops)-1 {
			out = "out"
		}
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Input: []string{in}, Output: []string{out}})
		in = out
	}
	return &onnx.Model{Proto: &onnxpb.ModelProto{Graph: g}}
}

func TestDetectOutputKind(t *testing.T) {
	// Hand-made rows of 3 classes.
	probs := []float32{0.2, 0.3, 0.5, 1, 0, 0}              // sums exactly 1
	nearProbs := []float32{0.2, 0.3, 0.5004, 0.1, 0.1, 0.8} // first row off by 4e-4 < ProbSumTol
	logits := []float32{1.5, -0.3, 0.2, 0.1, 0.1, 0.1}
	offByMore := []float32{0.2, 0.3, 0.502, 0.1, 0.1, 0.8} // off by 2e-3 > ProbSumTol
	negative := []float32{1.2, -0.2, 0, 0.2, 0.3, 0.5}     // sums to 1 but has a negative value
	for _, c := range []struct {
		name   string
		model  *onnx.Model
		sample []float32
		want   OutputKind
	}{
		{"softmax node", chain("Gemm", "Softmax"), logits, Probabilities},
		{"softmax then identity and cast", chain("Gemm", "Softmax", "Identity", "Cast"), nil, Probabilities},
		{"logsoftmax node", chain("Gemm", "LogSoftmax"), probs, Logits},
		{"gemm, probability rows", chain("Gemm"), probs, Probabilities},
		{"gemm, rows within tolerance", chain("Gemm"), nearProbs, Probabilities},
		{"gemm, logits", chain("Gemm"), logits, Logits},
		{"gemm, sum off by more than the tolerance", chain("Gemm"), offByMore, Logits},
		{"gemm, negative value", chain("Gemm"), negative, Logits},
		{"no model, probability rows", nil, probs, Probabilities},
		{"no model, no sample", nil, nil, Logits},
		{"sample shorter than a row", chain("Gemm"), probs[:2], Logits},
		{"identity then nothing", chain("Identity"), logits, Logits},
	} {
		if got := DetectOutputKind(c.model, "out", c.sample, 3); got != c.want {
			t.Errorf("%s: DetectOutputKind = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestParseOutputKind(t *testing.T) {
	for _, s := range []string{"", "logits", "probabilities"} {
		if k, err := ParseOutputKind(s); err != nil || string(k) != s {
			t.Errorf("ParseOutputKind(%q) = %q, %v", s, k, err)
		}
	}
	if _, err := ParseOutputKind("probs"); err == nil {
		t.Error("ParseOutputKind(probs) succeeded")
	}
}
