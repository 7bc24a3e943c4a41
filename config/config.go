package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/decode"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/scan"
)

// Version is the only config version this release reads.
const Version = 1

// Config is a validated run configuration. Its keys are documented in
// docs/config.md.
type Config struct {
	Version int                       `mapstructure:"version" json:"version"`
	Model   string                    `mapstructure:"model" json:"model"`
	Seed    uint64                    `mapstructure:"seed" json:"seed"`
	Runtime Runtime                   `mapstructure:"runtime" json:"runtime"`
	Data    Data                      `mapstructure:"data" json:"data"`
	Suites  map[string]map[string]any `mapstructure:"suites" json:"suites"`
	Gates   []string                  `mapstructure:"gates" json:"gates"`
	Output  Output                    `mapstructure:"output" json:"output"`
	// Statistics sets how intervals are computed.
	Statistics Statistics `mapstructure:"statistics" json:"statistics"`
	// ModelAllowSHA256 is the allow-list of model file digests; when set,
	// run refuses any other model (docs/scan.md).
	ModelAllowSHA256 []string `mapstructure:"model_allow_sha256" json:"model_allow_sha256"`
	// Waivers excuse failed gates until a date (docs/reports.md).
	Waivers []reports.Waiver `mapstructure:"waivers" json:"waivers"`
	// Regressions are regression gates against a baseline report
	// (run --baseline, docs/reports.md).
	Regressions []reports.Regression `mapstructure:"regressions" json:"regressions"`

	// Path is the config file; Dir its folder.
	Path string `mapstructure:"-" json:"-"`
	Dir  string `mapstructure:"-" json:"-"`
	// SHA256 is the digest of the effective configuration (after
	// environment and flags, before path resolution), recorded in reports.
	SHA256 string `mapstructure:"-" json:"-"`
	// WorkSHA256 is the digest of the effective configuration less the
	// keys that do not change results (output, runtime.shard,
	// runtime.workers, runtime.intra_op_threads, runtime.ort_library): the
	// shards of one sharded run, and their merge, share it
	// (docs/sharding.md).
	WorkSHA256 string `mapstructure:"-" json:"-"`
	// ParsedGates are Gates parsed.
	ParsedGates []reports.Gate `mapstructure:"-" json:"-"`
	// ParsedDevice is Runtime.Device parsed.
	ParsedDevice cuda.Device `mapstructure:"-" json:"-"`
}

// Runtime is the runtime block.
type Runtime struct {
	Device         string `mapstructure:"device" json:"device"`
	BatchSize      int    `mapstructure:"batch_size" json:"batch_size"`
	Workers        int    `mapstructure:"workers" json:"workers"`
	IntraOpThreads int    `mapstructure:"intra_op_threads" json:"intra_op_threads"`
	ORTLibrary     string `mapstructure:"ort_library" json:"ort_library"`
	Input          string `mapstructure:"input" json:"input"`
	Output         string `mapstructure:"output" json:"output"`
	OutputKind     string `mapstructure:"output_kind" json:"output_kind"`
	Strict         bool   `mapstructure:"strict" json:"strict"`
	// MaxMemory caps the input and output tensors in flight ("512MiB",
	// "2GB", a byte count; "" = no cap); Load parses it into
	// MaxMemoryBytes. The engine refuses a batch size that exceeds it.
	MaxMemory string `mapstructure:"max_memory" json:"max_memory"`
	// Timeout is each suite's time limit, a Go duration ("90s", "10m";
	// "" = none); Load parses it into SuiteTimeout.
	Timeout string `mapstructure:"timeout" json:"timeout"`
	// Shard is the part of the run's work this process runs, "i/N"
	// ("" = all of it; run --shard, docs/sharding.md).
	Shard string `mapstructure:"shard" json:"shard"`

	// MaxMemoryBytes is MaxMemory in bytes, 0 when unset.
	MaxMemoryBytes int64 `mapstructure:"-" json:"-"`
	// SuiteTimeout is Timeout parsed, 0 when unset.
	SuiteTimeout time.Duration `mapstructure:"-" json:"-"`
}

