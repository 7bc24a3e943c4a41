package suite

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
)

// Shard is part Index of Count parts of a run's work (0 ≤ Index < Count).
// The zero value is an unsharded run; 0/1 is a sharded run of one shard
// (its report is partial, like any shard's).
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// MaxShards is the largest shard count: more parts than this are more
// report files than a merge should read.
const MaxShards = 10000

// ParseShard parses "i/N" (0 ≤ i < N ≤ MaxShards). Errors are errs.Invalid
// and quote the text.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, errs.Invalidf("shard %q: want i/N, e.g. 0/4 (shards are numbered from 0)", s)
	}
	if n < 1 || n > MaxShards {
		return Shard{}, errs.Invalidf("shard %q: the count %d is outside 1..%d", s, n, MaxShards)
	}
	if i < 0 || i >= n {
		return Shard{}, errs.Invalidf("shard %q: the index %d is outside 0..%d (shards are numbered from 0)", s, i, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// String writes the shard as "i/N", or "none" for an unsharded run.
func (s Shard) String() string {
	if s.Whole() {
		return "none"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Whole reports whether s is the zero value: an unsharded run.
func (s Shard) Whole() bool { return s.Count == 0 }

// Range returns the contiguous block [lo, hi) of the work units 0..units-1
// that belong to s: lo = ⌊Index·units/Count⌋, hi = ⌊(Index+1)·units/Count⌋.
// The blocks of the Count shards cover every unit once, in order, and
// depend only on units and Count. A shard may get no unit (more shards
// than units).
func (s Shard) Range(units int) (lo, hi int) {
	if s.Whole() {
		return 0, units
	}
	return s.Index * units / s.Count, (s.Index + 1) * units / s.Count
}

// UnitStore holds the per-unit results of a sharded or resumable run. Save
// makes a finished unit's result durable (written atomically, so a killed
// run leaves whole units only); Load returns a unit's result saved by an
// earlier, interrupted run (--resume), which the suite then does not redo.
// It is safe for concurrent use.
type UnitStore interface {
	Load(unit int) (json.RawMessage, bool)
	Save(unit int, result json.RawMessage) error
}

// SaveUnit encodes v as JSON and saves it to st as unit's result.
func SaveUnit(st UnitStore, unit int, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.Save(unit, raw)
}

// Sharder is implemented by suites whose work splits into units (batches
// of evaluation samples, batches of classes) that run independently: the
// engine then runs `gauntlet run --shard i/N` and --resume through it, and
// `gauntlet merge` recomputes the suite's result from every unit's result.
// docs/sharding.md states the rules.
//
// RunShard runs the units of sh (sh.Range of the suite's unit count) that
// st does not already hold, saving each unit's result to st as it
// finishes, and returns the unit count and the suite's common part: what
// every shard computes alike and the merge needs (class means, data
// provenance), identical in every shard. Units and their order must
// depend only on the seed, the data and the config, never on sh, the worker
// count or scheduling, and a unit's result only on the unit.
//
// Merge recomputes the suite's Result from the common part and the results
// of all units in unit order, exactly as Run would (intervals, tests and
// AUCs are computed from the per-unit results, never from averaged
// figures), so that a merge of any number of shards equals Run. Its Target
// has no Session and no Data: only Classes, OutputKind, Seed, BatchSize,
// Range, ConfidenceLevel and OutDir are set.
type Sharder interface {
	RunShard(ctx context.Context, t *Target, cfg any, sh Shard, st UnitStore) (units int, common json.RawMessage, err error)
	Merge(ctx context.Context, t *Target, cfg any, common json.RawMessage, results []json.RawMessage) (*Result, error)
}

// ShardRefuser is implemented by a Sharder that may refuse some configs
// (evasion: an attack it does not list as sharding; differential and
// slices: an evasion block with such an attack). Every attack shards
// today, so nothing is refused; an attack added later is, until it is
// listed. ShardRefusal returns why cfg cannot run sharded, "" when it can;
// the engine refuses such a sharded run (exit 2) before anything is
// loaded.
type ShardRefuser interface {
	ShardRefusal(cfg any) string
}

// Pending returns the units of [lo, hi) that st does not hold yet, in
// order.
func Pending(st UnitStore, lo, hi int) []int {
	var out []int
	for u := lo; u < hi; u++ {
		if _, ok := st.Load(u); !ok {
			out = append(out, u)
		}
	}
	return out
}

// Runs splits the sorted units us into runs of consecutive units, as
// half-open ranges [lo, hi), so that ForBatches can run each.
func Runs(us []int) [][2]int {
	var out [][2]int
	for _, u := range us {
		if n := len(out); n > 0 && out[n-1][1] == u {
			out[n-1][1]++
			continue
		}
		out = append(out, [2]int{u, u + 1})
	}
	return out
}

// MemStore is a UnitStore in memory (tests, and a merge's reading of the
// shards' results).
type MemStore struct {
	mu sync.Mutex
	m  map[int]json.RawMessage
}

// Load implements UnitStore.
func (s *MemStore) Load(u int) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[u]
	return v, ok
}

// Save implements UnitStore.
func (s *MemStore) Save(u int, r json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int]json.RawMessage{}
	}
	s.m[u] = r
	return nil
}

// Floats is a []float64 that a unit result stores exactly and compactly:
// JSON holds it as the base64 of its IEEE 754 little-endian bits, so NaN
// and ±Inf survive and every value reads back bit for bit.
type Floats []float64

// MarshalJSON implements json.Marshaler.
func (f Floats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 8*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return json.Marshal(b)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Floats) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%8 != 0 {
		return fmt.Errorf("float64 array of %d bytes, not a multiple of 8", len(b))
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	*f = out
	return nil
}

// Floats32 is Floats for []float32 (4 bytes a value).
type Floats32 []float32

// MarshalJSON implements json.Marshaler.
func (f Floats32) MarshalJSON() ([]byte, error) {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return json.Marshal(b)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Floats32) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%4 != 0 {
		return fmt.Errorf("float32 array of %d bytes, not a multiple of 4", len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	*f = out
	return nil
}

// RelFiles returns files with each path made relative to base (the
// config's folder) where it lies below it, for a shard's common part:
// shards that run the same config from other checkouts or mounts then
// agree, as the merge's check of the run's data files (role and SHA-256)
// does. AbsFiles undoes it against the merge's base.
func RelFiles(base string, files []data.File) []data.File {
	out := make([]data.File, len(files))
	for i, f := range files {
		out[i] = f
		if base == "" || !filepath.IsAbs(f.Path) {
			continue
		}
		if rel, err := filepath.Rel(base, f.Path); err == nil && filepath.IsLocal(rel) {
			out[i].Path = rel
		}
	}
	return out
}

// AbsFiles joins the relative paths of files (RelFiles) to base.
func AbsFiles(base string, files []data.File) []data.File {
	out := make([]data.File, len(files))
	for i, f := range files {
		out[i] = f
		if base != "" && !filepath.IsAbs(f.Path) {
			out[i].Path = filepath.Join(base, f.Path)
		}
	}
	return out
}
