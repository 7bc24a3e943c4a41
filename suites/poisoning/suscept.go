package poisoning

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/train"
)

// DefaultRates are the poison rates tried unless configured.
var DefaultRates = []float64{0.01, 0.05, 0.1}

// stderrTail is how much of a failed train command's stderr goes into the
// error.
const stderrTail = 2000

// decodeSusceptibility checks the susceptibility block and fills in the
// defaults of the keys it does not set; has reports whether the suite block
// sets a key.
func decodeSusceptibility(s *SusceptibilityConfig, has func(key string) bool) error {
	const f = "config suites.poisoning.susceptibility"
	if s.Train.X == "" && s.Train.CSV == "" {
		return errs.Invalidf("%s.train: set x (and y) or csv", f)
	}
	if len(s.Attacks) == 0 {
		return errs.Invalidf("%s.attacks: list at least one attack (patch, blend, warp, sinusoidal or label_flip)", f)
	}
	seen := map[string]bool{}
	for i := range s.Attacks {
		a := &s.Attacks[i]
		field := fmt.Sprintf("%s.attacks[%d]", f, i)
		if a.Type == LabelFlip {
			if a.CleanLabel {
				return errs.Invalidf("%s.clean_label: label_flip changes labels; clean_label takes a trigger (patch, blend, warp or sinusoidal)", field)
			}
			if a.X != 0 || a.Y != 0 || a.Width != 0 || a.Height != 0 || a.Value != nil || a.Image != "" || a.Pattern != "" || a.Alpha != nil ||
				a.Amplitude != nil || a.Frequency != nil || a.Grid != 0 || a.Strength != nil || a.Seed != 0 {
				return errs.Invalidf("%s: label_flip takes only name and target", field)
			}
		} else {
			if err := a.check(field); err != nil {
				return err
			}
			if a.Target == nil {
				return errs.Invalidf("%s: a %s attack needs its target class (target)", field, a.Type)
			}
		}
		if a.Target != nil && *a.Target < 0 {
			return errs.Invalidf("%s.target: %d is negative", field, *a.Target)
		}
		if a.Name == "" {
			a.Name = a.Type
		}
		if strings.ContainsAny(a.Name, ". =") {
			return errs.Invalidf("%s.name: %q: metric name segments may not contain '.', '=' or spaces", field, a.Name)
		}
		if seen[a.Name] {
			return errs.Invalidf("%s.name: %q is used twice; give each attack its own name", field, a.Name)
		}
		seen[a.Name] = true
	}
	if !has("susceptibility.rates") {
		s.Rates = append([]float64(nil), DefaultRates...)
	}
	if len(s.Rates) == 0 {
		return errs.Invalidf("%s.rates: empty; list rates in (0, 1), or leave rates out for %v", f, DefaultRates)
	}
	for i, r := range s.Rates {
		if !(r > 0 && r < 1) {
			return errs.Invalidf("%s.rates[%d]: %g is outside (0, 1)", f, i, r)
		}
	}
	if !has("susceptibility.trainer") {
		s.Trainer = TrainerMLP
		if s.TrainCommand != "" {
			s.Trainer = TrainerCommand
		}
	}
	switch s.Trainer {
	case TrainerLogReg, TrainerMLP, TrainerCNN:
		if s.TrainCommand != "" {
			return errs.Invalidf("%s: train_command is set but trainer is %s; set trainer: command", f, s.Trainer)
		}
	case TrainerCommand:
		if s.TrainCommand == "" {
			return errs.Invalidf("%s.train_command: trainer command needs a command template with {train_x}, {train_y} and {out_model}", f)
		}
		for _, p := range []string{"{train_x}", "{train_y}", "{out_model}"} {
			if !strings.Contains(s.TrainCommand, p) {
				return errs.Invalidf("%s.train_command: the template has no %s", f, p)
			}
		}
	default:
		return errs.Invalidf("%s.trainer: %q: want logreg, mlp, cnn or command", f, s.Trainer)
	}
	tc := &s.Training
	def := train.Defaults
	const tk = "susceptibility.training."
	for _, p := range []struct {
		key string
		v   *int
		def int
	}{{"hidden", &tc.Hidden, def.Hidden}, {"filters", &tc.Filters, def.Filters}, {"epochs", &tc.Epochs, def.Epochs}, {"batch", &tc.Batch, def.Batch}} {
		if !has(tk + p.key) {
			*p.v = p.def
		}
		if *p.v < 1 {
			return errs.Invalidf("%s.training.%s: %d: must be at least 1", f, p.key, *p.v)
		}
	}
	if !has(tk + "learning_rate") {
		tc.LearningRate = def.LearningRate
	}
	if !(tc.LearningRate > 0) || math.IsInf(tc.LearningRate, 0) {
		return errs.Invalidf("%s.training.learning_rate: %g: must be a number > 0", f, tc.LearningRate)
	}
	return nil
}

