package engine

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/accuracy"
	"github.com/gauntlet-ml/gauntlet/suites/attribute"
	"github.com/gauntlet-ml/gauntlet/suites/fairness"
)

// expiring is a context whose deadline passes when expire is called: its
// Err is then context.DeadlineExceeded, as runtime.timeout's would be,
// but at a chosen batch instead of a clock time. It implements the
// AfterFunc method the context package uses to cancel children, and
// expire runs those functions before it returns, so that every context
// derived from it (the worker pool's) is done by then: no batch starts
// after it.
type expiring struct {
	context.Context
	done  chan struct{}
	mu    sync.Mutex
	err   error
	next  int
	funcs map[int]func()
}

func newExpiring(parent context.Context) *expiring {
	return &expiring{Context: parent, done: make(chan struct{}), funcs: map[int]func(){}}
}

func (c *expiring) Done() <-chan struct{} { return c.done }

func (c *expiring) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *expiring) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	id := c.next
	c.next++
	c.funcs[id] = f
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.funcs[id]
		delete(c.funcs, id)
		return ok
	}
}

func (c *expiring) expire() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = context.DeadlineExceeded
	close(c.done)
	funcs := c.funcs
	c.funcs = map[int]func(){}
	c.mu.Unlock()
	for id := 0; id < c.next; id++ { // registration order
		if f, ok := funcs[id]; ok {
			f()
		}
	}
}

// deadlineAfter is an engine Progress that lets the suite's deadline pass
// once `after` batches have finished (the worker pool counts a batch
// after its function returned, then checks the context before taking the
// next one), through Options.WithTimeout.
type deadlineAfter struct {
	after int64
	n     atomic.Int64
	ctx   *expiring
}

func (d *deadlineAfter) Start(string) {}
func (d *deadlineAfter) Update(int, int) {
	if d.n.Add(1) == d.after {
		d.ctx.expire()
	}
}
func (d *deadlineAfter) Finish(string, string, time.Duration) {}

func (d *deadlineAfter) withTimeout(parent context.Context, _ time.Duration) (context.Context, context.CancelFunc) {
	d.ctx = newExpiring(parent)
	return d.ctx, func() {}
}

// stopAfter returns engine options whose suite deadline passes after the
// given number of batches (counted over every pass of the suite).
func stopAfter(batches int64) Options {
	d := &deadlineAfter{after: batches}
	return Options{Now: fixedNow, Progress: d, WithTimeout: d.withTimeout}
}

// firstSamples wraps a suite so that it runs on the first n samples of
// the data only: the full run on just the samples a timed-out run
// finished.
type firstSamples struct {
	suite.Suite
	n int
}

func (f firstSamples) Run(ctx context.Context, t *suite.Target, cfg any) (*suite.Result, error) {
	tt := *t
	d := *t.Data
	size := d.SampleSize()
	d.X, d.Y, d.N = d.X[:f.n*size], d.Y[:f.n], f.n
	if d.Columns != nil {
		cols := make(map[string][]string, len(d.Columns))
		for k, v := range d.Columns {
			cols[k] = v[:f.n]
		}
		d.Columns = cols
	}
	tt.Data = &d
	return f.Suite.Run(ctx, &tt, cfg)
}

// checkTimedOut checks what every timed-out suite must show: status
// timed_out, the limit, exit 3, a report that validates.
func checkTimedOut(t *testing.T, rep *reports.Report) reports.SuiteResult {
	t.Helper()
	sr := rep.Suites[0]
	if sr.Status != reports.StatusTimedOut || !strings.Contains(sr.Error, "timed out after runtime.timeout 1h") || sr.Details["timeout_s"] != 3600.0 {
		t.Errorf("status %s, error %q, timeout_s %v; want timed_out after 1h", sr.Status, sr.Error, sr.Details["timeout_s"])
	}
	if rep.ExitCode != errs.SuiteFailed {
		t.Errorf("exit %d, want 3", rep.ExitCode)
	}
	b, err := reports.MarshalJSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateJSON(b); err != nil {
		t.Errorf("report: %v", err)
	}
	return sr
}

