package onnx

import "github.com/gauntlet-ml/gauntlet/onnx/onnxpb"

// inferConv infers a Conv output: channels are the weights' first
// dimension, the window the weights' spatial sizes unless kernel_shape
// is given.
func inferConv(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	var wk []int64
	c := int64(-1)
	if w := inf.typ(inf.in(n, 1)).Shape; len(x.Shape) >= 3 && len(w) == len(x.Shape) {
		wk, c = w[2:], w[0]
	}
	inferWindow(n, x, wk, c, set)
}

// inferPool infers the output of a windowed pool (MaxPool, AveragePool,
// LpPool): the input's channels, the window from kernel_shape.
func inferPool(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	c := int64(-1)
	if len(x.Shape) >= 3 {
		c = x.Shape[1]
	}
	inferWindow(n, x, nil, c, set)
}

// inferWindow sets a conv or pool output to [N, c, spatial sizes...],
// each spatial size that of the window (kernel wk unless kernel_shape is
// given) sliding over the padded input, and MaxPool's indices (output 1)
// to the same shape in Int64.
func inferWindow(n *onnxpb.NodeProto, x ValueType, wk []int64, c int64, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if r := len(x.Shape) - 2; r >= 1 {
		k, s, d := WindowAttrs(n, wk, r)
		if len(k) == r {
			pb, pe, ok := ConvPads(n, x.Shape[2:], k, s, d)
			vt.Shape = []int64{x.Shape[0], c}
			for i := 0; i < r; i++ {
				o := int64(-1)
				if ok {
					o = PoolOutputSize(x.Shape[2+i], k[i], s[i], d[i], pb[i], pe[i], AttrIntOr(n, "ceil_mode", 0) != 0)
				}
				vt.Shape = append(vt.Shape, o)
			}
		}
	}
	set(0, vt)
	set(1, ValueType{Elem: Int64, Shape: clone(vt.Shape)})
}

// inferGlobalPool infers a GlobalAveragePool or GlobalMaxPool output:
// the input's batch and channels, every spatial axis 1.
func inferGlobalPool(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if len(x.Shape) >= 2 {
		vt.Shape = []int64{x.Shape[0], x.Shape[1]}
		for range x.Shape[2:] {
			vt.Shape = append(vt.Shape, 1)
		}
	}
	set(0, vt)
}

// inferConvTranspose infers a ConvTranspose output (convTransposeType).
func inferConvTranspose(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, inf.convTransposeType(n, x))
}

// convTransposeType infers a ConvTranspose output: channels are the
// weights' second dimension times group; each spatial size is
// s·(in−1) + output_padding + (k−1)·d + 1 − pad_begin − pad_end (explicit
// pads), s·in for SAME_* auto_pad, or output_shape where given.
func (inf *Inference) convTransposeType(n *onnxpb.NodeProto, x ValueType) ValueType {
	vt := ValueType{Elem: x.Elem}
	w := inf.typ(inf.in(n, 1)).Shape
	if len(x.Shape) < 3 || len(w) != len(x.Shape) {
		return vt
	}
	r := len(x.Shape) - 2
	c := int64(-1)
	if w[1] >= 0 {
		c = w[1] * AttrIntOr(n, "group", 1)
	}
	vt.Shape = []int64{x.Shape[0], c}
	k, s, d := WindowAttrs(n, w[2:], r)
	outPad := AttrIntsOr(n, "output_padding", nil)
	outShape := AttrIntsOr(n, "output_shape", nil)
	pads := AttrIntsOr(n, "pads", nil)
	auto := AttrStringOr(n, "auto_pad", "NOTSET")
	for i := 0; i < r; i++ {
		in := x.Shape[2+i]
		o := int64(-1)
		switch {
		case len(outShape) == r:
			o = outShape[i]
		case in < 0:
		case auto == "SAME_UPPER" || auto == "SAME_LOWER":
			o = in * s[i]
		default:
			op := int64(0)
			if len(outPad) == r {
				op = outPad[i]
			}
			var pb, pe int64
			if auto != "VALID" && len(pads) == 2*r {
				pb, pe = pads[i], pads[r+i]
			}
			o = s[i]*(in-1) + op + (k[i]-1)*d[i] + 1 - pb - pe
		}
		vt.Shape = append(vt.Shape, o)
	}
	return vt
}

// PoolOutputSize returns the output size of a conv or pool window on one
// spatial axis (in < 0: unknown gives -1).
func PoolOutputSize(in, k, stride, dil, padBegin, padEnd int64, ceil bool) int64 {
	if in < 0 {
		return -1
	}
	if k <= 0 || stride <= 0 || dil <= 0 {
		return -1 // a malformed window: unknown
	}
	ek := (k-1)*dil + 1
	num := in + padBegin + padEnd - ek
	if num < 0 {
		return -1
	}
	if ceil {
		o := (num+stride-1)/stride + 1
		// the last window must start inside the input or left padding
		if (o-1)*stride >= in+padBegin {
			o--
		}
		return o
	}
	return num/stride + 1
}

// ConvPads returns the begin and end pads of a conv or pool node on each
// of its spatial axes, resolving auto_pad from static input sizes (in; -1
// unknown). ok is false when auto_pad needs an unknown size.
func ConvPads(n *onnxpb.NodeProto, in, kernel, strides, dils []int64) (begin, end []int64, ok bool) {
	r := len(kernel)
	begin, end = make([]int64, r), make([]int64, r)
	switch AttrStringOr(n, "auto_pad", "NOTSET") {
	case "SAME_UPPER", "SAME_LOWER":
		upper := AttrStringOr(n, "auto_pad", "") == "SAME_UPPER"
		for i := 0; i < r; i++ {
			if in[i] < 0 {
				return nil, nil, false
			}
			out := (in[i] + strides[i] - 1) / strides[i]
			total := (out-1)*strides[i] + (kernel[i]-1)*dils[i] + 1 - in[i]
			if total < 0 {
				total = 0
			}
			if upper {
				begin[i], end[i] = total/2, total-total/2
			} else {
				begin[i], end[i] = total-total/2, total/2
			}
		}
	case "VALID":
	default:
		p := AttrIntsOr(n, "pads", nil)
		if len(p) == 2*r {
			copy(begin, p[:r])
			copy(end, p[r:])
		}
	}
	return begin, end, true
}

// WindowAttrs returns kernel, strides and dilations of a conv or pool node
// with r spatial axes, filling the ONNX defaults.
func WindowAttrs(n *onnxpb.NodeProto, kernel []int64, r int) (k, s, d []int64) {
	k = AttrIntsOr(n, "kernel_shape", kernel)
	s = AttrIntsOr(n, "strides", nil)
	d = AttrIntsOr(n, "dilations", nil)
	if len(s) != r {
		s = make([]int64, r)
		for i := range s {
			s[i] = 1
		}
	}
	if len(d) != r {
		d = make([]int64, r)
		for i := range d {
			d[i] = 1
		}
	}
	return k, s, d
}
