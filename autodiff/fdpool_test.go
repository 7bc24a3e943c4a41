package autodiff_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// poolCases checks MaxPool and AveragePool with every window attribute
// exporters write (overlapping windows, pads, ceil_mode, dilations,
// count_include_pad, auto_pad) at the opsets where the gradient is built
// differently: below 16 MaxPool routes overlapping windows by kernel
// offsets, from 16 by ScatterElements; AveragePool's divisor is ONNX
// Runtime's own at every opset. Max cases use the distinct grid, so that
// no ±h step crosses a tie. It also checks the Pad modes and the linear
// Resize that exporters write for padding and upsampling.
func poolCases() []fdCase {
	img := []int64{2, 7, 8} // C, H, W: odd and even sizes
	var cs caseList
	add := cs.add
	mp := func(name string, opsets []int64, attrs ...*onnxpb.AttributeProto) {
		for _, op := range opsets {
			a := attrs
			add(fdCase{name: fmt.Sprintf("MaxPool_%s_%d", name, op), opset: op, distinct: true, shape: img, f32: true,
				build: func(b *B, x string, e int32, r *rand.Rand) string {
					return b.Op("MaxPool", []string{x}, a...)
				}})
		}
	}
	ap := func(name string, opsets []int64, attrs ...*onnxpb.AttributeProto) {
		for _, op := range opsets {
			a := attrs
			add(fdCase{name: fmt.Sprintf("AveragePool_%s_%d", name, op), opset: op, shape: img, f32: true,
				build: func(b *B, x string, e int32, r *rand.Rand) string {
					return b.Op("AveragePool", []string{x}, a...)
				}})
		}
	}
	low := []int64{11, 13, 15}
	// ResNet's stem: 3×3, stride 2, pad 1 (overlapping, padded)
	mp("resnet_stem", append(low, 16, 21), ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1))
	// SqueezeNet / GoogLeNet: 3×3 stride 2 with ceil_mode
	mp("overlap_ceil", append(low, 17), ais("kernel_shape", 3, 3), ais("strides", 2, 2), ai("ceil_mode", 1))
	// stride 1 (GoogLeNet's branch pool), pads 1
	mp("stride1", low, ais("kernel_shape", 3, 3), ais("strides", 1, 1), ais("pads", 1, 1, 1, 1))
	// dilated, asymmetric pads
	mp("dilated", []int64{11, 14}, ais("kernel_shape", 2, 3), ais("strides", 1, 2), ais("dilations", 2, 1), ais("pads", 0, 1, 1, 0))
	// non-overlapping windows with ceil_mode reaching past the input
	mp("ceil_nonoverlap", []int64{11, 13}, ais("kernel_shape", 2, 3), ais("strides", 2, 3), ai("ceil_mode", 1))
	// auto_pad SAME_UPPER with stride 2
	mp("same_upper", []int64{11}, as("auto_pad", "SAME_UPPER"), ais("kernel_shape", 3, 3), ais("strides", 2, 2))
	// every combination of ceil_mode, count_include_pad and pads
	ap("ceil_exclude", append(low, 19), ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1), ai("ceil_mode", 1))
	ap("ceil_include", append(low, 19), ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1), ai("ceil_mode", 1), ai("count_include_pad", 1))
	ap("ceil_nopad", []int64{11, 17}, ais("kernel_shape", 2, 3), ais("strides", 2, 2), ai("ceil_mode", 1))
	ap("asym_include", []int64{11}, ais("kernel_shape", 3, 2), ais("strides", 1, 2), ais("pads", 0, 1, 2, 0), ai("count_include_pad", 1))
	ap("dilated_19", []int64{19, 21}, ais("kernel_shape", 2, 2), ais("strides", 2, 1), ais("dilations", 2, 2), ais("pads", 1, 0, 1, 1))
	ap("same_lower", []int64{11}, as("auto_pad", "SAME_LOWER"), ais("kernel_shape", 3, 3), ais("strides", 2, 2))
	// 1-D windows
	add(fdCase{name: "MaxPool_1d_overlap_11", opset: 11, distinct: true, shape: []int64{3, 9}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("MaxPool", []string{x}, ais("kernel_shape", 3), ais("strides", 2), ais("pads", 1, 1), ai("ceil_mode", 1))
	}})
	add(fdCase{name: "AveragePool_1d_ceil_11", opset: 11, shape: []int64{3, 9}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("AveragePool", []string{x}, ais("kernel_shape", 3), ais("strides", 2), ais("pads", 1, 1), ai("ceil_mode", 1))
	}})
	// Pad modes exporters write (reflect and replicate padding, wrap from
	// opset 19), pads as an input (opset 11+)
	for _, mode := range []string{"reflect", "edge"} {
		for _, op := range []int64{11, 18} {
			m := mode
			add(fdCase{name: fmt.Sprintf("Pad_%s_%d", m, op), opset: op, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
				return b.Op("Tanh", []string{b.Op("Pad", []string{x, b.ConstI64(0, 0, 2, 1, 0, 0, 1, 3)}, as("mode", m))})
			}})
		}
	}
	add(fdCase{name: "Pad_wrap_19", opset: 19, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Tanh", []string{b.Op("Pad", []string{x, b.ConstI64(0, 1, 3, 0, 0, 2, 0, 9)}, as("mode", "wrap"))})
	}})
	// linear (bilinear) Resize in every coordinate mode, up and down
	for _, ctm := range []string{"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"} {
		for _, sc := range [][]float64{{1, 1, 2, 1.5}, {1, 1, 0.5, 0.75}} {
			cm, scv := ctm, sc
			add(fdCase{name: fmt.Sprintf("Resize_linear_%s_%v", cm, scv[2]), opset: 13, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
				scales := b.ConstFloat("scales", onnx.Float32, []int64{4}, scv)
				return b.Op("Resize", []string{x, "", scales}, as("mode", "linear"), as("coordinate_transformation_mode", cm))
			}})
		}
	}
	add(fdCase{name: "Resize_linear_sizes_11", opset: 11, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		roi := b.ConstFloat("roi", onnx.Float32, []int64{0}, nil)
		sc := b.ConstFloat("scales", onnx.Float32, []int64{0}, nil)
		// sizes as F.interpolate(size=(5, 11)) exports them: Shape(x)[:2] ++ [5, 11]
		nc := b.Slice(b.Shape(x), []int64{0}, []int64{2}, []int64{0})
		sizes := b.Op("Concat", []string{nc, b.ConstI64(5, 11)}, ai("axis", 0))
		return b.Op("Resize", []string{x, roi, sc, sizes}, as("mode", "linear"), as("coordinate_transformation_mode", "align_corners"))
	}})
	// exports at opsets 7–10, converted to opset 11 in memory: attribute
	// forms of Slice, Pad and Clip, Upsample (nearest and linear), TopK-1
	old := func(name string, op int64, build builder, out ...int64) {
		add(fdCase{name: fmt.Sprintf("old_%s_%d", name, op), opset: op, shape: img, f32: true, build: build, outShape: out})
	}
	old("Slice_attrs", 9, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Slice", []string{x}, ais("starts", 1, 2), ais("ends", 2147483647, -1), ais("axes", 2, 3))
	})
	old("Pad_attrs_reflect", 9, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Tanh", []string{b.Op("Pad", []string{x}, ais("pads", 0, 0, 1, 2, 0, 0, 2, 1), as("mode", "reflect"))})
	})
	old("Pad_attrs_value", 10, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Tanh", []string{b.Op("Pad", []string{x}, ais("pads", 0, 0, 1, 0, 0, 0, 0, 1), af("value", 0.5))})
	})
	add(fdCase{name: "old_Clip_attrs_7", opset: 7, distinct: true, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Clip", []string{x}, af("min", -1), af("max", 1))
	}})
	old("Upsample_nearest", 9, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Upsample", []string{x, b.ConstFloat("scales", onnx.Float32, []int64{4}, []float64{1, 1, 2, 2})}, as("mode", "nearest"))
	}, 2, 14, 16)
	old("Upsample_linear", 9, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Upsample", []string{x, b.ConstFloat("scales", onnx.Float32, []int64{4}, []float64{1, 1, 2, 1.5})}, as("mode", "linear"))
	}, 2, 14, 12)
	old("Upsample_attr", 7, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Upsample", []string{x}, as("mode", "nearest"), onnx.AttrFloats("scales", 1, 1, 3, 2))
	}, 2, 21, 16)
	old("Resize_10", 10, func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Resize", []string{x, b.ConstFloat("scales", onnx.Float32, []int64{4}, []float64{1, 1, 2, 2})}, as("mode", "linear"))
	}, 2, 14, 16)
	add(fdCase{name: "old_MaxPool_overlap_8", opset: 8, distinct: true, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("MaxPool", []string{x}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1))
	}})
	return cs
}

// dropoutCases: torchvision's Swin-T exports attention dropout in training
// mode with ratio 0, which passes its input unchanged.
func dropoutCases() []fdCase {
	return []fdCase{{name: "Dropout_training_ratio0", opset: 13, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		ratio := b.ConstFloat("ratio", e, nil, []float64{0})
		train := b.Initializer(onnx.TensorBool("train", nil, []bool{true}))
		return b.Op("Tanh", []string{b.Node("Dropout", []string{x, ratio, train}, 2)[0]})
	}}}
}