// sameFigures compares the metrics (as JSON writes them), the undefined
// keys and the details named in keys of a timed-out suite and a full run.
func sameFigures(t *testing.T, got, want reports.SuiteResult, keys ...string) {
	t.Helper()
	if len(got.Metrics) == 0 {
		t.Fatalf("timed-out suite has no metrics")
	}
	g, _ := json.Marshal(got.Metrics)
	w, _ := json.Marshal(want.Metrics)
	if string(g) != string(w) {
		t.Errorf("partial metrics differ from the full run on the same samples:\n%s\n%s", g, w)
	}
	if !reflect.DeepEqual(got.Undefined, want.Undefined) {
		t.Errorf("undefined %v, full run %v", got.Undefined, want.Undefined)
	}
	for _, k := range keys {
		if !reflect.DeepEqual(got.Details[k], want.Details[k]) {
			t.Errorf("details.%s = %v, full run %v", k, got.Details[k], want.Details[k])
		}
	}
}

// TestAccuracyTimeoutReportsTheBatchesItFinished: the digits evaluation
// split has 400 samples (examples/README.md); at batch 7 they make 58
// batches. With one worker the deadline passes after batch 5 (samples
// 0..34), so the timed-out accuracy suite reports exactly the figures of a
// full run on the first 35 samples, says it evaluated 35 of 400, leaves
// the per-sample outcomes out, and the run exits 3.
func TestAccuracyTimeoutReportsTheBatchesItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=7", "runtime.intra_op_threads=1"}
	cfg := loadConfig(t, "suites: {accuracy: {}}\n", append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(5))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if p, ok := got.Details[suite.TimedOutKey].(map[string]any); !ok || p["samples_evaluated"] != 35 || p["samples_total"] != 400 {
		t.Errorf("details.timed_out = %v, want 35 of 400 samples", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Details[reports.PerSampleKey]; ok {
		t.Errorf("a partial run reports per-sample outcomes")
	}

	cfg = loadConfig(t, "suites: {accuracy: {}}\n", sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: []suite.Suite{firstSamples{accuracy.Suite{}, 35}}})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed || want.Details["samples"] != 35 {
		t.Fatalf("full run on 35 samples: %s, samples %v", want.Status, want.Details["samples"])
	}
	sameFigures(t, got, want, "samples", "confusion_matrix", "per_class", "calibration_bins")
}

