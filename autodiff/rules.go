package autodiff

import (
	"sort"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// rule returns the gradients of a node's inputs ("" for none) given the
// gradients of its outputs ("" for an output the loss does not use) and
// which inputs need one.
type rule func(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error)

// rules maps each supported ai.onnx operator to its vector-Jacobian rule,
// grouped by the file that holds the rule and sorted within each group.
var rules = map[string]rule{
	// rules_activation.go
	"Celu": ruleCelu, "Clip": ruleClip, "Elu": ruleElu, "Gelu": ruleGelu, "HardSigmoid": ruleHardSigmoid,
	"HardSwish": ruleHardSwish, "LeakyRelu": ruleLeakyRelu, "LogSoftmax": ruleLogSoftmax, "Mish": ruleMish,
	"PRelu": rulePRelu, "Relu": ruleRelu, "Selu": ruleSelu, "Sigmoid": ruleSigmoid, "Softmax": ruleSoftmax,
	"Softplus": ruleSoftplus, "Softsign": ruleSoftsign, "Tanh": ruleTanh, "ThresholdedRelu": ruleThresholdedRelu,
	// rules_conv.go
	"Conv": ruleConv, "ConvTranspose": ruleConvTranspose,
	// rules_elementwise.go
	"Abs": ruleAbs, "Add": ruleAdd, "Cos": ruleCos, "Div": ruleDiv, "Erf": ruleErf, "Exp": ruleExp,
	"Log": ruleLog, "Max": ruleMaxMin, "Mean": ruleMean, "Min": ruleMaxMin, "Mul": ruleMul, "Neg": ruleNeg,
	"Pow": rulePow, "Reciprocal": ruleReciprocal, "Sin": ruleSin, "Sqrt": ruleSqrt, "Sub": ruleSub, "Sum": ruleSum,
	// rules_index.go
	"Gather": ruleGather, "GatherElements": ruleGatherElements, "TopK": ruleTopK, "Where": ruleWhere,
	// rules_linalg.go (matrix products, attention)
	"Einsum": ruleEinsum, "Gemm": ruleGemm, "MatMul": ruleMatMul,
	// rules_norm.go
	"BatchNormalization": ruleBatchNorm, "InstanceNormalization": ruleInstanceNorm,
	"LayerNormalization": ruleLayerNorm, "LpNormalization": ruleLpNormalization,
	// rules_pool.go
	"AveragePool": ruleAveragePool, "GlobalAveragePool": ruleGlobalAveragePool,
	"GlobalMaxPool": ruleGlobalMaxPool, "MaxPool": ruleMaxPool,
	// rules_quant.go (straight-through estimates: StraightThroughOps)
	"DequantizeLinear": ruleDequantizeLinear, "QuantizeLinear": ruleQuantizeLinear,
	// rules_reduce.go
	"CumSum": ruleCumSum, "ReduceL1": ruleReduceSmooth, "ReduceL2": ruleReduceSmooth,
	"ReduceLogSumExp": ruleReduceSmooth, "ReduceMax": ruleReduceMaxMin, "ReduceMean": ruleReduce,
	"ReduceMin": ruleReduceMaxMin, "ReduceProd": ruleReduceSmooth, "ReduceSum": ruleReduce,
	"ReduceSumSquare": ruleReduceSmooth,
	// rules_shape.go (shape, layout and copies)
	"Cast": ruleCast, "Concat": ruleConcat, "DepthToSpace": ruleDepthToSpace, "Dropout": ruleDropout,
	"Expand": ruleExpand, "Flatten": ruleReshapeBack, "Identity": passThrough, "Pad": rulePad,
	"Reshape": ruleReshapeBack, "Resize": ruleResize, "Slice": ruleSlice, "SpaceToDepth": ruleSpaceToDepth,
	"Split": ruleSplit, "Squeeze": ruleReshapeBack, "Tile": ruleTile, "Transpose": ruleTranspose,
	"Unsqueeze": ruleReshapeBack,
}

// SupportedOps lists the operators with a gradient rule, sorted.
func SupportedOps() []string {
	out := make([]string, 0, len(rules))
	for k := range rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func in(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

func out(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetOutput()) {
		return n.GetOutput()[i]
	}
	return ""
}

func passThrough(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{gy[0]}, nil
}
