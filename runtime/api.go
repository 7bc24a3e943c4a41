package runtime

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// TensorInfo describes a model input or output; dynamic dims are -1.
type TensorInfo struct {
	Name     string
	Type     string // "float32", "float64", "int64", ...
	Shape    []int64
	DimNames []string // symbolic name of each dim ("" when static or unnamed)
}

// ModelInfo is the introspected signature of a model.
type ModelInfo struct {
	Path    string
	SHA256  string
	Opset   int64
	Inputs  []TensorInfo
	Outputs []TensorInfo
}

// Options configure a Session.
type Options struct {
	Device         cuda.Device
	IntraOpThreads int // 0: ORT default
	// InputName is the classifier input (runtime.input); "" means the
	// model's only input.
	InputName string
	// OutputName is the classifier output (runtime.output); "" means the
	// first float32 output of rank 2.
	OutputName string
	// OutputKind overrides output-kind detection when set.
	OutputKind OutputKind
	// SampleShape is the data's sample shape (without the batch axis). It
	// fixes the input's dynamic non-batch dims, which are refused when it
	// is nil; a static dim must equal it. Ignored when the input's
	// non-batch dims are all static.
	SampleShape []int64
	// Optimization is ORT's graph optimisation level and
	// OptimizedModelPath where ORT writes the graph it runs
	// (SessionSettings).
	Optimization       string
	OptimizedModelPath string
	// ModelDir is the folder of the model file the graphs opened with
	// these options (OpenGraph: gradient graphs, fused loops) are built
	// from, which keep its initializers' external data locations: they
	// resolve against it (SessionSettings.ModelDir). Open ignores it and
	// uses its own model file's folder.
	ModelDir string
}

// Session is one model loaded on one device, shared by all workers; Run is
// safe for concurrent use.
type Session struct {
	model    *onnx.Model
	info     ModelInfo
	sess     *ort.DynamicAdvancedSession
	resolved cuda.Resolved

	input, output TensorInfo
	inputType     ort.TensorElementDataType
	sampleShape   []int64
	sampleSize    int
	fixedBatch    int
	classes       int

	plan  plan
	adapt Adaptation

	mu         sync.Mutex
	kind       OutputKind
	kindReason string
}

// plan is what chooseIO decided to change in the model: read the input of
// a ZipMap, cast a non-float32 input or output.
type plan struct {
	zip     *zipMap
	inElem  int32 // the input's element type when it is cast from float32, else 0
	outElem int32 // the output's element type when it is cast to float32, else 0
}