// TestEvasionTimeoutReportsTheAttacksItFinished: FGSM at eps 0.01 and 0.03
// on the 400 digits (58 batches of 7, one worker): the deadline passes
// after the clean pass (58 batches), all of eps 0.01 (58) and 5 batches
// (35 samples) of eps 0.03. The timed-out evasion suite reports exactly
// the figures of a full run with FGSM at eps 0.01 alone (clean accuracy,
// the attack's and worst-case robust accuracy over all 400 samples), names
// the finished and stopped attacks and how far the stopped one got, and
// the run exits 3.
func TestEvasionTimeoutReportsTheAttacksItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=7", "runtime.intra_op_threads=1"}
	both := "suites: {evasion: {attacks: [{name: fgsm, norm: linf, eps: [0.01, 0.03]}]}}\n"
	cfg := loadConfig(t, both, append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(58+58+5))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["samples_evaluated"] != 400 || p["samples_total"] != 400 || p["stopped_in"] != "fgsm.linf.eps=0.03" ||
		p["stopped_in_samples"] != 35 || !reflect.DeepEqual(p["attacks_finished"], []string{"fgsm.linf.eps=0.01"}) {
		t.Errorf("details.timed_out = %v, want fgsm.linf.eps=0.01 finished and 35 samples of fgsm.linf.eps=0.03", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["fgsm.linf.eps=0.03.robust_accuracy"]; ok {
		t.Errorf("the stopped attack has figures")
	}

	cfg = loadConfig(t, "suites: {evasion: {attacks: [{name: fgsm, norm: linf, eps: [0.01]}]}}\n", sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run: %s %s", want.Status, want.Error)
	}
	if _, ok := want.Metrics["fgsm.linf.eps=0.01.robust_accuracy"]; !ok {
		t.Fatalf("full run lacks fgsm.linf.eps=0.01.robust_accuracy: %v", want.Metrics)
	}
	sameFigures(t, got, want)
}

// membershipConfig is the membership suite on the digits CNN: members are
// its training split (examples/poisoning/digits_train_*.npy), nonmembers
// its evaluation split; attacks lists the attacks, refs the LiRA reference
// models (the digits CNN itself, which passes the signature check).
func membershipConfig(t *testing.T, attacks, refs string, sets ...string) *config.Config {
	t.Helper()
	y := "suites:\n  membership:\n" +
		"    members: {x: " + testutil.Example(t, "poisoning/digits_train_x.npy") + ", y: " + testutil.Example(t, "poisoning/digits_train_y.npy") + "}\n" +
		"    nonmembers: {x: " + testutil.Example(t, "digits_eval_x.npy") + ", y: " + testutil.Example(t, "digits_eval_y.npy") + "}\n" +
		"    attacks: " + attacks + "\n"
	if refs != "" {
		y += "    reference_models: " + refs + "\n"
	}
	return loadConfig(t, y, sets...)
}

// TestMembershipTimeoutReportsTheAttacksItFinished: at batch 100 the
// members make 14 batches and the nonmembers 4 (the digits splits: 1,397
// and 400 rows, examples/README.md and examples/poisoning/make_digits_train.py);
// LiRA then scores them again on each reference model. With one worker the
// deadline passes after those 18 batches and 3 of the first reference
// model's, inside LiRA: the timed-out membership suite reports exactly the
// figures of a full run with the loss and confidence attacks alone (the
// generalisation figures over every sample and both threshold attacks),
// names them as finished and LiRA as the attack it stopped in, and the run
// exits 3.
func TestMembershipTimeoutReportsTheAttacksItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	ref := testutil.Example(t, "digits_cnn.onnx")
	cfg := membershipConfig(t, "[loss, confidence, lira]", "["+ref+", "+ref+"]", append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(14+4+3))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if !strings.Contains(got.Error, "attack lira") {
		t.Errorf("error %q does not name lira", got.Error)
	}
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["samples_evaluated"] != 1797 || p["samples_total"] != 1797 || p["stopped_in"] != "lira" ||
		!reflect.DeepEqual(p["attacks_finished"], []string{"loss", "confidence"}) {
		t.Errorf("details.timed_out = %v, want loss and confidence finished over 1797 samples, stopped in lira", got.Details[suite.TimedOutKey])
	}

	cfg = membershipConfig(t, "[loss, confidence]", "", sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed || want.Details["members"] != 1397 || want.Details["nonmembers"] != 400 {
		t.Fatalf("full run: %s %s, members %v nonmembers %v", want.Status, want.Error, want.Details["members"], want.Details["nonmembers"])
	}
	sameFigures(t, got, want, "members", "nonmembers", "attacks", "per_class")
}

// adultYAML is a config for the Adult MLP on its 1,000 evaluation rows
// (examples/adult, as testutil.SuiteConfigs) running the suites block.
func adultYAML(t *testing.T, block string) string {
	return "version: 1\nmodel: " + testutil.Example(t, "adult/adult_mlp.onnx") + "\nseed: 1\n" +
		"data: {csv: " + testutil.Example(t, "adult/adult_eval.csv") + ", label: label, keep: [sex, race], range: [0, 1]}\n" +
		"suites:\n" + block
}

// fairnessYAML is testutil.SuiteConfigs' fairness block with the flip
// tests cfs (YAML list items, "" for none).
func fairnessYAML(t *testing.T, cfs ...string) string {
	b := "  fairness:\n    sensitive: [sex, race]\n    positive_label: 1\n    min_group_size: 30\n" +
		"    reference_groups: {sex: Male, race: White}\n    n_boot: 200\n"
	if len(cfs) > 0 {
		b += "    counterfactual:\n"
		for _, c := range cfs {
			b += "      - " + c + "\n"
		}
	}
	return adultYAML(t, b)
}

const (
	cfSex  = "{attribute: sex, one_hot: [cat_sex_Female, cat_sex_Male], values: [Female, Male]}"
	cfRace = "{attribute: race, one_hot: [cat_race_Amer-Indian-Eskimo, cat_race_Asian-Pac-Islander, cat_race_Black, cat_race_Other, cat_race_White], " +
		"values: [Amer-Indian-Eskimo, Asian-Pac-Islander, Black, Other, White]}"
)

// TestFairnessTimeoutReportsTheRowsItFinished: the Adult evaluation rows
// (1,000, examples/adult) make 10 batches of 100. With one worker the
// deadline passes after 4 batches (rows 0..399), in the evaluation pass:
// the timed-out fairness suite reports exactly the figures of a full run
// on the first 400 rows (group tables, bootstrap intervals, tests), says
// it evaluated 400 of 1,000 rows, has no flip test, and the run exits 3.
func TestFairnessTimeoutReportsTheRowsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	cfg := loadYAML(t, fairnessYAML(t, cfSex), append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(4))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if p, ok := got.Details[suite.TimedOutKey].(map[string]any); !ok || p["samples_evaluated"] != 400 || p["samples_total"] != 1000 {
		t.Errorf("details.timed_out = %v, want 400 of 1000 rows", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["sex.counterfactual_flip_rate"]; ok {
		t.Errorf("the flip test has figures though the evaluation pass did not finish")
	}

	cfg = loadYAML(t, fairnessYAML(t), sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: []suite.Suite{firstSamples{fairness.Suite{}, 400}}})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run on 400 rows: %s %s", want.Status, want.Error)
	}
	sameFigures(t, got, want, "attributes", "prediction", "positive_label")
}

