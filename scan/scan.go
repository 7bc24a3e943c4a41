package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// Default limits.
const (
	// DefaultMinOpset is the lowest ai.onnx opset ONNX Runtime runs.
	DefaultMinOpset = 7
	// DefaultMaxOpset is the highest ai.onnx opset the bundled ONNX
	// Runtime (1.30) is known to implement here; raise it with --max-opset
	// when a newer runtime is used.
	DefaultMaxOpset = 23
	// DefaultMaxElements bounds the elements of one tensor (2^33, 32 GiB
	// of float32): a larger declared shape is taken as corrupt or hostile.
	DefaultMaxElements = int64(1) << 33
	// DefaultMaxWeightBytes bounds the total size of all initializers
	// (16 GiB); beyond it the model is reported (warning) as too large.
	DefaultMaxWeightBytes = int64(16) << 30
)

// Options are the scan's limits and allow-list. Zero values take the
// defaults.
type Options struct {
	MinOpset, MaxOpset int64
	MaxElements        int64
	MaxWeightBytes     int64
	// AllowSHA256 is the allow-list of model digests (lower-case hex);
	// empty means no allow-list.
	AllowSHA256 []string
}

func (o *Options) defaults() {
	if o.MinOpset == 0 {
		o.MinOpset = DefaultMinOpset
	}
	if o.MaxOpset == 0 {
		o.MaxOpset = DefaultMaxOpset
	}
	if o.MaxElements == 0 {
		o.MaxElements = DefaultMaxElements
	}
	if o.MaxWeightBytes == 0 {
		o.MaxWeightBytes = DefaultMaxWeightBytes
	}
}

// File scans the model file at path. The error (exit code errs.Invalid)
// means the file could not be read or is not an ONNX model; every problem
// with a readable model is a finding. Findings are sorted by severity
// (errors first), then rule, then location.
func File(path string, o Options) (*reports.ScanResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if ok := asPathError(err, &pe); ok {
			err = pe.Err
		}
		return nil, errs.Invalidf("scan %s: %w", path, err)
	}
	m, err := onnx.Parse(b)
	if err != nil {
		return nil, errs.Invalidf("scan %s: %w", path, err)
	}
	m.Path = path
	return Model(m, filepath.Dir(path), o), nil
}

func asPathError(err error, pe **os.PathError) bool {
	p, ok := err.(*os.PathError)
	if ok {
		*pe = p
	}
	return ok
}

// Digest returns the lower-case hex SHA-256 of the file at path.
func Digest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// Allowed reports whether digest is on the allow-list (case-insensitive).
// An empty list allows everything.
func Allowed(digest string, allow []string) bool {
	if len(allow) == 0 {
		return true
	}
	for _, a := range allow {
		if strings.EqualFold(strings.TrimSpace(a), digest) {
			return true
		}
	}
	return false
}

// ValidateAllowList checks that every entry is 64 hex digits; the error
// names the entry as key[i].
func ValidateAllowList(key string, allow []string) error {
	for i, a := range allow {
		a = strings.TrimSpace(a)
		if _, err := hex.DecodeString(a); err != nil || len(a) != 64 {
			return errs.Invalidf("%s[%d]: %q is not a SHA-256 digest (64 hex digits)", key, i, a)
		}
	}
	return nil
}

// scanner collects findings.
type scanner struct {
	o        Options
	dir      string
	findings []reports.Finding
	weights  int64
	funcs    map[string]bool // "domain\x00name" of model-local functions
}

func (s *scanner) add(rule, sev, loc, format string, args ...any) {
	s.findings = append(s.findings, reports.Finding{RuleID: rule, Severity: sev, Message: fmt.Sprintf(format, args...), Location: loc})
}