// Data is the data block: the files (see data.Spec) and the valid input range.
type Data struct {
	data.Spec `mapstructure:",squash"`
	Range     []float64 `mapstructure:"range" json:"range"`
}

// Statistics is the statistics block.
type Statistics struct {
	// ConfidenceLevel is the level of every confidence interval (0.95).
	ConfidenceLevel float64 `mapstructure:"confidence_level" json:"confidence_level"`
}

// Output is the output block.
type Output struct {
	Dir     string            `mapstructure:"dir" json:"dir"`
	Formats []string          `mapstructure:"formats" json:"formats"`
	Paths   map[string]string `mapstructure:"paths" json:"paths"`
}

// Options say where a configuration comes from.
type Options struct {
	// Path is the YAML config file.
	Path string
	// Sets are --set key=value overrides; values are YAML scalars or flow
	// collections ("runtime.workers=4", "gates=[\"accuracy.accuracy >= 0.9\"]").
	Sets []string
	// Out overrides output.dir (--out).
	Out string
	// ORTLibrary overrides runtime.ort_library (--ort-library).
	ORTLibrary string
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Environ lists the environment; os.Environ when nil.
	Environ func() []string
	// Cwd is the working directory for paths from flags and environment.
	Cwd string
}

// defaults are the built-in values; every known scalar key has one so that
// GAUNTLET_* variables apply even when the file does not mention the key.
var defaults = map[string]any{
	"version":                     0,
	"model":                       "",
	"seed":                        1,
	"runtime.device":              "cpu",
	"runtime.batch_size":          256,
	"runtime.workers":             0,
	"runtime.intra_op_threads":    0,
	"runtime.ort_library":         "",
	"runtime.input":               "",
	"runtime.output":              "",
	"runtime.output_kind":         "auto",
	"runtime.strict":              false,
	"runtime.max_memory":          "",
	"runtime.timeout":             "",
	"runtime.shard":               "",
	"data.x":                      "",
	"data.y":                      "",
	"data.csv":                    "",
	"data.label":                  "",
	"data.features":               []string{},
	"data.exclude":                []string{},
	"data.keep":                   []string{},
	"data.scale":                  0.0,
	"data.x_key":                  "",
	"data.y_key":                  "",
	"output.dir":                  "out",
	"output.formats":              []string{"json"},
	"statistics.confidence_level": 0.95,
}

// pathKeys are the keys that hold file paths.
var pathKeys = []string{"model", "runtime.ort_library", "data.x", "data.y", "data.csv", "output.dir"}