// TestFairnessTimeoutReportsTheFlipTestsItFinished: flip tests on sex,
// then race. After the evaluation pass (10 batches of 100) the sex test
// runs the 674 male rows as Female (7 batches) and the 326 female rows as
// Male (4 batches; counts of examples/adult/adult_eval.csv's sex column);
// the deadline passes 2 batches into race's. The timed-out suite reports
// exactly the figures of a full run with the sex flip test alone (group
// figures over all 1,000 rows), names sex as finished and race as the
// test it stopped in, and the run exits 3.
func TestFairnessTimeoutReportsTheFlipTestsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	cfg := loadYAML(t, fairnessYAML(t, cfSex, cfRace), append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(10+7+4+2))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["samples_evaluated"] != 1000 || p["samples_total"] != 1000 || p["stopped_in"] != "race.counterfactual" ||
		!reflect.DeepEqual(p["counterfactual_finished"], []string{"sex"}) {
		t.Errorf("details.timed_out = %v, want sex finished over 1000 rows, stopped in race.counterfactual", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["race.counterfactual_flip_rate"]; ok {
		t.Errorf("the stopped flip test has figures")
	}

	cfg = loadYAML(t, fairnessYAML(t, cfSex), sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run: %s %s", want.Status, want.Error)
	}
	if _, ok := want.Metrics["sex.counterfactual_flip_rate"]; !ok {
		t.Fatalf("full run lacks sex.counterfactual_flip_rate: %v", want.Metrics)
	}
	sameFigures(t, got, want, "attributes", "prediction", "positive_label")
}

// TestInversionTimeoutReportsTheClassesItFinished: MIFace on the 10
// classes of the digits CNN (testutil.SuiteConfigs' inversion block) at
// batch 3 descends in 4 batches of classes: 0-2, 3-5, 6-8, 9. With one
// worker the deadline passes after 2 of them: the timed-out inversion
// suite reports exactly the figures of a full run inverting classes 0..5
// alone (the same batches of classes), says it finished 6 of 10 classes,
// and the run exits 3.
func TestInversionTimeoutReportsTheClassesItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=3", "runtime.intra_op_threads=1"}
	block := "suites: {inversion: {steps: 200, learning_rate: 0.1, init: zeros}}\n"
	cfg := loadConfig(t, block, append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(2))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["samples_evaluated"] != 6 || p["samples_total"] != 10 || !reflect.DeepEqual(p["classes_finished"], []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("details.timed_out = %v, want classes 0..5 of 10", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["class.6.probability"]; ok {
		t.Errorf("a class the deadline stopped has figures")
	}

	cfg = loadConfig(t, "suites: {inversion: {steps: 200, learning_rate: 0.1, init: zeros, classes: [0, 1, 2, 3, 4, 5]}}\n", sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run on classes 0..5: %s %s", want.Status, want.Error)
	}
	sameFigures(t, got, want, "per_class", "gradient", "steps")
}

// TestAttributeTimeoutReportsTheRowsItFinished: attribute inference of sex
// (testutil.SuiteConfigs' block: the logistic attack) on the 1,000 Adult
// evaluation rows, 10 batches of 100. With one worker the deadline passes
// after 4 batches of the model pass: the timed-out suite reports exactly
// the figures of a full run on the first 400 rows (the attack trained and
// cross-validated on them), says it evaluated 400 of 1,000 rows, and the
// run exits 3.
func TestAttributeTimeoutReportsTheRowsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	y := adultYAML(t, "  attribute_inference:\n    sensitive: sex\n    attack_model: logistic\n")
	cfg := loadYAML(t, y, append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(4))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if p, ok := got.Details[suite.TimedOutKey].(map[string]any); !ok || p["samples_evaluated"] != 400 || p["samples_total"] != 1000 {
		t.Errorf("details.timed_out = %v, want 400 of 1000 rows", got.Details[suite.TimedOutKey])
	}

	cfg = loadYAML(t, y, sets...)
	full, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: []suite.Suite{firstSamples{attribute.Suite{}, 400}}})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed || want.Details["rows"] != 400 {
		t.Fatalf("full run on 400 rows: %s %s, rows %v", want.Status, want.Error, want.Details["rows"])
	}
	sameFigures(t, got, want, "rows", "categories", "attack_inputs", "model", "folds")
}

