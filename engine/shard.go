package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// StateDir is the folder, inside output.dir, where a sharded or resumable
// run keeps its finished units (docs/sharding.md).
const StateDir = ".gauntlet-state"

// unitMode reports whether the suites that shard run unit by unit: a
// sharded run (--shard) or a resumable one (--resume).
func (r *run) unitMode() bool { return !r.o.Shard.Whole() || r.o.Resume }

// checkShard refuses a sharded run of a suite that does not shard, naming
// it, before anything is loaded.
func (r *run) checkShard() error {
	if r.o.Shard.Whole() {
		return nil
	}
	var no []string
	for _, p := range r.plan {
		if _, ok := p.s.(suite.Sharder); !ok {
			no = append(no, p.s.Name())
		} else if c, ok := p.s.(suite.ShardRefuser); ok {
			if why := c.ShardRefusal(p.cfg); why != "" {
				no = append(no, p.s.Name()+" ("+why+")")
			}
		}
	}
	if len(no) > 0 {
		return errs.Invalidf("config %s: run --shard %s: suite(s) %s do not shard yet (docs/sharding.md lists those that do); run them in an unsharded run", r.cfg.Path, r.o.Shard, strings.Join(no, ", "))
	}
	return nil
}

// sharderOf returns p's suite as a Sharder when it shards with p's config
// (a suite.ShardRefuser may refuse some configs: a --resume run then runs
// it whole, from the start).
func sharderOf(p planned) (suite.Sharder, bool) {
	sh, ok := p.s.(suite.Sharder)
	if !ok {
		return nil, false
	}
	if c, ok := p.s.(suite.ShardRefuser); ok && c.ShardRefusal(p.cfg) != "" {
		return nil, false
	}
	return sh, true
}

// stateMeta identifies the run a state folder belongs to.
type stateMeta struct {
	WorkSHA256  string `json:"work_sha256"`
	Seed        uint64 `json:"seed"`
	Shard       string `json:"shard"`
	ModelSHA256 string `json:"model_sha256"`
}