// Open loads the model at modelPath into one ONNX Runtime session on
// opt.Device, introspects its inputs and outputs, and chooses the
// classifier input and output (see Options). It supports float32 and
// float64 inputs and a float32 output of shape [N, C]; the input's
// non-batch dims must be static. When the number of classes C is not static,
// or the output kind is neither set in opt nor evident from the graph, Open
// runs the model once on two probe samples (zeros and uniform [0,1) values
// from a fixed seed) to find them. Bad models are errs.Invalid errors naming
// the file.
//
// Deployed forms that do not have that signature are adapted in memory (see
// Adaptation): a scikit-learn or onnxmltools classifier whose scores are a
// ZipMap's seq(map(label, float)) is read at the ZipMap's float32 [N, C]
// input, with the ZipMap's class labels; a float16 input gets a float32
// input and a Cast, a float16 or float64 output a Cast to float32; dynamic
// non-batch input dims are taken from opt.SampleShape.
func Open(env *Environment, modelPath string, opt Options) (*Session, error) {
	if env == nil || !ort.IsInitialized() {
		return nil, fmt.Errorf("open model %s: onnx runtime is not initialised (call runtime.Init first)", modelPath)
	}
	kind, err := ParseOutputKind(string(opt.OutputKind))
	if err != nil {
		return nil, err
	}
	if opt.IntraOpThreads < 0 {
		return nil, errs.Invalidf("runtime.intra_op_threads %d: must be 0 (auto) or positive", opt.IntraOpThreads)
	}
	m, err := onnx.Load(modelPath)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, err)
	}
	s := &Session{model: m, info: ModelInfo{Path: modelPath, SHA256: m.SHA256, Opset: m.Opset()}}
	// External data resolve against the model's folder (ModelDir), here
	// and in the session below; the scan (engine.scanModel) has refused
	// locations outside it before.
	modelDir, err := filepath.Abs(filepath.Dir(modelPath))
	if err != nil {
		return nil, errs.Invalidf("model %s: %w", modelPath, err)
	}
	ins, outs, err := inputOutputInfo(modelPath, modelDir)
	if err != nil {
		return nil, errs.Invalidf("model %s: onnx runtime cannot load it: %w", modelPath, err)
	}
	dimNames := symbolicDims(m)
	types := valueTypes(m)
	for _, i := range ins {
		s.info.Inputs = append(s.info.Inputs, tensorInfo(i, dimNames, types))
	}
	for _, o := range outs {
		s.info.Outputs = append(s.info.Outputs, tensorInfo(o, dimNames, types))
	}
	if err := s.chooseIO(m, ins, outs, opt); err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("model %s: %w", modelPath, err))
	}
	if s.model, err = s.rewrite(m); err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("model %s: %w", modelPath, err))
	}

	so, resolved, err := NewSessionOptions("model "+modelPath, SessionSettings{IntraOpThreads: opt.IntraOpThreads, Device: opt.Device, Optimization: opt.Optimization, OptimizedModelPath: opt.OptimizedModelPath, ModelDir: modelDir})
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	s.resolved = resolved
	s.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(s.model.Bytes, []string{s.input.Name}, []string{s.output.Name}, so)
	if err != nil {
		if s.resolved.Provider != cuda.CPUProvider {
			return nil, errs.Invalidf("model %s: cannot create a session on %s (%s): %w; try `runtime.device: cpu` or `auto`", modelPath, s.resolved.Device, s.resolved.Provider, err)
		}
		return nil, errs.Invalidf("model %s: onnx runtime cannot create a session: %w", modelPath, err)
	}

	s.kind = kind
	if kind != "" {
		s.kindReason = "set in config"
	} else if k, why := detectOutputKind(s.model, s.output.Name, nil, 0); strings.HasPrefix(why, "graph:") {
		s.kind, s.kindReason = k, why
	}
	if s.classes <= 0 || s.kind == "" {
		if err := s.probe(); err != nil {
			s.sess.Destroy()
			return nil, errs.WithCode(errs.Invalid, fmt.Errorf("model %s: probe run: %w", modelPath, err))
		}
	}
	if n := s.adapt.ClassLabels.Len(); n > 0 && n != s.classes {
		s.sess.Destroy()
		return nil, errs.Invalidf("model %s: output %q has %d classes but the model names %d class labels", modelPath, s.output.Name, s.classes, n)
	}
	return s, nil
}

// chooseIO picks the classifier input and output, derives the sample
// shape, fixed batch and class count, and plans the in-memory changes the
// model needs (s.plan, s.adapt).
func (s *Session) chooseIO(m *onnx.Model, ins, outs []ort.InputOutputInfo, opt Options) error {
	if len(ins) == 0 {
		return fmt.Errorf("model has no inputs")
	}
	names := func(v []TensorInfo) string {
		var n []string
		for _, t := range v {
			n = append(n, fmt.Sprintf("%s %s %v", t.Name, t.Type, t.Shape))
		}
		return strings.Join(n, ", ")
	}
	in := -1
	switch {
	case opt.InputName != "":
		for i, t := range s.info.Inputs {
			if t.Name == opt.InputName {
				in = i
			}
		}
		if in < 0 {
			return fmt.Errorf("runtime.input %q: no such input (inputs: %s)", opt.InputName, names(s.info.Inputs))
		}
	case len(ins) == 1:
		in = 0
	default:
		return fmt.Errorf("model has %d inputs (%s); set runtime.input to the classifier input", len(ins), names(s.info.Inputs))
	}
	if len(ins) > 1 {
		return fmt.Errorf("runtime.input %q: the model has %d inputs (%s) and the others would need values; only single-input classifiers are supported", s.info.Inputs[in].Name, len(ins), names(s.info.Inputs))
	}
	s.input, s.inputType = s.info.Inputs[in], ins[in].DataType
	s.input.Shape = append([]int64(nil), s.input.Shape...)
	switch s.inputType {
	case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeDouble:
	case ort.TensorElementDataTypeFloat16:
		s.plan.inElem = onnx.Float16
		s.inputType, s.input.Type = ort.TensorElementDataTypeFloat, "float32"
	default:
		return fmt.Errorf("input %q has element type %s; only float32, float64 and float16 inputs are supported", s.input.Name, s.input.Type)
	}
	shape := s.input.Shape
	if len(shape) < 1 {
		return fmt.Errorf("input %q is a scalar; want a batch axis first", s.input.Name)
	}
	if shape[0] > 0 {
		s.fixedBatch = int(shape[0])
	}
	if err := s.fixSampleShape(opt.SampleShape); err != nil {
		return err
	}
	return s.chooseOutput(m, outs, opt, names)
}