// TestCorruptionTimeoutReportsTheFamiliesItFinished: Gaussian noise and
// category swap at severities 1-3 on the first 200 Adult evaluation rows
// (examples/adult), batch 50: the clean pass makes 4 batches, then each
// (family, severity) cell 4. With one worker the deadline passes after the
// clean pass, Gaussian noise's 3 cells and 2 batches of category swap: the
// timed-out corruption suite reports exactly the figures of a full run of
// Gaussian noise alone, names it as finished and category swap as the
// family it stopped in, and the run exits 3.
func TestCorruptionTimeoutReportsTheFamiliesItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=50", "runtime.intra_op_threads=1"}
	y := adultYAML(t, "  corruption: {samples: 200, families: [gaussian_noise, category_swap], severities: [1, 2, 3]}\n")
	cfg := loadYAML(t, y, append(sets, "runtime.timeout=1h")...)
	rep, err := Run(context.Background(), cfg, stopAfter(4+3*4+2))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["samples_evaluated"] != 200 || p["samples_total"] != 200 || p["stopped_in"] != "category_swap" ||
		!reflect.DeepEqual(p["families_finished"], []string{"gaussian_noise"}) {
		t.Errorf("details.timed_out = %v, want gaussian_noise finished, stopped in category_swap", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["category_swap.accuracy"]; ok {
		t.Errorf("the stopped family has figures")
	}

	y = adultYAML(t, "  corruption: {samples: 200, families: [gaussian_noise], severities: [1, 2, 3]}\n")
	full, err := Run(context.Background(), loadYAML(t, y, sets...), Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run: %s %s", want.Status, want.Error)
	}
	if _, ok := want.Metrics["gaussian_noise.severity=3.accuracy"]; !ok {
		t.Fatalf("full run lacks gaussian_noise.severity=3.accuracy: %v", want.Metrics)
	}
	sameFigures(t, got, want, "samples", "accuracy", "curves", "errors", "worst_family", "kind")
}

// TestDriftTimeoutReportsThePartsItFinished: drift of the 1,000 Adult
// evaluation rows from the 2,000 training rows (testutil.SuiteConfigs'
// block: age, sex, MMD on 200 samples of each), batch 100, one worker.
// The MMD reads the penultimate activations of 200 reference then 200
// evaluation rows (2 batches each), then the shift pass runs the 1,000
// rows (10 batches). A deadline after 3 batches stops the MMD: the
// timed-out suite reports the per-feature figures alone; after 4+3 it
// stops the shift pass: the per-feature figures and the MMD. Either way
// every figure it reports equals the full run's, it reports no figure of
// the part it stopped in, details.timed_out names the parts, and the run
// exits 3.
func TestDriftTimeoutReportsThePartsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	y := testutil.SuiteConfigs(t)["drift"]
	full, err := Run(context.Background(), loadYAML(t, y, sets...), Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run: %s %s", want.Status, want.Error)
	}
	for _, c := range []struct {
		after   int64
		stopped string
		done    []string
		absent  []string
	}{
		{3, "mmd", []string{"features"}, []string{"mmd", "accuracy", "shift.worst_accuracy"}},
		{4 + 3, "shift", []string{"features", "mmd"}, []string{"accuracy", "shift.worst_accuracy"}},
	} {
		t.Run(c.stopped, func(t *testing.T) {
			rep, err := Run(context.Background(), loadYAML(t, y, append(sets, "runtime.timeout=1h")...), stopAfter(c.after))
			if err != nil {
				t.Fatal(err)
			}
			got := checkTimedOut(t, rep)
			p, _ := got.Details[suite.TimedOutKey].(map[string]any)
			if p == nil || p["samples_evaluated"] != 1000 || p["stopped_in"] != c.stopped || !reflect.DeepEqual(p["parts_finished"], c.done) {
				t.Errorf("details.timed_out = %v, want %v finished, stopped in %s", got.Details[suite.TimedOutKey], c.done, c.stopped)
			}
			for _, k := range c.absent {
				if _, ok := got.Metrics[k]; ok {
					t.Errorf("%s reported, though the deadline stopped its part", k)
				}
			}
			compared := 0
			for k, v := range got.Metrics {
				if w, ok := want.Metrics[k]; !ok || w != v {
					t.Errorf("%s = %v, full run %v", k, v, w)
				}
				compared++
			}
			// The PSI and the test's statistic and p of age (KS) and sex
			// (chi-squared), the five summaries (features); mmd and mmd.p
			// (MMD): docs/metrics/drift.md.
			if wantN := map[string]int{"mmd": 6 + 5, "shift": 6 + 5 + 2}[c.stopped]; compared != wantN {
				t.Errorf("compared %d figures, want %d: %v", compared, wantN, got.Metrics)
			}
			if !reflect.DeepEqual(got.Details["features"], want.Details["features"]) {
				t.Errorf("details.features differ from the full run's")
			}
		})
	}
}

