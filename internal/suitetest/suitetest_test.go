package suitetest

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestDigits: Digits fills the session fields, the CPU options and the
// model's folder, and leaves the images as stored: examples/README.md
// gives them as 400 1×8×8 images in 10 classes, the shape both digits
// models take, so fitting them to the input changes nothing.
func TestDigits(t *testing.T) {
	for _, model := range []string{"digits_cnn.onnx", "digits_cnn_softmax.onnx"} {
		tg := Digits(t, model)
		if tg.Model == nil || tg.Session == nil || tg.Env == nil {
			t.Fatalf("%s: model, session or environment not set", model)
		}
		want := runtime.Options{Device: cuda.Device{Kind: cuda.CPU}, IntraOpThreads: 1}
		if !reflect.DeepEqual(tg.SessionOptions, want) {
			t.Errorf("%s: session options %+v, want %+v", model, tg.SessionOptions, want)
		}
		if tg.BaseDir != filepath.Dir(testutil.Example(t, model)) {
			t.Errorf("%s: base dir %s", model, tg.BaseDir)
		}
		if tg.Classes != 10 || tg.Data.N != 400 || !reflect.DeepEqual(tg.Data.SampleShape, []int{1, 8, 8}) {
			t.Errorf("%s: %d classes, %d samples of shape %v; want 10, 400, [1 8 8]", model, tg.Classes, tg.Data.N, tg.Data.SampleShape)
		}
		if tg.ConfidenceLevel != 0.95 || tg.BatchSize != 0 || tg.Seed != 0 || tg.OutDir != "" {
			t.Errorf("%s: settings not left to the caller: %+v", model, tg)
		}
	}
}

// fakeSuite lists metrics a and b and produces what its config says.
type fakeSuite struct{}

func (fakeSuite) Name() string                           { return "fake" }
func (fakeSuite) Version() string                        { return "1" }
func (fakeSuite) Decode(raw map[string]any) (any, error) { return raw, nil }
func (fakeSuite) Metrics(any, int) []string              { return []string{"a", "b"} }
func (fakeSuite) Run(_ context.Context, _ *suite.Target, cfg any) (*suite.Result, error) {
	res := suite.NewResult()
	for k, v := range cfg.(map[string]any) {
		res.Set(k, 1, v.(bool))
	}
	return res, nil
}

// recorder records the errors Run reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestRunChecksMetrics: Run accepts a result whose metrics are exactly
// the listed ones, produced or undefined, and reports each missing,
// unlisted or unlisted-undefined metric.
func TestRunChecksMetrics(t *testing.T) {
	for _, c := range []struct {
		raw  map[string]any // metric → defined
		want []string
	}{
		{map[string]any{"a": true, "b": true}, nil},
		{map[string]any{"a": true, "b": false}, nil},
		{map[string]any{"a": true}, []string{"fake: metric b listed but not produced"}},
		{map[string]any{"a": true, "b": true, "c": true}, []string{"fake: metric c produced but not listed"}},
		{map[string]any{"a": true, "b": true, "d": false}, []string{"fake: metric d declared undefined but not listed"}},
	} {
		r := &recorder{TB: t}
		Run(r, fakeSuite{}, &suite.Target{}, c.raw)
		if !reflect.DeepEqual(r.errors, c.want) {
			t.Errorf("%v: errors %q, want %q", c.raw, r.errors, c.want)
		}
	}
}