// fixSampleShape derives the sample shape from the input shape, taking
// dynamic non-batch dims from data (the data's sample shape, nil when
// unknown).
func (s *Session) fixSampleShape(data []int64) error {
	shape := s.input.Shape
	s.sampleShape = append([]int64(nil), shape[1:]...)
	dynamic := false
	for _, d := range s.sampleShape {
		if d <= 0 {
			dynamic = true
		}
	}
	if dynamic && data != nil {
		if len(data) != len(s.sampleShape) {
			return fmt.Errorf("input %q has shape %v with dynamic non-batch dims, which the data's sample shape %v cannot fix: rank %d, want %d (the input's rank without the batch axis)",
				s.input.Name, shape, data, len(data), len(s.sampleShape))
		}
		for i, d := range s.sampleShape {
			switch {
			case data[i] < 1:
				return fmt.Errorf("input %q has shape %v; the data's sample shape %v has an empty dim", s.input.Name, shape, data)
			case d > 0 && d != data[i]:
				return fmt.Errorf("input %q has shape %v; the data's sample shape %v differs at dim %d", s.input.Name, shape, data, i+1)
			}
		}
		copy(s.sampleShape, data)
		s.input.Shape = append([]int64{shape[0]}, s.sampleShape...)
		s.adapt.InputShape = append([]int64(nil), s.input.Shape...)
	}
	s.sampleSize = 1
	for i, d := range s.sampleShape {
		if d <= 0 {
			return fmt.Errorf("input %q: dim %d of shape %v is dynamic and no data shape was given to fix it; only the batch axis may be", s.input.Name, i+1, shape)
		}
		s.sampleSize *= int(d)
	}
	return nil
}

// isScores reports whether o is a floating-point tensor of rank 2.
func isScores(o ort.InputOutputInfo) bool {
	if o.OrtValueType != ort.ONNXTypeTensor || len(o.Dimensions) != 2 {
		return false
	}
	switch o.DataType {
	case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeFloat16, ort.TensorElementDataTypeDouble:
		return true
	}
	return false
}

// chooseOutput picks the classifier output: runtime.output when set, else
// the first float32 tensor of rank 2, else the first float16 or float64 one,
// else the first ZipMap output.
func (s *Session) chooseOutput(m *onnx.Model, outs []ort.InputOutputInfo, opt Options, names func([]TensorInfo) string) error {
	zips := zipMaps(m)
	out := -1
	var zip *zipMap
	if opt.OutputName != "" {
		for i, o := range outs {
			if o.Name == opt.OutputName {
				out = i
			}
		}
		if out < 0 {
			for _, z := range zips { // runtime.output may name the ZipMap's input
				if z.in == opt.OutputName {
					zip = &z
				}
			}
			if zip == nil {
				return fmt.Errorf("runtime.output %q: no such output (outputs: %s)", opt.OutputName, names(s.info.Outputs))
			}
		}
	} else {
		for i, o := range outs {
			if out < 0 && isScores(o) && o.DataType == ort.TensorElementDataTypeFloat {
				out = i
			}
		}
		for i, o := range outs {
			if out < 0 && isScores(o) {
				out = i
			}
		}
		for i, o := range outs {
			if _, ok := zips[o.Name]; out < 0 && ok {
				out = i
			}
		}
		if out < 0 {
			return fmt.Errorf("no float32 output of shape [N, C] nor a ZipMap of class probabilities (outputs: %s); set runtime.output", names(s.info.Outputs))
		}
	}
	if out >= 0 {
		if z, ok := zips[outs[out].Name]; ok {
			zip = &z
		}
	}
	if zip != nil {
		if zip.labels.Len() == 0 {
			return fmt.Errorf("output %q: ZipMap %q has neither classlabels_int64s nor classlabels_strings", zip.out, zip.node.GetName())
		}
		s.plan.zip = zip
		s.output = TensorInfo{Name: zip.in, Type: "float32", Shape: []int64{-1, int64(zip.labels.Len())}, DimNames: []string{"", ""}}
		s.classes = zip.labels.Len()
		s.adapt.OutputRead = describeZipMap(*zip)
		s.adapt.ClassLabels = zip.labels
		return nil
	}
	o := outs[out]
	s.output = s.info.Outputs[out]
	if !isScores(o) {
		hint := ""
		for _, o := range outs {
			if _, ok := zips[o.Name]; ok && hint == "" {
				hint = fmt.Sprintf("; the class probabilities are output %q (a ZipMap): set runtime.output to it", o.Name)
			}
		}
		return fmt.Errorf("output %q is %s %v; want class scores, a float32 tensor of shape [N, C]%s", s.output.Name, s.output.Type, s.output.Shape, hint)
	}
	if o.DataType != ort.TensorElementDataTypeFloat {
		s.plan.outElem = map[ort.TensorElementDataType]int32{ort.TensorElementDataTypeFloat16: onnx.Float16, ort.TensorElementDataTypeDouble: onnx.Float64}[o.DataType]
		s.output.Type = "float32"
		s.adapt.OutputRead = fmt.Sprintf("output %q (%s, cast to float32)", o.Name, onnx.ElemName(s.plan.outElem))
	}
	s.classes = int(o.Dimensions[1]) // -1 when dynamic: found by probe
	if cl := classifierLabels(m, o.Name); cl.Len() > 0 {
		if s.classes > 0 && cl.Len() != s.classes {
			return fmt.Errorf("output %q has %d classes but its classifier node names %d labels", o.Name, s.classes, cl.Len())
		}
		s.adapt.ClassLabels = cl
	}
	return nil
}