// openState readies <output.dir>/.gauntlet-state: without --resume it
// starts afresh (an earlier state is removed); with --resume it must
// belong to this run (same work digest, seed, shard and model), else the
// run is refused (exit 2) rather than mixing two runs' units.
func (r *run) openState() error {
	if !r.unitMode() {
		return nil
	}
	dir := filepath.Join(r.cfg.Output.Dir, StateDir)
	meta := stateMeta{WorkSHA256: r.cfg.WorkSHA256, Seed: r.cfg.Seed, Shard: r.o.Shard.String(), ModelSHA256: r.rep.Model.SHA256}
	metaPath := filepath.Join(dir, "run.json")
	if r.o.Resume {
		b, err := os.ReadFile(metaPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Nothing to resume: a fresh start.
		case err != nil:
			return errs.Invalidf("resume state %s: %w", metaPath, unwrapPath(err))
		default:
			var old stateMeta
			if err := json.Unmarshal(b, &old); err != nil {
				return errs.Invalidf("resume state %s: %w", metaPath, err)
			}
			if old != meta {
				return errs.Invalidf("resume state %s belongs to another run (%s); run without --resume to start afresh", metaPath, metaDiff(old, meta))
			}
			r.state = dir
			return nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return errs.Invalidf("resume state %s: %w", dir, unwrapPath(err))
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errs.Invalidf("resume state %s: %w", dir, unwrapPath(err))
	}
	if err := writeAtomic(metaPath, b); err != nil {
		return errs.Invalidf("resume state %s: %w", metaPath, err)
	}
	r.state = dir
	return nil
}

// metaDiff names the fields in which a state's run differs from this one.
func metaDiff(old, cur stateMeta) string {
	var d []string
	if old.WorkSHA256 != cur.WorkSHA256 {
		d = append(d, "config work digest "+old.WorkSHA256+", now "+cur.WorkSHA256)
	}
	if old.Seed != cur.Seed {
		d = append(d, fmt.Sprintf("seed %d, now %d", old.Seed, cur.Seed))
	}
	if old.Shard != cur.Shard {
		d = append(d, "shard "+old.Shard+", now "+cur.Shard)
	}
	if old.ModelSHA256 != cur.ModelSHA256 {
		d = append(d, "model sha256 "+old.ModelSHA256+", now "+cur.ModelSHA256)
	}
	return strings.Join(d, "; ")
}

// writeAtomic writes b to path through a temporary file and a rename, so
// a reader sees the whole file or none.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// fileStore is a suite's units in the state folder, one file a unit
// (unit-000012.json), each written atomically when the unit finishes.
type fileStore struct {
	dir string
	mu  sync.Mutex
	m   map[int]json.RawMessage
	// saved, when set, is called after each Save (Options.saved).
	saved func(unit int)
}

// newFileStore reads the units an earlier run left in dir.
func newFileStore(dir string) (*fileStore, error) {
	s := &fileStore{dir: dir, m: map[int]json.RawMessage{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errs.Invalidf("resume state %s: %w", dir, unwrapPath(err))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, errs.Invalidf("resume state %s: %w", dir, unwrapPath(err))
	}
	for _, e := range ents {
		var u int
		if _, err := fmt.Sscanf(e.Name(), "unit-%d.json", &u); err != nil || e.Name() != unitFile(u) {
			continue // temporary files of a killed run
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, errs.Invalidf("resume state %s: %w", filepath.Join(dir, e.Name()), unwrapPath(err))
		}
		if !json.Valid(b) {
			return nil, errs.Invalidf("resume state %s: not valid JSON; run without --resume to start afresh", filepath.Join(dir, e.Name()))
		}
		s.m[u] = b
	}
	return s, nil
}

func unitFile(u int) string { return fmt.Sprintf("unit-%06d.json", u) }

// Load implements suite.UnitStore.
func (s *fileStore) Load(u int) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[u]
	return v, ok
}

// Save implements suite.UnitStore.
func (s *fileStore) Save(u int, v json.RawMessage) error {
	if err := writeAtomic(filepath.Join(s.dir, unitFile(u)), v); err != nil {
		return fmt.Errorf("save unit %d: %w", u, err)
	}
	s.mu.Lock()
	s.m[u] = v
	s.mu.Unlock()
	if s.saved != nil {
		s.saved(u)
	}
	return nil
}

// sharded runs a Sharder as a suite.Suite for runSuite (timeouts, panics,
// progress): Run runs the shard's units and, for a whole run (--resume
// without --shard), merges them into the suite's result; for a shard it
// keeps the partial for the report.
type sharded struct {
	suite.Suite
	sh      suite.Sharder
	shard   suite.Shard
	store   suite.UnitStore
	partial *reports.SuitePartial
}

// Run implements suite.Suite.
func (s *sharded) Run(ctx context.Context, t *suite.Target, cfg any) (*suite.Result, error) {
	units, common, err := s.sh.RunShard(ctx, t, cfg, s.shard, s.store)
	if err != nil {
		return nil, err
	}
	lo, hi := s.shard.Range(units)
	results := make([]json.RawMessage, 0, hi-lo)
	for u := lo; u < hi; u++ {
		v, ok := s.store.Load(u)
		if !ok {
			return nil, fmt.Errorf("suite %s: unit %d of %d has no result after the run", s.Name(), u, units)
		}
		results = append(results, v)
	}
	if s.shard.Whole() {
		return s.sh.Merge(ctx, t, cfg, common, results)
	}
	p := &reports.SuitePartial{Units: units, Common: common, Results: make([]reports.UnitResult, len(results))}
	for i, v := range results {
		p.Results[i] = reports.UnitResult{Unit: lo + i, Result: v}
	}
	s.partial = p
	return suite.NewResult(), nil
}

// runUnits runs a Sharder suite unit by unit (runSuites' hook for a
// sharded or resumable run).
func (r *run) runUnits(ctx context.Context, p planned, sh suite.Sharder, base suite.Target) (reports.SuiteResult, int, []suite.DataFile) {
	store, err := newFileStore(filepath.Join(r.state, p.s.Name()))
	if err != nil {
		sr := reports.SuiteResult{Name: p.s.Name(), Version: p.s.Version(), Seed: suite.DeriveSeed(r.cfg.Seed, p.s.Name()),
			Status: reports.StatusError, Error: err.Error(), Metrics: map[string]float64{}, Details: map[string]any{}}
		return sr, errs.Invalid, nil
	}
	if r.o.saved != nil {
		name := p.s.Name()
		store.saved = func(u int) { r.o.saved(name, u) }
	}
	w := &sharded{Suite: p.s, sh: sh, shard: r.o.Shard, store: store}
	sr, code, read := runSuite(ctx, w, p.cfg, base, r.cfg.Seed, r.cfg.Runtime.SuiteTimeout, r.o)
	if w.partial != nil && sr.Status == reports.StatusPassed {
		sr.Partial = w.partial
	}
	return sr, code, read
}

// finishPartial makes a shard's report partial: no gates, never passed,
// the exit code of the suites alone.
func (r *run) finishPartial() {
	rep := r.rep
	rep.Status = reports.StatusPartial
	rep.Shard = &reports.ShardInfo{Index: r.o.Shard.Index, Count: r.o.Shard.Count, WorkSHA256: r.cfg.WorkSHA256, Classes: r.classes}
	rep.Gates = []reports.GateResult{}
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	rep.Passed = false
	rep.ExitCode = exitCode(rep, r.codes)
	if rep.ExitCode == errs.GateFailed {
		rep.ExitCode = errs.OK // no gate is evaluated on a shard
	}
	if rep.ExitCode == errs.Interrupted {
		rep.Status = reports.StatusInterrupted
	}
	rep.DurationS = r.o.Now().Sub(r.start).Seconds()
}