// Load reads, merges and validates a configuration.
func Load(o Options) (*Config, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Environ == nil {
		o.Environ = os.Environ
	}
	if o.Cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		o.Cwd = wd
	}
	if o.Path == "" {
		return nil, errs.Invalidf("no config file: pass -c FILE (gauntlet init prints an example)")
	}
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetConfigFile(o.Path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, errs.Invalidf("config %s: %w", o.Path, pe.Err)
		}
		return nil, errs.Invalidf("config %s: %w", o.Path, err)
	}
	// The file's suites as written, before any override: AllSettings below
	// drops empty maps (`accuracy: {}`), and after a --set suites.x.y=v,
	// v.Get("suites") returns the override layer alone.
	fileSuites, _ := v.Get("suites").(map[string]any)
	// Environment: GAUNTLET_RUNTIME_WORKERS → runtime.workers. Applied
	// through o.Getenv (not viper's AutomaticEnv) so tests inject it.
	fromCwd := map[string]bool{}
	for k := range defaults {
		if val := o.Getenv(envName(k)); val != "" {
			v.Set(k, val)
			fromCwd[k] = true
		}
	}
	if err := checkEnv(o.Environ()); err != nil {
		return nil, err
	}
	for _, s := range o.Sets {
		k, val, ok := strings.Cut(s, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, errs.Invalidf("--set %q: want key=value", s)
		}
		var parsed any
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			return nil, errs.Invalidf("--set %s: value %q is not a YAML value: %w", k, val, err)
		}
		if parsed == nil {
			parsed = ""
		}
		v.Set(k, parsed)
		fromCwd[k] = true
	}
	if o.Out != "" {
		v.Set("output.dir", o.Out)
		fromCwd["output.dir"] = true
	}
	if o.ORTLibrary != "" {
		v.Set("runtime.ort_library", o.ORTLibrary)
		fromCwd["runtime.ort_library"] = true
	}

	settings := v.AllSettings()
	// AllSettings merges the file with --set overrides key by key but drops
	// empty maps, so `accuracy: {}` would vanish: put those back.
	if len(fileSuites) > 0 {
		merged, _ := settings["suites"].(map[string]any)
		if merged == nil {
			merged = map[string]any{}
		}
		for name, body := range fileSuites {
			if _, ok := merged[name]; !ok {
				merged[name] = body
			}
		}
		settings["suites"] = merged
	} else if suites := v.Get("suites"); suites != nil {
		settings["suites"] = suites
	}
	if unknown := unknownKeys(settings, reflect.TypeOf(Config{}), ""); len(unknown) > 0 {
		return nil, errs.Invalidf("config %s: unknown key(s): %s", o.Path, strings.Join(unknown, ", "))
	}
	var c Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           &c,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToSliceHookFunc(","),
			timeToDateHook,
			decode.UnsignedHook,
		),
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(settings); err != nil {
		// One line per problem, each beginning with its full key.
		return nil, errs.Invalidf("config %s: %w", o.Path, decode.Error("", err))
	}
	// Format aliases are normalised before the digest, so that `md` and
	// `markdown` run the same job with the same digest.
	c.Output.normaliseFormats()
	c.Path = o.Path
	abs, err := filepath.Abs(o.Path)
	if err != nil {
		return nil, err
	}
	c.Dir = filepath.Dir(abs)
	digest, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config digest: %w", err)
	}
	sum := sha256.Sum256(digest)
	c.SHA256 = hex.EncodeToString(sum[:])
	work := c
	work.Output = Output{}
	work.Runtime.Shard, work.Runtime.Workers, work.Runtime.IntraOpThreads, work.Runtime.ORTLibrary = "", 0, 0, ""
	if digest, err = json.Marshal(work); err != nil {
		return nil, fmt.Errorf("config digest: %w", err)
	}
	sum = sha256.Sum256(digest)
	c.WorkSHA256 = hex.EncodeToString(sum[:])
	if err := c.validate(); err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", o.Path, err))
	}
	c.resolvePaths(o.Cwd, fromCwd)
	return &c, nil
}

// timeToDateHook turns a YAML date (until: 2027-01-31, which YAML reads as
// a timestamp) back into its YYYY-MM-DD text for string fields.
func timeToDateHook(from, to reflect.Type, data any) (any, error) {
	if t, ok := data.(time.Time); ok && to.Kind() == reflect.String {
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
			return t.Format(reports.DateLayout), nil
		}
		return t.Format(time.RFC3339), nil
	}
	return data, nil
}

func envName(key string) string {
	return "GAUNTLET_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkEnv rejects GAUNTLET_* variables that name no config key, so a typo in
// a CI variable is not silently ignored. GAUNTLET_ORT_LIBRARY is the library
// search's own variable.
func checkEnv(environ []string) error {
	known := map[string]bool{"GAUNTLET_ORT_LIBRARY": true,
		// Keys of gauntlet sign and verify (docs/reports.md).
		"GAUNTLET_SIGNING_KEY": true, "GAUNTLET_VERIFY_KEY": true}
	for k := range defaults {
		known[envName(k)] = true
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "GAUNTLET_") && !known[name] {
			return errs.Invalidf("environment variable %s names no config key (known: GAUNTLET_<KEY> for the keys in docs/config.md)", name)
		}
	}
	return nil
}