func susceptibilityKeys(s *SusceptibilityConfig) []string {
	keys := suite.ProportionKeys("susceptibility.baseline.clean_accuracy")
	for _, a := range s.Attacks {
		p := "susceptibility." + a.Name
		hasASR := a.Type != LabelFlip || a.Target != nil
		if hasASR {
			keys = append(keys, suite.ProportionKeys(p+".baseline.attack_success_rate")...)
		}
		for _, r := range s.Rates {
			q := p + ".rate=" + fmtRate(r)
			keys = append(keys, suite.ProportionKeys(q+".clean_accuracy")...)
			if hasASR {
				keys = append(keys, suite.ProportionKeys(q+".attack_success_rate")...)
			}
		}
	}
	return keys
}

// experiment is one training run: an attack at a rate, or the baseline.
type experiment struct {
	attack   int // index in cfg.Attacks, -1 for the baseline
	rate     float64
	poisoned int
	path     string // the trained model
	correct  int    // evaluation inputs it classifies as labelled
	hits     []int  // per attack, triggered inputs classified as the target (-1: not judged)
}

func runSusceptibility(ctx context.Context, t *suite.Target, cfg *SusceptibilityConfig, r *suite.Result) error {
	x, err := prepareSusceptibility(t, cfg)
	if err != nil {
		return err
	}
	defer x.close()
	r.AddData("susceptibility.train", x.tr)
	pool := t.Pool
	pool.Workers = max(1, min(pool.Workers, len(x.exps)))
	if cfg.Trainer == TrainerCommand {
		pool.Workers = 1 // one user command at a time
	}
	err = pool.Run(ctx, len(x.exps), func(ctx context.Context, _, i int) error {
		return x.train(ctx, t, cfg, x.exps[i])
	})
	if err != nil {
		return err
	}
	for _, e := range x.exps {
		if err := x.evaluate(ctx, t, cfg, e); err != nil {
			return err
		}
	}
	x.report(t, cfg, r)
	return nil
}

// susceptibility is a susceptibility run: the training set, each
// attack's trigger and triggered evaluation inputs (nil for an untargeted
// label flip), the folder the models are written to, and the experiments:
// the baseline, then each attack at each rate, in config order.
type susceptibility struct {
	tr        *data.Dataset
	compiled  []*Compiled
	triggered []*data.Dataset
	dir       string
	tmp       bool // dir is a temporary folder (no output folder)
	seed      uint64
	exps      []*experiment
}