// Model scans a parsed model whose external data lives in dir.
func Model(m *onnx.Model, dir string, o Options) *reports.ScanResult {
	o.defaults()
	s := &scanner{o: o, dir: dir, funcs: map[string]bool{}}
	p := m.Proto
	for _, f := range p.GetFunctions() {
		s.funcs[f.GetDomain()+"\x00"+f.GetName()] = true
	}
	if !Allowed(m.SHA256, o.AllowSHA256) {
		s.add("model/not-allowed", reports.SeverityError, "", "model sha256 %s is not in the allow-list (%d digest(s))", m.SHA256, len(o.AllowSHA256))
	}
	s.opsets(p.GetOpsetImport(), "opset_import")
	g := p.GetGraph()
	s.graph(g, "graph", nil, 0)
	for _, f := range p.GetFunctions() {
		loc := "function " + f.GetDomain() + "." + f.GetName()
		for i, n := range f.GetNode() {
			s.node(n, i, loc)
		}
	}
	if s.weights > o.MaxWeightBytes {
		s.add("onnx/tensor-size", reports.SeverityWarning, "", "initializers hold %d bytes, more than the %d-byte limit", s.weights, o.MaxWeightBytes)
	}
	sev := map[string]int{reports.SeverityError: 0, reports.SeverityWarning: 1, reports.SeverityNote: 2}
	sort.SliceStable(s.findings, func(i, j int) bool {
		a, b := s.findings[i], s.findings[j]
		if sev[a.Severity] != sev[b.Severity] {
			return sev[a.Severity] < sev[b.Severity]
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.Location < b.Location
	})
	if s.findings == nil {
		s.findings = []reports.Finding{}
	}
	return &reports.ScanResult{Path: m.Path, SHA256: m.SHA256, Findings: s.findings}
}

func (s *scanner) opsets(ops []*onnxpb.OperatorSetIdProto, where string) {
	seen := map[string]bool{}
	for _, op := range ops {
		d := op.GetDomain()
		if seen[d] {
			s.add("onnx/duplicate-name", reports.SeverityError, where+" "+domainName(d), "opset of domain %s is imported twice", domainName(d))
		}
		seen[d] = true
		if d == "" || d == "ai.onnx" {
			if v := op.GetVersion(); v < s.o.MinOpset || v > s.o.MaxOpset {
				s.add("onnx/opset-range", reports.SeverityError, where+" ai.onnx", "ai.onnx opset %d is outside the supported range %d..%d", v, s.o.MinOpset, s.o.MaxOpset)
			}
		}
	}
	if where == "opset_import" && !seen[""] && !seen["ai.onnx"] {
		s.add("onnx/opset-range", reports.SeverityError, where, "the model imports no ai.onnx opset")
	}
}

func domainName(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

// standardDomains run in every ONNX runtime.
var standardDomains = []string{"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"}

// contribDomains are ONNX Runtime's own operator domains.
var contribDomains = []string{"com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc", "com.microsoft.dml"}

func (s *scanner) node(n *onnxpb.NodeProto, i int, where string) {
	d := n.GetDomain()
	loc := nodeLoc(n, i, where)
	switch {
	case slices.Contains(standardDomains, d):
	case s.funcs[d+"\x00"+n.GetOpType()]:
	case slices.Contains(contribDomains, d):
		s.add("onnx/contrib-domain", reports.SeverityNote, loc, "%s uses operator %s.%s (ONNX Runtime contrib)", loc, d, n.GetOpType())
	default:
		s.add("onnx/custom-domain", reports.SeverityError, loc, "%s uses operator %s from custom domain %q, which needs a custom-op library", loc, n.GetOpType(), d)
	}
	for _, a := range n.GetAttribute() {
		if t := a.GetT(); t != nil {
			s.tensor(t, loc+" attribute "+a.GetName(), false)
		}
		for _, t := range a.GetTensors() {
			s.tensor(t, loc+" attribute "+a.GetName(), false)
		}
	}
}

func nodeLoc(n *onnxpb.NodeProto, i int, where string) string {
	name := n.GetName()
	if name == "" {
		name = "#" + strconv.Itoa(i)
	}
	loc := "node " + name + " (" + n.GetOpType() + ")"
	if where != "graph" {
		loc = where + " " + loc
	}
	return loc
}

// maxLoc bounds the length of a body's location: past it, only the
// innermost enclosing node and the depth are named, so that the locations
// of deeply nested bodies do not grow with the depth (quadratic in all).
const maxLoc = 256

// bodyLoc returns the location of the body in attribute attr of the node
// at loc (own: the node's location without its enclosing bodies), depth
// bodies deep.
func bodyLoc(loc, own, attr string, depth int) string {
	if len(loc) <= maxLoc {
		return loc + " attribute " + attr
	}
	return "body at depth " + strconv.Itoa(depth) + " in " + own + " attribute " + attr
}

// scope is the names one graph defines, and the scope of the graph that
// encloses it (nil for the main graph). A body sees its own names and its
// enclosing graphs': looking them up the chain, rather than copying them
// into each body, keeps the scan linear in the file's size however many
// bodies a graph nests or holds.
type scope struct {
	names map[string]bool
	outer *scope
}

// has reports whether name is defined in sc or an enclosing scope.
func (sc *scope) has(name string) bool {
	for ; sc != nil; sc = sc.outer {
		if sc.names[name] {
			return true
		}
	}
	return false
}

// graph checks one graph; outer holds the names visible from enclosing
// graphs (for If, Loop and Scan bodies; nil for the main graph).
func (s *scanner) graph(g *onnxpb.GraphProto, where string, outer *scope, depth int) {
	defined := map[string]bool{}
	sc := &scope{names: defined, outer: outer}
	prefix := ""
	if where != "graph" {
		prefix = where + " "
	}
	inputs := map[string]bool{}
	for _, v := range g.GetInput() {
		if inputs[v.GetName()] {
			s.add("onnx/duplicate-name", reports.SeverityError, prefix+"input "+v.GetName(), "graph input %q is listed twice", v.GetName())
		}
		inputs[v.GetName()] = true
		defined[v.GetName()] = true
		s.valueInfo(v, prefix+"input "+v.GetName())
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		if inits[t.GetName()] {
			s.add("onnx/duplicate-name", reports.SeverityError, prefix+"initializer "+t.GetName(), "initializer %q is defined twice", t.GetName())
		}
		inits[t.GetName()] = true
		defined[t.GetName()] = true
		s.tensor(t, prefix+"initializer "+t.GetName(), true)
	}
	for _, t := range g.GetSparseInitializer() {
		if v := t.GetValues(); v != nil {
			defined[v.GetName()] = true
			s.tensor(v, prefix+"sparse initializer "+v.GetName(), true)
		}
	}
	// Every node output, in any order: ORT sorts the graph itself, and
	// order is not a security question.
	producer := map[string]string{}
	names := map[string]int{}
	for i, n := range g.GetNode() {
		loc := nodeLoc(n, i, where)
		if nm := n.GetName(); nm != "" {
			names[nm]++
			if names[nm] == 2 {
				s.add("onnx/duplicate-name", reports.SeverityWarning, loc, "node name %q is used by more than one node", nm)
			}
		}
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if p, ok := producer[o]; ok {
				s.add("onnx/duplicate-name", reports.SeverityError, loc, "%s writes %q, which %s already writes", loc, o, p)
				continue
			}
			if inits[o] || inputs[o] {
				s.add("onnx/duplicate-name", reports.SeverityError, loc, "%s writes %q, which is also a graph input or initializer", loc, o)
			}
			producer[o] = loc
		}
	}
	for o := range producer {
		defined[o] = true
	}
	for i, n := range g.GetNode() {
		loc := nodeLoc(n, i, where)
		s.node(n, i, where)
		for _, in := range n.GetInput() {
			if in != "" && !sc.has(in) {
				s.add("onnx/dangling-name", reports.SeverityError, loc, "%s reads %q, which nothing defines", loc, in)
			}
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() == nil && len(a.GetGraphs()) == 0 {
				continue
			}
			body := bodyLoc(loc, nodeLoc(n, i, "graph"), a.GetName(), depth+1)
			if sg := a.GetG(); sg != nil {
				s.graph(sg, body, sc, depth+1)
			}
			for _, sg := range a.GetGraphs() {
				s.graph(sg, body, sc, depth+1)
			}
		}
	}
	s.cycles(g, where, producer)
	seen := map[string]bool{}
	for _, v := range g.GetOutput() {
		if !sc.has(v.GetName()) {
			s.add("onnx/dangling-name", reports.SeverityError, prefix+"output "+v.GetName(), "graph output %q is not defined by any node, input or initializer", v.GetName())
		}
		if seen[v.GetName()] {
			s.add("onnx/duplicate-name", reports.SeverityError, prefix+"output "+v.GetName(), "graph output %q is listed twice", v.GetName())
		}
		seen[v.GetName()] = true
	}
}

// cycles flags the nodes of g that can never run because they read,
// directly or through other nodes, their own output (Kahn's algorithm over the values g's nodes
// write: a node is ready once every input that a node of g writes is
// written). producer maps each written value to its first writer's
// location.
func (s *scanner) cycles(g *onnxpb.GraphProto, where string, producer map[string]string) {
	nodes := g.GetNode()
	waits := make([]int, len(nodes))
	readers := map[string][]int{}
	var ready []int
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if _, ok := producer[in]; ok && in != "" {
				waits[i]++
				readers[in] = append(readers[in], i)
			}
		}
		if waits[i] == 0 {
			ready = append(ready, i)
		}
	}
	done := 0
	written := map[string]bool{}
	for len(ready) > 0 {
		i := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		done++
		for _, o := range nodes[i].GetOutput() {
			if o == "" || written[o] {
				continue
			}
			written[o] = true
			for _, r := range readers[o] {
				if waits[r]--; waits[r] == 0 {
					ready = append(ready, r)
				}
			}
		}
	}
	if done == len(nodes) {
		return
	}
	for i, n := range nodes {
		if waits[i] == 0 {
			continue
		}
		loc := nodeLoc(n, i, where)
		for _, in := range n.GetInput() {
			if p, ok := producer[in]; ok && in != "" && !written[in] {
				s.add("onnx/graph-cycle", reports.SeverityError, loc, "%s reads %q, written by %s, which depends on it in turn: %d node(s) of the graph are on or behind a cycle and can never run", loc, in, p, len(nodes)-done)
				return
			}
		}
	}
}