// probe runs the model on two samples to find the class count and, when
// still unknown, the output kind.
func (s *Session) probe() error {
	n := 2
	if s.fixedBatch > 0 {
		n = s.fixedBatch
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*s.sampleSize)
	for i := s.sampleSize; i < len(x); i++ { // sample 0 stays zeros
		x[i] = rng.Float32()
	}
	shape := append(ort.Shape{int64(n)}, s.sampleShape...)
	var in ort.Value
	var err error
	if s.inputType == ort.TensorElementDataTypeDouble {
		x64 := make([]float64, len(x))
		for i, v := range x {
			x64[i] = float64(v)
		}
		in, err = ort.NewTensor(shape, x64)
	} else {
		in, err = ort.NewTensor(shape, x)
	}
	if err != nil {
		return err
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := s.sess.Run([]ort.Value{in}, outs); err != nil {
		return err
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return fmt.Errorf("output %q: got %T, want a float32 tensor", s.output.Name, outs[0])
	}
	sh := t.GetShape()
	if len(sh) != 2 || sh[0] != int64(n) || sh[1] < 1 {
		return fmt.Errorf("output %q: shape %v for %d samples, want [%d, C]", s.output.Name, sh, n, n)
	}
	if s.classes <= 0 {
		s.classes = int(sh[1])
	}
	if s.kind == "" {
		s.kind, s.kindReason = detectOutputKind(s.model, s.output.Name, t.GetData(), s.classes)
	}
	return nil
}

// Info returns the model signature.
func (s *Session) Info() ModelInfo { return s.info }

// Model returns the model ONNX Runtime runs: the parsed file, or its
// in-memory rewrite when Open adapted it (see Adaptation), whose Bytes and
// SHA256 are those of the rewrite; Info().SHA256 is always the file's.
func (s *Session) Model() *onnx.Model { return s.model }

// Input returns the classifier input the session feeds.
func (s *Session) Input() TensorInfo { return s.input }

// Output returns the classifier output the session reads.
func (s *Session) Output() TensorInfo { return s.output }

// Provider returns the execution provider actually used.
func (s *Session) Provider() cuda.Resolved { return s.resolved }

// NumClasses returns C, the size of the output's class axis.
func (s *Session) NumClasses() int { return s.classes }

// SampleShape returns the input shape without the batch axis.
func (s *Session) SampleShape() []int64 { return append([]int64(nil), s.sampleShape...) }

// SampleSize returns the number of input values per sample.
func (s *Session) SampleSize() int { return s.sampleSize }

// FixedBatch returns the model's static batch size, or 0 if the batch axis
// is dynamic.
func (s *Session) FixedBatch() int { return s.fixedBatch }

// OutputKind returns whether the output holds logits or probabilities.
func (s *Session) OutputKind() OutputKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind
}

// OutputKindReason says how OutputKind was decided, for the report.
func (s *Session) OutputKindReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kindReason
}