// prepareSusceptibility loads the training set, compiles the attacks'
// triggers, builds their triggered evaluation inputs and lists the
// experiments (the models are written under the output folder's
// poisoning_susceptibility/, else a temporary folder that close removes).
func prepareSusceptibility(t *suite.Target, cfg *SusceptibilityConfig) (*susceptibility, error) {
	const f = "config suites.poisoning.susceptibility"
	ev := t.Data
	if ev == nil || ev.N == 0 || ev.Y == nil {
		return nil, errs.Invalidf("suites.poisoning.susceptibility needs labelled evaluation data (data.x and data.y)")
	}
	tr, err := loadTrain(t, cfg.Train, f[len("config "):]+".train")
	if err != nil {
		return nil, err
	}
	x := &susceptibility{tr: tr, compiled: make([]*Compiled, len(cfg.Attacks)), triggered: make([]*data.Dataset, len(cfg.Attacks)),
		seed: suite.DeriveSeed(t.Seed, "poisoning/susceptibility")}
	for i, a := range cfg.Attacks {
		if a.Target != nil && *a.Target >= t.Classes {
			return nil, errs.Invalidf("%s.attacks[%d].target: %d is not a class of the model (%d classes)", f, i, *a.Target, t.Classes)
		}
		if a.Type == LabelFlip {
			// A targeted flip succeeds when clean non-target inputs are
			// classified as the target: no trigger is applied.
			if a.Target != nil {
				x.triggered[i] = Triggered(ev, nil, *a.Target)
			}
			continue
		}
		if x.compiled[i], err = a.Compile(fmt.Sprintf("%s.attacks[%d]", f, i), tr.SampleShape, t.Range[0], t.Range[1], t.BaseDir); err != nil {
			return nil, err
		}
		x.triggered[i] = Triggered(ev, x.compiled[i], *a.Target)
	}
	x.dir = filepath.Join(t.OutDir, "poisoning_susceptibility")
	if t.OutDir == "" {
		if x.dir, err = os.MkdirTemp("", "gauntlet-poisoning-"); err != nil {
			return nil, err
		}
		x.tmp = true
	} else if err := os.MkdirAll(x.dir, 0o755); err != nil {
		return nil, err
	}
	x.exps = []*experiment{{attack: -1}}
	for i := range cfg.Attacks {
		for _, rate := range cfg.Rates {
			x.exps = append(x.exps, &experiment{attack: i, rate: rate})
		}
	}
	return x, nil
}

// close removes the temporary model folder, if any.
func (x *susceptibility) close() {
	if x.tmp {
		os.RemoveAll(x.dir)
	}
}

// train poisons the training set for e (the baseline: as it is) and
// trains e's model into x.dir, setting e.path and e.poisoned.
func (x *susceptibility) train(ctx context.Context, t *suite.Target, cfg *SusceptibilityConfig, e *experiment) error {
	tr := x.tr
	name, label := "baseline", "baseline"
	xs, y := tr.X, tr.Y
	if e.attack >= 0 {
		a := cfg.Attacks[e.attack]
		name = a.Name + "_rate=" + fmtRate(e.rate)
		label = a.Name + ".rate=" + fmtRate(e.rate)
		xs, y, e.poisoned = Poison(tr, a, x.compiled[e.attack], e.rate, t.Classes, suite.DeriveSeed(x.seed, "poison/"+label))
	}
	e.path = filepath.Join(x.dir, name+".onnx")
	if cfg.Trainer == TrainerCommand {
		return runCommand(ctx, cfg.TrainCommand, x.dir, name, xs, tr.SampleShape, y, t.ClassLabels(), e.path)
	}
	net, err := train.Fit(xs, tr.SampleShape, y, t.Classes, train.Config{Arch: cfg.Trainer, Hidden: cfg.Training.Hidden, Filters: cfg.Training.Filters,
		Epochs: cfg.Training.Epochs, Batch: cfg.Training.Batch, LearningRate: cfg.Training.LearningRate,
		Seed: suite.DeriveSeed(x.seed, "train/"+label)})
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	m, err := net.ONNX("input", tr.SampleShape)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	return m.Save(e.path)
}

// evaluate opens e's trained model and counts its correct evaluation
// inputs (e.correct) and, for each triggered set e is judged on (the
// baseline: every attack's; an attack: its own), the inputs it
// classifies as the target (e.hits, -1 for the others).
func (x *susceptibility) evaluate(ctx context.Context, t *suite.Target, cfg *SusceptibilityConfig, e *experiment) error {
	const f = "config suites.poisoning.susceptibility"
	sess, err := t.OpenModel(e.path)
	if err != nil {
		if cfg.Trainer == TrainerCommand {
			return errs.WithCode(errs.Invalid, fmt.Errorf("%s.train_command wrote %s, which ONNX Runtime cannot open: %w", f, e.path, err))
		}
		return err
	}
	defer sess.Close()
	tt := *t
	tt.Session, tt.Model, tt.OutputKind = sess, sess.Model(), sess.OutputKind()
	if sess.NumClasses() != t.Classes {
		return errs.Invalidf("%s: the trained model %s has %d outputs; the target has %d classes", f, e.path, sess.NumClasses(), t.Classes)
	}
	if err := t.CheckClassLabels(sess, fmt.Sprintf("%s: the trained model %s", f, e.path)); err != nil {
		return err
	}
	if e.correct, err = countCorrect(ctx, &tt, t.Data); err != nil {
		return err
	}
	e.hits = make([]int, len(x.triggered))
	for i, trg := range x.triggered {
		e.hits[i] = -1
		if trg == nil || (e.attack >= 0 && e.attack != i) {
			continue
		}
		target := int64(*cfg.Attacks[i].Target)
		if e.hits[i], err = countPredicted(ctx, &tt, trg, func(int) int64 { return target }); err != nil {
			return err
		}
	}
	return nil
}