func (s *scanner) valueInfo(v *onnxpb.ValueInfoProto, loc string) {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return
	}
	// Dynamic dims count as 1: the static dims alone may already ask for
	// more elements than one tensor may hold (an empty dim makes none).
	n, over, empty := int64(1), false, false
	var dims []string
	for _, d := range tt.GetShape().GetDim() {
		dv, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue)
		if !ok {
			dims = append(dims, "?")
			continue
		}
		if dv.DimValue < 0 {
			s.add("onnx/tensor-size", reports.SeverityError, loc, "%s declares dimension %d", loc, dv.DimValue)
			return
		}
		dims = append(dims, strconv.FormatInt(dv.DimValue, 10))
		switch {
		case dv.DimValue == 0:
			empty = true
		case n > s.o.MaxElements/dv.DimValue:
			over = true
		default:
			n *= dv.DimValue
		}
	}
	if over && !empty {
		s.add("onnx/tensor-size", reports.SeverityError, loc, "%s declares shape [%s]: more than the %d-element limit", loc, strings.Join(dims, " "), s.o.MaxElements)
	}
}

// elemBits is the width of each tensor element type in bits (0: variable
// or unknown), by TensorProto.DataType.
var elemBits = map[int32]int64{
	1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64,
	12: 32, 13: 64, 14: 64, 15: 128, 16: 16, 17: 8, 18: 8, 19: 8, 20: 8,
	21: 4, 22: 4, 23: 4,
}

