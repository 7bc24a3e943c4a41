package suite

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/scan"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// Suite is a named group of tests that produces metrics.
type Suite interface {
	// Name is the suite's config key and the first segment of its metric
	// names in gates ("accuracy" → "accuracy.accuracy").
	Name() string
	// Version changes when a metric's meaning changes, so baselines made
	// by an older version are known to be incomparable.
	Version() string
	// Decode validates the suite's raw config block and returns its typed
	// config. Unknown keys and bad values are errors (exit code 2).
	Decode(raw map[string]any) (any, error)
	// Metrics lists every metric key Run can produce for cfg on a model
	// with the given number of classes, so gates are checked at load time.
	Metrics(cfg any, classes int) []string
	// Run runs the suite. It returns an error only when the suite could not
	// produce its result; a failed gate is not an error.
	Run(ctx context.Context, t *Target, cfg any) (*Result, error)
}

// DataChecker is implemented by suites that need something of the run's
// data or model (CSV columns, labels, a class): the engine calls CheckData
// with the decoded config once the data are loaded and fitted to the model,
// before any suite runs, so that a mismatch is a config error (exit code 2)
// and no report is written.
type DataChecker interface {
	CheckData(cfg any, d *data.Dataset, classes int) error
}

// ColumnUser is implemented by suites that read columns of the evaluation
// data by name (fairness's sensitive columns): the engine keeps those CSV
// columns without the user listing them in data.keep (data.Spec.Also).
type ColumnUser interface {
	DataColumns(cfg any) []string
}

// Target is what a suite runs against: one model session, its evaluation
// data and the run's shared settings.
type Target struct {
	// Model is the parsed ONNX model (graph access for white-box suites).
	Model *onnx.Model
	// Session is the shared ONNX Runtime session.
	Session *runtime.Session
	// Env is the process's ONNX Runtime environment, and SessionOptions
	// the options Session was opened with: OpenModel uses both.
	Env            *runtime.Environment
	SessionOptions runtime.Options
	// Data is the evaluation data, already fitted to the model input.
	Data *data.Dataset
	// Range is data.range: the valid input domain [lo, hi].
	Range [2]float64
	// Classes is the number of model outputs per sample.
	Classes int
	// OutputKind says whether the model outputs logits or probabilities.
	OutputKind runtime.OutputKind
	// BatchSize is the configured batch size.
	BatchSize int
	// Pool runs batches on the configured number of workers.
	Pool runtime.Pool
	// Seed is this suite's seed, derived from the run seed and the suite
	// name. Use BatchRand for per-batch randomness.
	Seed uint64
	// BaseDir resolves relative paths in a suite's config.
	BaseDir string
	// OutDir is where a suite may write artifacts (examples, images).
	OutDir string
	// ConfidenceLevel is statistics.confidence_level (default 0.95), the
	// level of every confidence interval a suite reports.
	ConfidenceLevel float64
}

// OpenModel opens another model (a reference or shadow model) on the same
// environment, device and threads as the target. The caller closes it.
// Input and output names are chosen afresh for that model. Like the
// target, it is scanned first and refused (exit 2) when the scan finds
// errors (scan.Refusal), and its external data resolve against its own
// folder.
func (t *Target) OpenModel(path string) (*runtime.Session, error) {
	if res, err := scan.File(path, scan.Options{}); err == nil {
		if err := scan.Refusal(path, res); err != nil {
			return nil, err
		}
	} // an unreadable or unparsable file is runtime.Open's to report
	o := t.SessionOptions
	o.InputName, o.OutputName, o.OutputKind = "", "", ""
	if dir, err := filepath.Abs(filepath.Dir(path)); err == nil {
		o.ModelDir = dir
	}
	return runtime.Open(t.Env, path, o)
}

// Batches returns the number of batches of t.BatchSize needed for n samples.
func (t *Target) Batches(n int) int {
	if n == 0 {
		return 0
	}
	return (n + t.BatchSize - 1) / t.BatchSize
}

// BatchRange returns the half-open sample range [lo, hi) of batch b of n samples.
func (t *Target) BatchRange(b, n int) (lo, hi int) {
	lo = b * t.BatchSize
	hi = min(lo+t.BatchSize, n)
	return lo, hi
}

// Result is what a suite returns. Metric keys are relative to the suite and
// documented in docs/metrics.md. A metric that is undefined (a 0/0 rate) is
// left out of Metrics and named in Undefined, never reported as 0.
type Result struct {
	Metrics   map[string]float64
	Undefined []string
	Details   map[string]any
	Warnings  []string
	// Data lists the files the suite read besides the run's evaluation
	// data (membership's members and nonmembers, poisoning's training set),
	// each under a role relative to the suite; the engine records them in
	// the report's data[] as <suite>.<role>.<x|y|csv>. See AddData.
	Data []DataFile
}

// DataFile is one file a suite read, under the role the suite gave it.
type DataFile struct {
	Role string // "members", "train", …
	data.File
}

// AddData records the files of a data set the suite loaded, under role.
func (r *Result) AddData(role string, d *data.Dataset) {
	if d == nil {
		return
	}
	for _, f := range d.Files {
		r.Data = append(r.Data, DataFile{Role: role, File: f})
	}
}

// NewResult returns an empty Result ready to be filled.
func NewResult() *Result {
	return &Result{Metrics: map[string]float64{}, Details: map[string]any{}}
}

// Set records a metric value, or marks it undefined when ok is false.
func (r *Result) Set(key string, v float64, ok bool) {
	if ok {
		r.Metrics[key] = v
		return
	}
	r.Undefined = append(r.Undefined, key)
}

// MaxSeed is the largest seed: 2^53 − 1, so that every seed is exact in
// JSON readers that hold numbers as float64 (jq, JavaScript).
const MaxSeed = 1<<53 - 1

// SetProportion records the proportion k/n under key together with its
// exact (Clopper-Pearson) confidence bounds key.ci_low and key.ci_high at the
// given level, so gates can be written on the bound. All three are
// undefined when n is 0.
func (r *Result) SetProportion(key string, k, n int, level float64) {
	lo, hi, ok := stats.ClopperPearson(k, n, level)
	r.Set(key, float64(k)/float64(n), ok)
	r.Set(key+".ci_low", lo, ok)
	r.Set(key+".ci_high", hi, ok)
}

// ProportionKeys returns the metric keys SetProportion writes for key.
func ProportionKeys(key string) []string {
	return []string{key, key + ".ci_low", key + ".ci_high"}
}

// DeriveSeed derives a child seed in [0, MaxSeed] from a parent seed and a
// label (a suite name, an attack name). It is a pure function: the same
// inputs always give the same seed.
func DeriveSeed(parent uint64, label string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(label))
	return splitmix(parent^h.Sum64()) & MaxSeed
}

// BatchRand returns the random source for batch b of a suite, derived only
// from the suite seed and the batch index, so it does not depend on which
// worker runs the batch or when.
func BatchRand(suiteSeed uint64, b int) *rand.Rand {
	return rand.New(rand.NewPCG(BatchSeeds(suiteSeed, b)))
}

// BatchSeeds returns the two PCG seeds of BatchRand(suiteSeed, b), so that
// a per-sample or per-batch loop can reseed one rand.PCG (and the
// rand.Rand over it, which holds no other state) instead of allocating a
// source each time.
func BatchSeeds(suiteSeed uint64, b int) (uint64, uint64) {
	return suiteSeed, splitmix(uint64(b) + 0x9e3779b97f4a7c15)
}

// splitmix is the SplitMix64 finaliser (Steele, Lea & Flood 2014).
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