// SetOutputKind overrides the detected output kind.
func (s *Session) SetOutputKind(k OutputKind) error {
	if k != Logits && k != Probabilities {
		return errs.Invalidf("output kind %q: want logits or probabilities", k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kind, s.kindReason = k, "set in config"
	return nil
}

// Adaptation says how Open changed the model in memory to run it (the zero
// value when it ran as it is).
func (s *Session) Adaptation() Adaptation {
	a := s.adapt
	a.IOConversion = append([]string(nil), a.IOConversion...)
	a.InputShape = append([]int64(nil), a.InputShape...)
	if len(a.InputShape) == 0 {
		a.InputShape = nil
	}
	return a
}

// ORT returns the underlying ONNX Runtime session, for benchmarks and
// callers that need raw access.
func (s *Session) ORT() *ort.DynamicAdvancedSession { return s.sess }

// Close releases the session. Runners must be closed first.
func (s *Session) Close() error {
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	return err
}

// typeNames maps ONNX Runtime element types to TensorInfo.Type.
var typeNames = map[ort.TensorElementDataType]string{
	ort.TensorElementDataTypeFloat:   "float32",
	ort.TensorElementDataTypeDouble:  "float64",
	ort.TensorElementDataTypeFloat16: "float16",
	ort.TensorElementDataTypeInt8:    "int8",
	ort.TensorElementDataTypeUint8:   "uint8",
	ort.TensorElementDataTypeInt16:   "int16",
	ort.TensorElementDataTypeUint16:  "uint16",
	ort.TensorElementDataTypeInt32:   "int32",
	ort.TensorElementDataTypeUint32:  "uint32",
	ort.TensorElementDataTypeInt64:   "int64",
	ort.TensorElementDataTypeUint64:  "uint64",
	ort.TensorElementDataTypeBool:    "bool",
	ort.TensorElementDataTypeString:  "string",
}

func tensorInfo(i ort.InputOutputInfo, dimNames map[string][]string, types map[string]string) TensorInfo {
	t := TensorInfo{Name: i.Name, Type: typeNames[i.DataType], Shape: append([]int64(nil), i.Dimensions...)}
	if i.OrtValueType != ort.ONNXTypeTensor {
		t.Type = types[i.Name]
		if t.Type == "" {
			t.Type = strings.ToLower(i.OrtValueType.String())
		}
	} else if t.Type == "" {
		t.Type = i.DataType.String()
	}
	if n := dimNames[i.Name]; len(n) == len(t.Shape) {
		t.DimNames = n
	} else if len(t.Shape) > 0 {
		t.DimNames = make([]string, len(t.Shape))
	}
	return t
}

// valueTypes returns the types of the graph's inputs and outputs that are
// not tensors, by value name, as "seq(map(int64, tensor(float32)))".
func valueTypes(m *onnx.Model) map[string]string {
	out := map[string]string{}
	g := m.Proto.GetGraph()
	for _, v := range append(append([]*onnxpb.ValueInfoProto(nil), g.GetInput()...), g.GetOutput()...) {
		if v.GetType().GetTensorType() == nil {
			out[v.GetName()] = typeString(v.GetType())
		}
	}
	return out
}

// typeString writes an ONNX type as ONNX's documentation does, with
// NumPy-style element names; "" when unknown.
func typeString(t *onnxpb.TypeProto) string {
	switch {
	case t == nil:
		return ""
	case t.GetTensorType() != nil:
		return "tensor(" + strings.ToLower(onnx.ElemName(t.GetTensorType().GetElemType())) + ")"
	case t.GetSequenceType() != nil:
		return "seq(" + typeString(t.GetSequenceType().GetElemType()) + ")"
	case t.GetMapType() != nil:
		return "map(" + strings.ToLower(onnx.ElemName(t.GetMapType().GetKeyType())) + ", " + typeString(t.GetMapType().GetValueType()) + ")"
	case t.GetOptionalType() != nil:
		return "optional(" + typeString(t.GetOptionalType().GetElemType()) + ")"
	}
	return ""
}

// symbolicDims returns the dim_param names of the graph's inputs and
// outputs, by value name.
func symbolicDims(m *onnx.Model) map[string][]string {
	out := map[string][]string{}
	g := m.Proto.GetGraph()
	vals := append(append([]*onnxpb.ValueInfoProto(nil), g.GetInput()...), g.GetOutput()...)
	for _, v := range vals {
		dims := v.GetType().GetTensorType().GetShape().GetDim()
		names := make([]string, len(dims))
		for i, d := range dims {
			names[i] = d.GetDimParam()
		}
		out[v.GetName()] = names
	}
	return out
}

// inputOutputInfo lists the model's inputs and outputs through a
// temporary ORT session opened from the file (on the CPU, ORT's defaults),
// its external data resolved against dir, the model's folder.
func inputOutputInfo(path, dir string) ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
	so, _, err := NewSessionOptions("", SessionSettings{ModelDir: dir})
	if err != nil {
		return nil, nil, err
	}
	defer so.Destroy()
	return ort.GetInputOutputInfoWithOptions(path, so)
}