func (s *scanner) tensor(t *onnxpb.TensorProto, loc string, weight bool) {
	n := int64(1)
	for _, d := range t.GetDims() {
		if d < 0 {
			s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has negative dimension %d", loc, d)
			return
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has shape %v: its element count overflows", loc, t.GetDims())
			return
		}
		n = int64(lo)
	}
	if n > s.o.MaxElements {
		s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has shape %v: %d elements, more than the %d limit", loc, t.GetDims(), n, s.o.MaxElements)
		return
	}
	w := elemBits[t.GetDataType()]
	want := (n*w + 7) / 8
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		s.external(t, loc, want, w > 0)
		if weight && w > 0 {
			s.weights += want
		}
		return
	}
	if raw := t.GetRawData(); raw != nil && w > 0 && int64(len(raw)) != want {
		s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has shape %v of %s: %d bytes expected, raw_data holds %d", loc, t.GetDims(), onnx.ElemName(t.GetDataType()), want, len(raw))
	}
	typed := int64(len(t.GetFloatData()) + len(t.GetInt32Data()) + len(t.GetInt64Data()) + len(t.GetDoubleData()) + len(t.GetUint64Data()) + len(t.GetStringData()))
	if t.GetRawData() == nil && typed > 0 && typed != n && !packedTyped(t.GetDataType(), typed, n) {
		s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has shape %v: %d elements expected, %d stored", loc, t.GetDims(), n, typed)
	}
	if weight && w > 0 {
		s.weights += want
	}
}

