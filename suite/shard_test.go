package suite

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestParseShard: i/N with 0 ≤ i < N ≤ MaxShards; anything else is exit 2
// quoting the text.
func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"0/1": {0, 1}, "3/4": {3, 4}, " 2 / 7 ": {2, 7}, "9999/10000": {9999, 10000}} {
		got, err := ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{"": "want i/N", "1": "want i/N", "a/2": "want i/N", "4/4": "index 4 is outside 0..3",
		"-1/4": "index -1", "0/0": "count 0 is outside", "0/10001": "count 10001"} {
		_, err := ParseShard(in)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "\""+in+"\"") {
			t.Errorf("ParseShard(%q) = %v, want exit 2 with %q", in, err, msg)
		}
	}
}

// TestShardRangeCoversEveryUnitOnce: for every unit count 0..40 and shard
// count 1..12, the shards' blocks are contiguous, in order, and cover
// 0..U-1 exactly once; the zero Shard is the whole range. The blocks of
// 11 units in 3 shards are [0,3) [3,7) [7,11) (⌊i·11/3⌋ by hand).
func TestShardRangeCoversEveryUnitOnce(t *testing.T) {
	checked := 0
	for u := 0; u <= 40; u++ {
		if lo, hi := (Shard{}).Range(u); lo != 0 || hi != u {
			t.Fatalf("zero Shard: Range(%d) = %d, %d", u, lo, hi)
		}
		for n := 1; n <= 12; n++ {
			next := 0
			for i := range n {
				lo, hi := Shard{i, n}.Range(u)
				if lo != next || hi < lo {
					t.Fatalf("U=%d N=%d shard %d: [%d, %d), want to start at %d", u, n, i, lo, hi, next)
				}
				next = hi
			}
			if next != u {
				t.Fatalf("U=%d N=%d: the blocks end at %d", u, n, next)
			}
			checked++
		}
	}
	if checked != 41*12 {
		t.Errorf("checked %d cases", checked)
	}
	var got [][2]int
	for i := range 3 {
		lo, hi := Shard{i, 3}.Range(11)
		got = append(got, [2]int{lo, hi})
	}
	if want := [][2]int{{0, 3}, {3, 7}, {7, 11}}; !reflect.DeepEqual(got, want) {
		t.Errorf("11 units in 3 shards: %v, want %v", got, want)
	}
}

// TestPendingAndRuns: the units a store lacks, as runs of consecutive
// units.
func TestPendingAndRuns(t *testing.T) {
	var st MemStore
	for _, u := range []int{2, 3, 6} {
		if err := st.Save(u, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	p := Pending(&st, 1, 9)
	if want := []int{1, 4, 5, 7, 8}; !reflect.DeepEqual(p, want) {
		t.Fatalf("Pending = %v, want %v", p, want)
	}
	if got, want := Runs(p), [][2]int{{1, 2}, {4, 6}, {7, 9}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Runs = %v, want %v", got, want)
	}
	if got := Runs(nil); got != nil {
		t.Errorf("Runs(nil) = %v", got)
	}
}

// TestFloatsRoundTripBitForBit: NaN, ±Inf, -0, subnormals and the
// shortest-decimal troublemakers read back with the same bits.
func TestFloatsRoundTripBitForBit(t *testing.T) {
	in := Floats{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 5e-324, 0.1, 1.0 / 3, math.MaxFloat64}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Floats
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d values back, want %d", len(out), len(in))
	}
	for i := range in {
		if math.Float64bits(in[i]) != math.Float64bits(out[i]) {
			t.Errorf("value %d: %x back as %x", i, math.Float64bits(in[i]), math.Float64bits(out[i]))
		}
	}
	in32 := Floats32{float32(math.NaN()), float32(math.Inf(-1)), 1e-45, 0.1}
	b, _ = json.Marshal(in32)
	var out32 Floats32
	if err := json.Unmarshal(b, &out32); err != nil {
		t.Fatal(err)
	}
	for i := range in32 {
		if math.Float32bits(in32[i]) != math.Float32bits(out32[i]) {
			t.Errorf("float32 value %d: %x back as %x", i, math.Float32bits(in32[i]), math.Float32bits(out32[i]))
		}
	}
	if err := json.Unmarshal([]byte(`"AAAA"`), &out); err == nil {
		t.Error("3 bytes read as float64s")
	}
}

// TestRelFiles: a path below the base becomes relative and joins back to
// another base; a path outside it, or a relative one, stays as it is.
func TestRelFiles(t *testing.T) {
	files := []data.File{{Role: "csv", Path: "/work/a/cfg/data/ref.csv", SHA256: "ab", Rows: 3}, {Role: "x", Path: "/elsewhere/x.npy"}, {Role: "y", Path: "rel/y.npy"}}
	rel := RelFiles("/work/a/cfg", files)
	if rel[0].Path != filepath.Join("data", "ref.csv") || rel[0].SHA256 != "ab" || rel[0].Rows != 3 || rel[1].Path != "/elsewhere/x.npy" || rel[2].Path != "rel/y.npy" {
		t.Errorf("RelFiles = %+v", rel)
	}
	if files[0].Path != "/work/a/cfg/data/ref.csv" {
		t.Errorf("RelFiles changed its input: %+v", files)
	}
	abs := AbsFiles("/mnt/b", rel)
	if abs[0].Path != "/mnt/b/data/ref.csv" || abs[1].Path != "/elsewhere/x.npy" || abs[2].Path != "/mnt/b/rel/y.npy" {
		t.Errorf("AbsFiles = %+v", abs)
	}
}