// report sets the metrics, rows and warnings of the evaluated
// experiments, in order: runSusceptibility's and a sharded run's Merge's
// reduction.
func (x *susceptibility) report(t *suite.Target, cfg *SusceptibilityConfig, r *suite.Result) {
	n := t.Data.N
	var warnings []string
	var rows []map[string]any
	for _, e := range x.exps {
		prefix := "susceptibility.baseline"
		if e.attack >= 0 {
			prefix = "susceptibility." + cfg.Attacks[e.attack].Name + ".rate=" + fmtRate(e.rate)
		}
		r.SetProportion(prefix+".clean_accuracy", e.correct, n, t.ConfidenceLevel)
		row := map[string]any{"model": filepath.Base(e.path), "poisoned_samples": e.poisoned, "clean_accuracy": float64(e.correct) / float64(n)}
		if e.attack >= 0 {
			row["attack"], row["rate"] = cfg.Attacks[e.attack].Name, e.rate
			if e.poisoned == 0 {
				warnings = append(warnings, fmt.Sprintf("susceptibility %s rate %g: no sample was poisoned (rate × %d training samples rounds to 0)", cfg.Attacks[e.attack].Name, e.rate, x.tr.N))
			}
		}
		for i, hit := range e.hits {
			if hit < 0 {
				continue
			}
			key := prefix + ".attack_success_rate"
			if e.attack < 0 {
				key = "susceptibility." + cfg.Attacks[i].Name + ".baseline.attack_success_rate"
			} else {
				row["attack_success_rate"] = float64(hit) / float64(x.triggered[i].N)
			}
			r.SetProportion(key, hit, x.triggered[i].N, t.ConfidenceLevel)
		}
		rows = append(rows, row)
	}
	r.Warnings = append(r.Warnings, warnings...)
	r.Details["susceptibility"] = map[string]any{"trainer": cfg.Trainer, "training_samples": x.tr.N, "runs": rows}
}

// Poison returns a poisoned copy of the training set: round(rate·n)
// samples chosen at random (from those not already of the target class,
// for trigger attacks) get the trigger and the target label, or, for
// label flipping, the target label or a random other class. A clean-label
// attack (a.CleanLabel) chooses among the target class's samples, at most
// all of them, and keeps their labels. It returns the number of poisoned
// samples.
func Poison(d *data.Dataset, a Trigger, c *Compiled, rate float64, classes int, seed uint64) ([]float32, []int64, int) {
	rng := suite.BatchRand(seed, 0)
	var cand []int
	for i, y := range d.Y {
		if a.CleanLabel && y == int64(*a.Target) || !a.CleanLabel && (a.Target == nil || y != int64(*a.Target)) {
			cand = append(cand, i)
		}
	}
	m := min(int(rate*float64(d.N)+0.5), len(cand))
	perm := rng.Perm(len(cand))[:m]
	x := append([]float32(nil), d.X...)
	y := append([]int64(nil), d.Y...)
	size := d.SampleSize()
	for _, p := range perm {
		i := cand[p]
		switch {
		case c != nil:
			c.Apply(x[i*size:(i+1)*size], x[i*size:(i+1)*size])
			y[i] = int64(*a.Target)
		case a.Target != nil:
			y[i] = int64(*a.Target)
		default:
			k := int64(rng.IntN(classes - 1))
			if k >= y[i] {
				k++
			}
			y[i] = k
		}
	}
	return x, y, m
}