// TestPoisoningTimeoutReportsThePartsItFinished: testutil.SuiteConfigs'
// poisoning block (spectral signatures on the 2,000 Adult training rows,
// then STRIP on the 1,000 evaluation rows), batch 100, one worker. A run
// of the data part alone counts its batches (B); a deadline one batch
// into the model part stops STRIP: the timed-out suite reports exactly the
// figures of a run of the data part alone, names data as finished and
// model as the part it stopped in, and the run exits 3.
func TestPoisoningTimeoutReportsThePartsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	y := testutil.SuiteConfigs(t)["poisoning"]
	dataOnly, _, ok := strings.Cut(y, "    model:\n")
	if !ok {
		t.Fatalf("the poisoning block has no model part:\n%s", y)
	}
	count := &deadlineAfter{}
	full, err := Run(context.Background(), loadYAML(t, dataOnly, sets...), Options{Now: fixedNow, Progress: count})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	b := count.n.Load()
	if want.Status != reports.StatusPassed || b == 0 {
		t.Fatalf("data part alone: %s %s after %d batches", want.Status, want.Error, b)
	}

	rep, err := Run(context.Background(), loadYAML(t, y, append(sets, "runtime.timeout=1h")...), stopAfter(b+1))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if !strings.Contains(got.Error, "model: ") {
		t.Errorf("error %q does not name the model part", got.Error)
	}
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["stopped_in"] != "model" || !reflect.DeepEqual(p["parts_finished"], []string{"data"}) {
		t.Errorf("details.timed_out = %v, want data finished, stopped in model", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Details["model"]; ok {
		t.Errorf("the stopped model part has details")
	}
	sameFigures(t, got, want, "data")
}

// TestCertifyTimeoutReportsTheNoiseLevelsItFinished: randomized smoothing
// of the first 100 Adult evaluation rows (testutil.SuiteConfigs' certify
// block, 20 + 200 noisy copies each) at σ 0.1 and 0.25, batch 100, one
// worker: the clean pass is 1 batch, then each σ certifies the 100 samples
// one task each. The deadline passes after the clean pass, all of σ 0.1
// and 30 samples of σ 0.25: the timed-out certify suite reports exactly
// the figures of a full run at σ 0.1 alone (its per-sample noise streams
// are seeded by σ, not by its place in the list), names σ 0.1 as finished
// and σ 0.25 as the one it stopped in after 30 samples, and the run exits
// 3.
func TestCertifyTimeoutReportsTheNoiseLevelsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	block := func(sigma string) string {
		return adultYAML(t, "  certify: {sigma: "+sigma+", n0: 20, n: 200, samples: 100, radii: [0, 0.1]}\n")
	}
	rep, err := Run(context.Background(), loadYAML(t, block("[0.1, 0.25]"), append(sets, "runtime.timeout=1h")...), stopAfter(1+100+30))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["samples_evaluated"] != 100 || p["stopped_in"] != "sigma=0.25" || p["stopped_in_samples"] != 30 ||
		!reflect.DeepEqual(p["sigma_finished"], []string{"sigma=0.1"}) {
		t.Errorf("details.timed_out = %v, want sigma=0.1 finished and 30 samples of sigma=0.25", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["sigma=0.25.radius=0.certified_accuracy"]; ok {
		t.Errorf("the stopped noise level has figures")
	}

	full, err := Run(context.Background(), loadYAML(t, block("[0.1]"), sets...), Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	if want.Status != reports.StatusPassed {
		t.Fatalf("full run: %s %s", want.Status, want.Error)
	}
	sameFigures(t, got, want, "samples", "sigma", "radii", "curves", "per_sigma")
}

// TestDifferentialTimeoutReportsTheVariantsItFinished:
// testutil.SuiteConfigs' differential block (the Adult MLP against its
// INT8 and FP16 variants), batch 100, one worker. A run with the INT8
// variant alone counts its batches (B: the model's pass, then the
// variant's calibration and pass); a deadline one batch into the FP16
// variant stops it: the timed-out suite reports exactly the figures of
// the run with INT8 alone, names int8 as finished and fp16 as the variant
// it stopped in, and the run exits 3.
func TestDifferentialTimeoutReportsTheVariantsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	y := testutil.SuiteConfigs(t)["differential"]
	const fp16 = "      - {name: fp16, convert: fp16}\n"
	int8Only := strings.Replace(y, fp16, "", 1)
	if int8Only == y {
		t.Fatalf("the differential block has no fp16 variant:\n%s", y)
	}
	count := &deadlineAfter{}
	full, err := Run(context.Background(), loadYAML(t, int8Only, sets...), Options{Now: fixedNow, Progress: count})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	b := count.n.Load()
	if want.Status != reports.StatusPassed || b == 0 {
		t.Fatalf("int8 alone: %s %s after %d batches", want.Status, want.Error, b)
	}

	rep, err := Run(context.Background(), loadYAML(t, y, append(sets, "runtime.timeout=1h")...), stopAfter(b+1))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if !strings.Contains(got.Error, "variant fp16: ") {
		t.Errorf("error %q does not name the fp16 variant", got.Error)
	}
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["stopped_in"] != "fp16" || !reflect.DeepEqual(p["variants_finished"], []string{"int8"}) || p["samples_evaluated"] != 1000 {
		t.Errorf("details.timed_out = %v, want int8 finished, stopped in fp16", got.Details[suite.TimedOutKey])
	}
	for k := range got.Metrics {
		if strings.HasPrefix(k, "fp16.") {
			t.Errorf("%s reported, though the deadline stopped its variant", k)
		}
	}
	sameFigures(t, got, want)
	// details.variants: the finished variant only, the same INT8 model
	// (its files lie in each run's own output folder).
	gv, _ := got.Details["variants"].([]map[string]any)
	wv, _ := want.Details["variants"].([]map[string]any)
	if len(gv) != 1 || len(wv) != 1 || gv[0]["name"] != "int8" || gv[0]["sha256"] != wv[0]["sha256"] {
		t.Errorf("details.variants = %v, full run %v; want int8 alone, the same model", got.Details["variants"], want.Details["variants"])
	}
}

// TestExtractionTimeoutReportsTheBudgetsItFinished:
// testutil.SuiteConfigs' extraction block (budgets 500 and 2,000 of the
// Adult training rows), batch 100, one worker. A run with budget 500
// alone counts its batches (B); the run with both budgets asks the model
// the 2,000 queries up front, 15 batches more, so a deadline at B+15+1
// passes one batch into budget 2,000 (after its surrogate trained): the
// timed-out suite reports exactly the figures of the run with budget 500
// alone (whose queries are a prefix of the other's), names 500 as
// finished and 2,000 as the budget it stopped in, and the run exits 3.
func TestExtractionTimeoutReportsTheBudgetsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	y := testutil.SuiteConfigs(t)["extraction"]
	small := strings.Replace(y, "budgets: [500, 2000]", "budgets: [500]", 1)
	if small == y {
		t.Fatalf("the extraction block has no budgets [500, 2000]:\n%s", y)
	}
	count := &deadlineAfter{}
	full, err := Run(context.Background(), loadYAML(t, small, sets...), Options{Now: fixedNow, Progress: count})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	b := count.n.Load()
	if want.Status != reports.StatusPassed || b == 0 {
		t.Fatalf("budget 500 alone: %s %s after %d batches", want.Status, want.Error, b)
	}

	const extraQueryBatches = (2000 - 500) / 100
	rep, err := Run(context.Background(), loadYAML(t, y, append(sets, "runtime.timeout=1h")...), stopAfter(b+extraQueryBatches+1))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if !strings.Contains(got.Error, "budget 2000: ") {
		t.Errorf("error %q does not name budget 2000", got.Error)
	}
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["stopped_in"] != 2000 || !reflect.DeepEqual(p["budgets_finished"], []int{500}) {
		t.Errorf("details.timed_out = %v, want 500 finished, stopped in 2000", got.Details[suite.TimedOutKey])
	}
	for k := range got.Metrics {
		if strings.Contains(k, "2000") {
			t.Errorf("%s reported, though the deadline stopped its budget", k)
		}
	}
	sameFigures(t, got, want, "split", "surrogate", "attack", "extraction_curve")
}

// TestSlicesTimeoutReportsTheMetricsItFinished: testutil.SuiteConfigs'
// slices block (the Adult evaluation rows' slices of num_age, sex and
// race) with an evasion block (FGSM, L∞ 0.03, attack batches of 100, as
// examples/slices.yaml's attack), batch 100, one worker. A run without the
// evasion block counts its batches (B: the model pass); a deadline one
// batch into the attack stops robust_accuracy: the timed-out suite reports
// exactly the figures of the run without the evasion block (the accuracy
// and selection-rate searches), names them as finished and
// robust_accuracy as the metric it stopped in, and the run exits 3.
func TestSlicesTimeoutReportsTheMetricsItFinished(t *testing.T) {
	sets := []string{"runtime.workers=1", "runtime.batch_size=100", "runtime.intra_op_threads=1"}
	y := testutil.SuiteConfigs(t)["slices"]
	const block = "  slices: {features: [num_age, sex, race], sensitive: [sex, race]}\n"
	withEvasion := strings.Replace(y, block, "  slices:\n    features: [num_age, sex, race]\n    sensitive: [sex, race]\n"+
		"    evasion:\n      batch_size: 100\n      attacks:\n        - {name: fgsm, norm: linf, eps: [0.03]}\n", 1)
	if withEvasion == y {
		t.Fatalf("the slices block is not %q:\n%s", block, y)
	}
	count := &deadlineAfter{}
	full, err := Run(context.Background(), loadYAML(t, y, sets...), Options{Now: fixedNow, Progress: count})
	if err != nil {
		t.Fatal(err)
	}
	want := full.Suites[0]
	b := count.n.Load()
	if want.Status != reports.StatusPassed || b == 0 {
		t.Fatalf("without evasion: %s %s after %d batches", want.Status, want.Error, b)
	}

	rep, err := Run(context.Background(), loadYAML(t, withEvasion, append(sets, "runtime.timeout=1h")...), stopAfter(b+1))
	if err != nil {
		t.Fatal(err)
	}
	got := checkTimedOut(t, rep)
	if !strings.Contains(got.Error, "slices: evasion: ") {
		t.Errorf("error %q does not name the attack", got.Error)
	}
	p, _ := got.Details[suite.TimedOutKey].(map[string]any)
	if p == nil || p["stopped_in"] != "robust_accuracy" || !reflect.DeepEqual(p["metrics_finished"], []string{"accuracy", "selection_rate"}) || p["samples_evaluated"] != 1000 {
		t.Errorf("details.timed_out = %v, want accuracy and selection_rate finished, stopped in robust_accuracy", got.Details[suite.TimedOutKey])
	}
	if _, ok := got.Metrics["worst.robust_accuracy"]; ok {
		t.Errorf("worst.robust_accuracy reported, though the deadline stopped the attack")
	}
	sameFigures(t, got, want, "slices", "per_metric", "min_size", "bin_edges", "samples")
}
