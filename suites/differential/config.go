package differential

import (
	"fmt"
	"regexp"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// Variant kinds Gauntlet makes itself.
const (
	QuantizeStatic  = "int8_static"
	QuantizeDynamic = "int8_dynamic"
	ConvertFP16     = "fp16"
)

// Defaults.
const (
	// DefaultCalibrationSamples is the size of the seeded slice of the
	// evaluation data int8_static calibrates on (onnxruntime's examples
	// calibrate on a few hundred samples).
	DefaultCalibrationSamples = 256
	maxCalibrationSamples     = 1 << 20
)

// Config is the differential suite's config block.
type Config struct {
	Variants []Variant `mapstructure:"variants"`
	// CalibrationSamples is how many samples of the evaluation data,
	// drawn without replacement with the suite's seed, calibrate the
	// activations of int8_static variants.
	CalibrationSamples int `mapstructure:"calibration_samples"`
	// Evasion is an evasion suite block (suites.evasion's keys): its
	// attacks run on the model and on every variant.
	Evasion map[string]any `mapstructure:"evasion"`
	// By reports agreement, accuracy delta and the attacks' deltas and
	// transfer rates by group (groups.go).
	groups.By `mapstructure:",squash"`

	evasion *evasion.Config
	devices []cuda.Device
}

// Variant is one entry of variants: a name and what differs from the
// model. Model, Quantize and Convert exclude each other; Device and
// Optimization combine with any of them.
type Variant struct {
	Name         string `mapstructure:"name"`
	Model        string `mapstructure:"model"`
	Device       string `mapstructure:"device"`
	Optimization string `mapstructure:"optimization"`
	Quantize     string `mapstructure:"quantize"`
	Convert      string `mapstructure:"convert"`
}

// namePattern is what a variant name may be: one metric-name segment.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{CalibrationSamples: DefaultCalibrationSamples}
	if err := suite.DecodeConfig(s.Name(), raw, &cfg); err != nil {
		return nil, err
	}
	const where = "config suites.differential"
	if len(cfg.Variants) == 0 {
		return nil, errs.Invalidf("%s.variants: list at least one variant ({name: int8, quantize: int8_static}, {name: other, model: other.onnx}, {name: gpu, device: cuda:0}, …)", where)
	}
	if cfg.CalibrationSamples < 1 || cfg.CalibrationSamples > maxCalibrationSamples {
		return nil, errs.Invalidf("%s.calibration_samples %d: want 1..%d", where, cfg.CalibrationSamples, maxCalibrationSamples)
	}
	if err := cfg.By.Validate(s.Name()); err != nil {
		return nil, err
	}
	seen := map[string]int{}
	cfg.devices = make([]cuda.Device, len(cfg.Variants))
	for i, v := range cfg.Variants {
		at := fmt.Sprintf("%s.variants[%d]", where, i)
		if !namePattern.MatchString(v.Name) || v.Name == "accuracy" {
			return nil, errs.Invalidf("%s.name %q: want a lowercase name of letters, digits and _ starting with a letter (it is a metric segment), other than accuracy", at, v.Name)
		}
		if j, dup := seen[v.Name]; dup {
			return nil, errs.Invalidf("%s.name %q: also the name of variants[%d]", at, v.Name, j)
		}
		seen[v.Name] = i
		graphs := 0
		for _, set := range []bool{v.Model != "", v.Quantize != "", v.Convert != ""} {
			if set {
				graphs++
			}
		}
		if graphs > 1 {
			return nil, errs.Invalidf("%s: set at most one of model, quantize and convert", at)
		}
		if graphs == 0 && v.Device == "" && v.Optimization == "" {
			return nil, errs.Invalidf("%s: set model, device, optimization, quantize or convert (the variant is the model itself)", at)
		}
		switch v.Quantize {
		case "", QuantizeStatic, QuantizeDynamic:
		default:
			return nil, errs.Invalidf("%s.quantize %q: want %s or %s", at, v.Quantize, QuantizeStatic, QuantizeDynamic)
		}
		if v.Convert != "" && v.Convert != ConvertFP16 {
			return nil, errs.Invalidf("%s.convert %q: want %s", at, v.Convert, ConvertFP16)
		}
		if err := runtime.ParseOptimization(v.Optimization); err != nil {
			return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%s.optimization: %w", at, err))
		}
		if v.Device != "" {
			d, err := cuda.ParseDevice(v.Device)
			if err != nil {
				return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%s.device: %w", at, err))
			}
			cfg.devices[i] = d
		}
	}
	if cfg.Evasion != nil {
		e, err := evasion.Suite{}.Decode(cfg.Evasion)
		if err != nil {
			return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%s.evasion: %w", where, err))
		}
		ec := e.(evasion.Config)
		cfg.evasion = &ec
	}
	return cfg, nil
}

// prefixes lists the attack prefixes of the evasion block, in order.
func (c Config) prefixes() []string {
	if c.evasion == nil {
		return nil
	}
	var out []string
	for _, a := range c.evasion.Attacks {
		for _, e := range a.Eps {
			out = append(out, evasion.Prefix(a.Key(), a.Norm, e))
		}
	}
	return out
}

// Metrics implements suite.Suite.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := suite.ProportionKeys("accuracy")
	for _, p := range cfg.prefixes() {
		keys = append(keys, suite.ProportionKeys(p+".robust_accuracy")...)
	}
	for _, v := range cfg.Variants {
		n := v.Name + "."
		keys = append(keys, suite.ProportionKeys(n+"agreement")...)
		keys = append(keys, suite.ProportionKeys(n+"accuracy")...)
		keys = append(keys, n+"accuracy_delta", n+"mcnemar_p", n+"max_abs_prob_delta", n+"mean_abs_prob_delta", n+"flips")
		for _, p := range cfg.prefixes() {
			keys = append(keys, suite.ProportionKeys(n+p+".robust_accuracy")...)
			keys = append(keys, n+p+".robust_accuracy_delta")
			keys = append(keys, suite.ProportionKeys(n+p+".transfer_rate")...)
		}
	}
	return append(keys, byKeys(cfg)...)
}