// unknownKeys walks settings against the mapstructure tags of t and returns
// the dotted keys that no field names, sorted. Maps of arbitrary keys
// (suites, output.paths) are not walked.
func unknownKeys(settings map[string]any, t reflect.Type, prefix string) []string {
	fields := map[string]reflect.Type{}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			name, opt, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if opt == "squash" {
				collect(f.Type)
				continue
			}
			if name == "" {
				continue
			}
			fields[name] = f.Type
		}
	}
	collect(t)
	var out []string
	for k, val := range settings {
		ft, ok := fields[k]
		if !ok {
			out = append(out, prefix+k+suggest(k, fields))
			continue
		}
		if ft.Kind() == reflect.Struct {
			if m, ok := val.(map[string]any); ok {
				out = append(out, unknownKeys(m, ft, prefix+k+".")...)
			}
		}
	}
	sort.Strings(out)
	return out
}

func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		if d := levenshtein(k, f); d < bestD || (d == bestD && best != "" && f < best) {
			best, bestD = f, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (c *Config) validate() error {
	if c.Version != Version {
		if c.Version == 0 {
			return fmt.Errorf("version: missing (this release reads version: %d)", Version)
		}
		return fmt.Errorf("version: %d is not supported (this release reads version: %d)", c.Version, Version)
	}
	if c.Seed > 1<<53-1 {
		return fmt.Errorf("seed: %d is above 2^53-1 (seeds must be exact in JSON)", c.Seed)
	}
	if c.Model == "" {
		return fmt.Errorf("model: missing (path to the .onnx file)")
	}
	dev, err := cuda.ParseDevice(c.Runtime.Device)
	if err != nil {
		return fmt.Errorf("runtime.device: %w", err)
	}
	c.ParsedDevice = dev
	if c.Runtime.BatchSize < 1 {
		return fmt.Errorf("runtime.batch_size: %d, want ≥ 1", c.Runtime.BatchSize)
	}
	if c.Runtime.Workers < 0 {
		return fmt.Errorf("runtime.workers: %d, want ≥ 0 (0 = automatic)", c.Runtime.Workers)
	}
	if c.Runtime.IntraOpThreads < 0 {
		return fmt.Errorf("runtime.intra_op_threads: %d, want ≥ 0 (0 = automatic)", c.Runtime.IntraOpThreads)
	}
	if c.Runtime.MaxMemoryBytes, err = ParseSize(c.Runtime.MaxMemory); err != nil {
		return fmt.Errorf("runtime.max_memory: %w", err)
	}
	if t := strings.TrimSpace(c.Runtime.Timeout); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return fmt.Errorf("runtime.timeout: %q, want a positive Go duration such as 90s, 10m or 1h30m (empty: no limit)", c.Runtime.Timeout)
		}
		c.Runtime.SuiteTimeout = d
	}
	switch c.Runtime.OutputKind {
	case "auto", "logits", "probabilities":
	default:
		return fmt.Errorf("runtime.output_kind: %q, want auto, logits or probabilities", c.Runtime.OutputKind)
	}
	switch {
	case c.Data.X == "" && c.Data.CSV == "":
		return fmt.Errorf("data: set x (and y) for NumPy data or csv (and label) for CSV data")
	case c.Data.X != "" && c.Data.CSV != "":
		return fmt.Errorf("data: x and csv are both set; use one")
	}
	if len(c.Data.Range) != 0 {
		if len(c.Data.Range) != 2 || !(c.Data.Range[0] < c.Data.Range[1]) {
			return fmt.Errorf("data.range: %v, want [lo, hi] with lo < hi", c.Data.Range)
		}
	}
	if l := c.Statistics.ConfidenceLevel; !(l > 0 && l < 1) {
		return fmt.Errorf("statistics.confidence_level: %v, want a level in (0, 1) such as 0.95", l)
	}
	if len(c.Suites) == 0 {
		return fmt.Errorf("suites: none configured (add for example `accuracy: {}`)")
	}
	for name, block := range c.Suites {
		if block == nil {
			c.Suites[name] = map[string]any{}
		}
	}
	c.ParsedGates = c.ParsedGates[:0]
	for i, g := range c.Gates {
		pg, err := reports.ParseGate(g)
		if err != nil {
			return fmt.Errorf("gates[%d]: %w", i, err)
		}
		c.ParsedGates = append(c.ParsedGates, pg)
	}
	if len(c.Output.Formats) == 0 {
		return fmt.Errorf("output.formats: empty, want at least one of %s", strings.Join(reports.Formats(), ", "))
	}
	for i, f := range c.Output.Formats {
		if _, err := reports.WriterFor(f); err != nil {
			return fmt.Errorf("output.formats: %w", err)
		}
		if slices.Contains(c.Output.Formats[:i], f) {
			return fmt.Errorf("output.formats: %s is listed twice (md is markdown)", f)
		}
	}
	for f := range c.Output.Paths {
		if !contains(c.Output.Formats, f) {
			return fmt.Errorf("output.paths.%s: format %q is not in output.formats", f, f)
		}
	}
	if err := scan.ValidateAllowList("model_allow_sha256", c.ModelAllowSHA256); err != nil {
		return err
	}
	if err := reports.ValidateWaivers(c.Waivers); err != nil {
		return err
	}
	if err := reports.ValidateRegressions(c.Regressions); err != nil {
		return err
	}
	return nil
}

