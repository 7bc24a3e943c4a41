package suite

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// PrepareData readies a loaded data set for the model of s exactly as the
// engine readies the run's evaluation data: it fits d to the model input,
// maps its labels through the model's class labels when the model names its
// classes (a scikit-learn converter's ZipMap: data.Dataset.MapClassLabels),
// and validates it (finite features; labels below classes when classes >
// 0). Every error is errs.Invalid and names the file, row and value.
func PrepareData(d *data.Dataset, s *runtime.Session, classes int) error {
	in := s.Input()
	if err := d.FitInput(in.Name, in.Shape); err != nil {
		return errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	if cl := s.Adaptation().ClassLabels; cl.Len() > 0 {
		if err := d.MapClassLabels(cl.Ints, cl.Strings); err != nil {
			return errs.WithCode(errs.Code(err, errs.Invalid), err)
		}
	}
	if err := d.Validate(classes); err != nil {
		return errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	return nil
}

// LoadData loads a data set a suite reads besides the run's evaluation
// data (membership's members, poisoning's training set, inversion's
// reference data), its relative paths against BaseDir, and readies it as
// the evaluation data (PrepareData with the target's session and Classes).
// Errors are errs.Invalid, prefixed with field (the config key, as the
// suite writes it in its messages).
func (t *Target) LoadData(spec data.Spec, field string) (*data.Dataset, error) {
	d, err := data.Load(spec, t.BaseDir)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%s: %w", field, err))
	}
	if err := PrepareData(d, t.Session, t.Classes); err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%s: %w", field, err))
	}
	return d, nil
}

// ClassLabels returns the target model's own class labels in score-column
// order (the zero value when the model does not name its classes). Labels
// of every data set a suite reads are class indices into them.
func (t *Target) ClassLabels() runtime.ClassLabels {
	if t.Session == nil {
		return runtime.ClassLabels{}
	}
	return t.Session.Adaptation().ClassLabels
}

// CheckClassLabels rejects another model of the same task (a reference
// model, a model a training command wrote) whose class labels differ from
// the target's: its score column i is read as the target's class i, which
// holds only when both name the same classes in the same order. When
// either model names no classes, column order is taken as it is. what
// names the other model in the error (errs.Invalid).
func (t *Target) CheckClassLabels(other *runtime.Session, what string) error {
	a, b := t.ClassLabels(), other.Adaptation().ClassLabels
	if a.Len() == 0 || b.Len() == 0 {
		return nil
	}
	if slices.Equal(a.Ints, b.Ints) && slices.Equal(a.Strings, b.Strings) &&
		(a.Ints == nil) == (b.Ints == nil) {
		return nil
	}
	return errs.Invalidf("%s: class labels [%s] differ from the target model's [%s] (score columns are read in the target's class order)",
		what, strings.Join(b.Names(), " "), strings.Join(a.Names(), " "))
}