// countCorrect counts the samples of d the model classifies as labelled.
func countCorrect(ctx context.Context, t *suite.Target, d *data.Dataset) (int, error) {
	return countPredicted(ctx, t, d, func(i int) int64 { return d.Y[i] })
}

// runCommand writes the poisoned set as train_x.npy (float32, [n,
// sample...]) and train_y.npy ([n]) under dir/name, runs the user's
// command template through sh -c with the placeholders replaced by the
// shell-quoted paths, and checks that out holds a model. A failing command
// or a missing model is a config error carrying the stderr tail. The
// labels y are class indices; train_y.npy holds them as int64, or, when
// the target model names its classes (labels), the model's own class
// labels: int64 values of classlabels_int64s, or a NumPy unicode array of
// classlabels_strings, so that the user's pipeline trains on the labels
// it was deployed with.
func runCommand(ctx context.Context, tmpl, dir, name string, x []float32, sample []int, y []int64, labels runtime.ClassLabels, out string) error {
	work := filepath.Join(dir, name)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	xp, yp := filepath.Join(work, "train_x.npy"), filepath.Join(work, "train_y.npy")
	shape := append([]int{len(y)}, sample...)
	if err := grad.WriteNPY(xp, x, shape); err != nil {
		return err
	}
	if err := writeLabels(yp, y, labels); err != nil {
		return err
	}
	os.Remove(out)
	cmd := strings.NewReplacer("{train_x}", shellQuote(xp), "{train_y}", shellQuote(yp), "{out_model}", shellQuote(out)).Replace(tmpl)
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Dir = work
	var stderr bytes.Buffer
	c.Stderr = &stderr
	c.Stdout = &stderr
	if err := c.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errs.Invalidf("config suites.poisoning.susceptibility.train_command failed for %s (%v); output tail: %s", name, err, tail(stderr.Bytes()))
	}
	if st, err := os.Stat(out); err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return errs.Invalidf("config suites.poisoning.susceptibility.train_command wrote no model to %s for %s; output tail: %s", out, name, tail(stderr.Bytes()))
	}
	return nil
}

func tail(b []byte) string {
	if len(b) > stderrTail {
		b = b[len(b)-stderrTail:]
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(empty)"
	}
	return s
}

// shellQuote quotes p for sh.
func shellQuote(p string) string { return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'" }

// writeY writes int64 labels as a 1-D .npy.
func writeY(path string, y []int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = npyio.Write(f, y)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeLabels writes the class indices y as train_y.npy for a training
// command: as they are (int64) when the model names no classes, else
// mapped to the model's class labels (int64 values, or a unicode array).
func writeLabels(path string, y []int64, labels runtime.ClassLabels) error {
	switch {
	case labels.Strings != nil:
		out := make([]string, len(y))
		for i, c := range y {
			out[i] = labels.Strings[c]
		}
		return writeStrings(path, out)
	case labels.Ints != nil:
		out := make([]int64, len(y))
		for i, c := range y {
			out[i] = labels.Ints[c]
		}
		return writeY(path, out)
	}
	return writeY(path, y)
}

// writeStrings writes s as a 1-D NumPy array of dtype '<Uw' (w the
// longest string in code points, at least 1): format version 1.0, the
// header padded to a multiple of 64 bytes, each string as w UTF-32LE code
// points padded with zeros, as numpy.save writes it; numpy.load reads it
// without allow_pickle.
func writeStrings(path string, s []string) error {
	w := 1
	for _, v := range s {
		w = max(w, utf8.RuneCountInString(v))
	}
	header := fmt.Sprintf("{'descr': '<U%d', 'fortran_order': False, 'shape': (%d,), }", w, len(s))
	pad := 64 - (10+len(header)+1)%64
	if pad == 64 {
		pad = 0
	}
	header += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	cell := make([]byte, 4*w)
	for _, v := range s {
		clear(cell)
		i := 0
		for _, r := range v {
			binary.LittleEndian.PutUint32(cell[4*i:], uint32(r))
			i++
		}
		b.Write(cell)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