// formatAliases are the names users type for a report format, mapped to
// the format's own name.
var formatAliases = map[string]string{"md": "markdown"}

// normaliseFormats replaces format aliases in formats and in the keys of
// paths by the formats' own names.
func (o *Output) normaliseFormats() {
	for i, f := range o.Formats {
		if name, ok := formatAliases[strings.ToLower(strings.TrimSpace(f))]; ok {
			o.Formats[i] = name
		}
	}
	for f, p := range o.Paths {
		if name, ok := formatAliases[strings.ToLower(f)]; ok {
			if _, both := o.Paths[name]; !both {
				delete(o.Paths, f)
				o.Paths[name] = p
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (c *Config) resolvePaths(cwd string, fromCwd map[string]bool) {
	resolve := func(key string, p *string) {
		if *p == "" || filepath.IsAbs(*p) {
			return
		}
		base := c.Dir
		if fromCwd[key] {
			base = cwd
		}
		*p = filepath.Join(base, *p)
	}
	resolve("model", &c.Model)
	resolve("runtime.ort_library", &c.Runtime.ORTLibrary)
	resolve("data.x", &c.Data.X)
	resolve("data.y", &c.Data.Y)
	resolve("data.csv", &c.Data.CSV)
	resolve("output.dir", &c.Output.Dir)
	for f, p := range c.Output.Paths {
		if !filepath.IsAbs(p) {
			c.Output.Paths[f] = filepath.Join(c.Output.Dir, p)
		}
	}
}

// sizeUnits are the units ParseSize reads, with their byte counts.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a memory size: a byte count ("1048576") or a number with
// a unit, decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB; K, M, G
// and T, as Kubernetes and docker write them, are binary too), case
// insensitive ("512MiB", "1.5GB", "2g"). "" is 0, no limit. A size must be
// at least 1 byte and at most 2^62 bytes.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, nil
	}
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	mult, ok := sizeUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size: want a byte count or a number with a unit such as 512MiB, 2GB or 1.5GiB", s)
	}
	b := v * mult
	if !(b >= 1 && b <= 1<<62) {
		return 0, fmt.Errorf("%q: want between 1 byte and 4 EiB", s)
	}
	return int64(b), nil
}
