package data

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestSharedMNIST cross-checks the loader on the shared MNIST test slice.
// Expected facts come from shared/fixtures/vision/README.md: x is
// [2000,1,28,28] float32 with values k/255, y is [2000] int64 in 0..9; and
// from the MNIST t10k label file itself: its first labels are 7, 2, 1, 0, 4.
func TestSharedMNIST(t *testing.T) {
	dir := sharedDir(t, "fixtures", "vision")
	d, err := Load(Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 2000 || !slices.Equal(d.SampleShape, []int{1, 28, 28}) || len(d.X) != 2000*784 {
		t.Fatalf("N=%d shape=%v len(X)=%d", d.N, d.SampleShape, len(d.X))
	}
	for i, v := range d.X {
		k := math.Round(float64(v) * 255)
		if k < 0 || k > 255 || v != float32(k)/255 {
			t.Fatalf("X[%d]=%v is not k/255", i, v)
		}
	}
	if !slices.Equal(d.Y[:5], []int64{7, 2, 1, 0, 4}) {
		t.Errorf("first labels %v, want [7 2 1 0 4]", d.Y[:5])
	}
	if err := d.Validate(10); err != nil {
		t.Error(err)
	}
	if err := d.CheckRange(0, 1); err != nil {
		t.Error(err)
	}
	if len(d.Files) != 2 || d.Files[0].Rows != 2000 || len(d.Files[0].SHA256) != 64 {
		t.Errorf("Files=%+v", d.Files)
	}
	if err := d.FitInput("input", []int64{-1, 1, 28, 28}); err != nil || !slices.Equal(d.SampleShape, []int{1, 28, 28}) {
		t.Errorf("fit [N,1,28,28]: %v, shape %v", err, d.SampleShape)
	}
	if err := d.Fit([]int64{-1, 784}); err != nil || !slices.Equal(d.SampleShape, []int{784}) {
		t.Errorf("fit [N,784]: %v, shape %v", err, d.SampleShape)
	}
	wantInvalid(t, d.FitInput("input", []int64{-1, 3, 28, 28}), "mnist_test_x.npy", "[784]", `"input" [-1,3,28,28]`)
}

// TestSharedGradientsNPZ reads numpy's own .npz (ZIP64 extra fields, a
// `|b1` member). Per shared/fixtures/vision/README.md its x is
// mnist_test_x.npy[:64] bit for bit and y is mnist_test_y.npy[:64].
func TestSharedGradientsNPZ(t *testing.T) {
	sharedDir(t, "fixtures", "vision", "gradients_mnist_cnn.npz")
	dir := sharedDir(t, "fixtures", "vision")
	z, err := Load(Spec{X: "gradients_mnist_cnn.npz"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Load(Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if z.N != 64 || !slices.Equal(z.SampleShape, []int{1, 28, 28}) {
		t.Fatalf("N=%d shape=%v", z.N, z.SampleShape)
	}
	if !equalF32(z.X, ref.X[:64*784]) {
		t.Error("npz x differs from mnist_test_x[:64]")
	}
	if !slices.Equal(z.Y, ref.Y[:64]) {
		t.Errorf("npz y %v differs from mnist_test_y[:64]", z.Y[:8])
	}
	if len(z.Files) != 2 || z.Files[0].Role != "x" || z.Files[1].Role != "y" {
		t.Errorf("Files=%+v", z.Files)
	}
	// Other members: a float32 [64,10] array loads; the |b1 mask is refused
	// cleanly; a float64 loss is refused as labels (not integral).
	l, err := Load(Spec{X: "gradients_mnist_cnn.npz", XKey: "logits", YKey: "y"}, dir)
	if err != nil || !slices.Equal(l.SampleShape, []int{10}) || l.N != 64 {
		t.Errorf("logits: %v", err)
	}
	_, err = Load(Spec{X: "gradients_mnist_cnn.npz", XKey: "maxpool_tie_mask"}, dir)
	wantInvalid(t, err, "gradients_mnist_cnn.npz[maxpool_tie_mask]", "unsupported dtype bool")
	_, err = Load(Spec{X: "gradients_mnist_cnn.npz", YKey: "loss_ce"}, dir)
	wantInvalid(t, err, "loss_ce", "not an integer")
}

// TestSharedAdult cross-checks the CSV loader on the shared Adult test
// split. Facts from shared/fixtures/tabular/README.md and REFERENCE.json:
// 15,060 rows; 48 feature columns (num_*, cat_*) in model-input order; the
// non-features are label, sex, race and age (raw, an integer: the trap is
// feeding it); base rate of label 1 is 0.2457; num_age = (age − mean)/std
// rounded to 6 decimals with mean/std in REFERENCE.json; the file's SHA-256
// is models.adult_mlp.data_sha256.
func TestSharedAdult(t *testing.T) {
	dir := sharedDir(t, "fixtures", "tabular")
	var ref struct {
		Models struct {
			Adult struct {
				DataSHA256 string `json:"data_sha256"`
				Encoding   struct {
					Numeric map[string]struct {
						Column    string
						Mean, Std float64
					}
				}
			} `json:"adult_mlp"`
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "REFERENCE.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}

	d, err := Load(Spec{CSV: "adult_test.csv", Label: "label", Exclude: []string{"age"}, Keep: []string{"sex", "race", "age"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 15060 || len(d.Features) != 48 || d.LabelNames != nil {
		t.Fatalf("N=%d features=%d labelNames=%v", d.N, len(d.Features), d.LabelNames)
	}
	if d.Features[0] != "num_age" || d.Features[47] != "cat_native-country_United-States" {
		t.Errorf("feature order: first %q last %q", d.Features[0], d.Features[47])
	}
	if d.Files[0].SHA256 != ref.Models.Adult.DataSHA256 {
		t.Errorf("sha256 %s, REFERENCE.json says %s", d.Files[0].SHA256, ref.Models.Adult.DataSHA256)
	}
	pos := 0
	for _, y := range d.Y {
		pos += int(y)
	}
	// Base rate 0.2457 is given to 4 decimals: tolerance half a unit.
	const baseRateTol = 5e-5
	if r := float64(pos) / float64(d.N); math.Abs(r-0.2457) > baseRateTol {
		t.Errorf("base rate %v, want 0.2457", r)
	}
	if err := d.Validate(2); err != nil {
		t.Error(err)
	}
	sexes := slices.Compact(slices.Sorted(slices.Values(d.Columns["sex"])))
	if !slices.Equal(sexes, []string{"Female", "Male"}) || len(d.Columns["race"]) != d.N {
		t.Errorf("sex values %v, %d race values", sexes, len(d.Columns["race"]))
	}
	// num_age from the raw age column: rounding to 6 decimals (5e-7) plus
	// float32 storage (|v| < 5, ulp/2 < 2.4e-7).
	const ageTol = 5e-7 + 2.4e-7
	enc := ref.Models.Adult.Encoding.Numeric["age"]
	if enc.Column != "num_age" || enc.Std == 0 {
		t.Fatalf("REFERENCE.json encoding: %+v", enc)
	}
	for i, s := range d.Columns["age"] {
		var age float64
		if err := json.Unmarshal([]byte(s), &age); err != nil {
			t.Fatalf("age %q: %v", s, err)
		}
		want := (age - enc.Mean) / enc.Std
		if got := float64(d.Sample(i)[0]); math.Abs(got-want) > ageTol {
			t.Fatalf("row %d: num_age %v, want %v", i, got, want)
		}
	}
	if err := d.FitInput("input", []int64{-1, 48}); err != nil {
		t.Error(err)
	}

	// The trap: without excluding the raw age column it is fed as a 49th
	// feature, and Fit refuses it.
	trap, err := Load(Spec{CSV: "adult_test.csv", Label: "label", Keep: []string{"sex", "race"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, trap.FitInput("input", []int64{-1, 48}), "adult_test.csv", "[49]", `"input" [-1,48]`)
}

// BenchmarkLoadMNIST measures loading the shared 2000-image MNIST slice.
func BenchmarkLoadMNIST(b *testing.B) {
	dir := testutil.Shared(b, "fixtures/vision")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir); err != nil {
			b.Fatal(err)
		}
	}
}