// packedTyped reports whether typed values may legitimately number other
// than n: complex types store two per element, 4-bit types two per int32.
func packedTyped(dt int32, typed, n int64) bool {
	switch dt {
	case 14, 15:
		return typed == 2*n
	case 21, 22, 23:
		return typed == (n+1)/2
	}
	return false
}

func (s *scanner) external(t *onnxpb.TensorProto, loc string, want int64, sized bool) {
	var location string
	var length int64 = -1
	var offset int64
	for _, kv := range t.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "length", "offset":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has external data %s %q, not a byte count", loc, kv.GetKey(), kv.GetValue())
				return
			}
			if kv.GetKey() == "length" {
				length = v
			} else {
				offset = v
			}
		}
	}
	if location == "" {
		s.add("onnx/external-data-missing", reports.SeverityError, loc, "%s is stored externally but names no location", loc)
		return
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if filepath.IsAbs(location) || strings.HasPrefix(location, "/") || strings.HasPrefix(location, `\`) || filepath.VolumeName(location) != "" ||
		clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		s.add("onnx/external-data-escape", reports.SeverityError, loc, "%s reads its data from %q, outside the model's folder", loc, location)
		return
	}
	full := filepath.Join(s.dir, clean)
	st, err := os.Stat(full)
	if err != nil {
		s.add("onnx/external-data-missing", reports.SeverityError, loc, "%s reads its data from %q: %v", loc, location, unwrap(err))
		return
	}
	// A symbolic link may still lead outside the folder.
	if real, err := filepath.EvalSymlinks(full); err == nil {
		if dirReal, err := filepath.EvalSymlinks(s.dir); err == nil {
			if rel, err := filepath.Rel(dirReal, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				s.add("onnx/external-data-escape", reports.SeverityError, loc, "%s reads its data from %q, a link to %s outside the model's folder", loc, location, real)
				return
			}
		}
	}
	// offset and length are checked apart so that their sum cannot
	// overflow.
	if offset > st.Size() || (length >= 0 && length > st.Size()-offset) {
		end := "the end"
		if length >= 0 {
			end = strconv.FormatUint(uint64(offset)+uint64(length), 10)
		}
		s.add("onnx/tensor-size", reports.SeverityError, loc, "%s reads bytes %d..%s of %q, which holds %d", loc, offset, end, location, st.Size())
		return
	}
	if length < 0 {
		length = st.Size() - offset
	}
	if sized && length != want {
		s.add("onnx/tensor-size", reports.SeverityError, loc, "%s has shape %v: %d bytes expected, external data holds %d", loc, t.GetDims(), want, length)
	}
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Count returns the number of findings at or above severity min.
func Count(r *reports.ScanResult, min string) (int, error) {
	rank, err := reports.SeverityRank(min)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range r.Findings {
		if k, _ := reports.SeverityRank(f.Severity); k >= rank {
			n++
		}
	}
	return n, nil
}
