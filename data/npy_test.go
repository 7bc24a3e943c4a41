package data

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sbinet/npyio"
	"github.com/sbinet/npyio/npz"
)

// TestLoadXDtypes loads a [2,3] x in every supported dtype. The expected
// values are the written values converted to float32 (times the scale).
func TestLoadXDtypes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		descr string
		data  []byte
		scale float64
		want  []float32
	}{
		{"<f4", le([]float32{0.5, -1, 2, 3.25, 1e-3, 7}), 0, []float32{0.5, -1, 2, 3.25, 1e-3, 7}},
		// float64 values rounded once to float32 (0.1 → float32(0.1)).
		{"<f8", le([]float64{0.1, -1, 2, 3.25, 1e300 * 0, 7}), 0, []float32{float32(0.1), -1, 2, 3.25, 0, 7}},
		// Big-endian data: same values as the first case.
		{">f4", func() []byte {
			b := new(bytes.Buffer)
			for _, v := range []float32{0.5, -1, 2, 3.25, 1e-3, 7} {
				u := math.Float32bits(v)
				b.Write([]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
			}
			return b.Bytes()
		}(), 0, []float32{0.5, -1, 2, 3.25, 1e-3, 7}},
		{"<i4", le([]int32{-3, 0, 1, 2, 100, 7}), 0, []float32{-3, 0, 1, 2, 100, 7}},
		{"<i8", le([]int64{-3, 0, 1, 2, 100, 7}), 0, []float32{-3, 0, 1, 2, 100, 7}},
		{"<i8", le([]int64{-3, 0, 1, 2, 100, 7}), 0.5, []float32{-1.5, 0, 0.5, 1, 50, 3.5}},
		// uint8 with the default scale: k/255 (float64 division, one rounding).
		{"|u1", []byte{0, 1, 51, 128, 254, 255}, 0, []float32{0, float32(1.0 / 255), 0.2, float32(128.0 / 255), float32(254.0 / 255), 1}},
		// uint8 with an explicit scale of 1: raw values.
		{"|u1", []byte{0, 1, 51, 128, 254, 255}, 1, []float32{0, 1, 51, 128, 254, 255}},
		{"<f4", le([]float32{0.5, -1, 2, 3.25, 1e-3, 7}), 2, []float32{1, -2, 4, 6.5, 2e-3, 14}},
	} {
		name := writeFile(t, dir, "x.npy", npyBytes(tc.descr, false, []int{2, 3}, tc.data))
		d, err := Load(Spec{X: name, Scale: tc.scale}, dir)
		if err != nil {
			t.Fatalf("%s scale %v: %v", tc.descr, tc.scale, err)
		}
		if d.N != 2 || !slices.Equal(d.SampleShape, []int{3}) {
			t.Errorf("%s: N=%d shape=%v, want 2 [3]", tc.descr, d.N, d.SampleShape)
		}
		if !equalF32(d.X, tc.want) {
			t.Errorf("%s scale %v: X=%v, want %v", tc.descr, tc.scale, d.X, tc.want)
		}
		if d.Y != nil {
			t.Errorf("%s: Y=%v, want nil", tc.descr, d.Y)
		}
	}
}

// TestUint8ScaleMatchesNumPy checks, for every byte k, that the default
// uint8 conversion equals the correctly rounded float32 quotient k/255 that
// NumPy's (x / np.float32(255)) gives; IEEE division is exact-then-round, so
// float32(k)/float32(255) in Go is that reference.
func TestUint8ScaleMatchesNumPy(t *testing.T) {
	raw := make([]byte, 256)
	for k := range raw {
		raw[k] = byte(k)
	}
	dir := t.TempDir()
	name := writeFile(t, dir, "x.npy", npyBytes("|u1", false, []int{256}, raw))
	d, err := Load(Spec{X: name}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d.X {
		if want := float32(k) / float32(255); v != want {
			t.Errorf("k=%d: %v, want %v", k, v, want)
		}
	}
	if len(d.SampleShape) != 0 || d.SampleSize() != 1 {
		t.Errorf("1-D x: sample shape %v, want []", d.SampleShape)
	}
}

// TestFortranOrderFree: a Fortran-order array with at most one dimension
// longer than 1 has the same bytes as in C order, so it loads.
func TestFortranOrderFree(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.npy", npyBytes("<f4", true, []int{3, 1}, le([]float32{1, 2, 3})))
	writeFile(t, dir, "y.npy", npyBytes("<i8", true, []int{3}, le([]int64{0, 1, 0})))
	d, err := Load(Spec{X: "x.npy", Y: "y.npy"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !equalF32(d.X, []float32{1, 2, 3}) || !slices.Equal(d.Y, []int64{0, 1, 0}) {
		t.Errorf("X=%v Y=%v", d.X, d.Y)
	}
}

// TestLoadY loads labels in every accepted dtype and layout.
func TestLoadY(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.npy", npyBytes("<f4", false, []int{3, 2}, le(make([]float32, 6))))
	want := []int64{2, 0, 1}
	for _, tc := range []struct {
		descr string
		shape []int
		data  []byte
	}{
		{"<i8", []int{3}, le([]int64{2, 0, 1})},
		{"<i4", []int{3}, le([]int32{2, 0, 1})},
		{"|u1", []int{3}, []byte{2, 0, 1}},
		{"<f8", []int{3}, le([]float64{2, 0, 1})},
		{"<f4", []int{3, 1}, le([]float32{2, 0, 1})},
		{"<i8", []int{3, 1}, le([]int64{2, 0, 1})},
	} {
		writeFile(t, dir, "y.npy", npyBytes(tc.descr, false, tc.shape, tc.data))
		d, err := Load(Spec{X: "x.npy", Y: "y.npy"}, dir)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.descr, tc.shape, err)
		}
		if !slices.Equal(d.Y, want) {
			t.Errorf("%s %v: Y=%v, want %v", tc.descr, tc.shape, d.Y, want)
		}
		if len(d.Files) != 2 || d.Files[0].Role != "x" || d.Files[1].Role != "y" || d.Files[1].Rows != 3 {
			t.Errorf("Files = %+v", d.Files)
		}
	}
}

// TestNpyioWritten reads files written by npyio itself (version 2.0
// headers): a mat-free 1-D float64 x and an int64 y.
func TestNpyioWritten(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]any{
		"x.npy": []float64{1.5, 2.5, 3.5},
		"y.npy": []int64{1, 0, 1},
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := npyio.Write(f, v); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	d, err := Load(Spec{X: "x.npy", Y: "y.npy"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !equalF32(d.X, []float32{1.5, 2.5, 3.5}) || !slices.Equal(d.Y, []int64{1, 0, 1}) || d.N != 3 {
		t.Errorf("got X=%v Y=%v N=%d", d.X, d.Y, d.N)
	}
	// Provenance: the SHA-256 recorded is the file's.
	b, _ := os.ReadFile(filepath.Join(dir, "x.npy"))
	sum := sha256.Sum256(b)
	if d.Files[0].SHA256 != hex.EncodeToString(sum[:]) || d.Files[0].Path != filepath.Join(dir, "x.npy") {
		t.Errorf("Files[0] = %+v, want sha %x", d.Files[0], sum)
	}
}

// TestLoadNPZ covers default keys, explicit keys, the only-array rule,
// labels from the same archive, and compressed archives (npyio's writer
// and archive/zip with Deflate).
func TestLoadNPZ(t *testing.T) {
	dir := t.TempDir()
	x := npyBytes("<f4", false, []int{2, 2}, le([]float32{1, 2, 3, 4}))
	y := npyBytes("<i8", false, []int{2}, le([]int64{1, 0}))
	writeNPZ(t, dir, "xy.npz", zip.Store, map[string][]byte{"x": x, "y": y}, []string{"x", "y"})
	writeNPZ(t, dir, "xyz.npz", zip.Deflate, map[string][]byte{"inputs": x, "targets": y}, []string{"inputs", "targets"})
	writeNPZ(t, dir, "only.npz", zip.Deflate, map[string][]byte{"arr_0": x}, []string{"arr_0"})

	check := func(d *Dataset, err error, wantY bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !equalF32(d.X, []float32{1, 2, 3, 4}) || d.N != 2 || !slices.Equal(d.SampleShape, []int{2}) {
			t.Errorf("X=%v N=%d shape=%v", d.X, d.N, d.SampleShape)
		}
		if wantY != (d.Y != nil) || (wantY && !slices.Equal(d.Y, []int64{1, 0})) {
			t.Errorf("Y=%v, want labels: %v", d.Y, wantY)
		}
	}
	d, err := Load(Spec{X: "xy.npz"}, dir)
	check(d, err, true)
	if len(d.Files) != 2 || d.Files[1].Role != "y" || d.Files[1].SHA256 != d.Files[0].SHA256 {
		t.Errorf("Files = %+v", d.Files)
	}
	d, err = Load(Spec{X: "xyz.npz", XKey: "inputs", YKey: "targets"}, dir)
	check(d, err, true)
	d, err = Load(Spec{X: "xyz.npz", XKey: "inputs.npy"}, dir)
	check(d, err, false)
	d, err = Load(Spec{X: "only.npz"}, dir)
	check(d, err, false)
	d, err = Load(Spec{X: "only.npz", Y: "xyz.npz", YKey: "targets"}, dir)
	check(d, err, true)

	// npyio's own npz writer.
	f, err := os.Create(filepath.Join(dir, "npyio.npz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := npz.NewWriter(f)
	if err := zw.Write("x.npy", []float32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := zw.Write("y.npy", []int64{1, 0, 1, 1}); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	f.Close()
	d, err = Load(Spec{X: "npyio.npz"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 4 || !slices.Equal(d.Y, []int64{1, 0, 1, 1}) {
		t.Errorf("npyio npz: N=%d Y=%v", d.N, d.Y)
	}
}

// TestLoadNumPyErrors feeds every kind of bad NumPy input and checks that
// the error is Invalid and names the culprit.
func TestLoadNumPyErrors(t *testing.T) {
	dir := t.TempDir()
	good := npyBytes("<f4", false, []int{2, 3}, le(make([]float32, 6)))
	writeFile(t, dir, "x.npy", good)
	writeFile(t, dir, "y.npy", npyBytes("<i8", false, []int{2}, le([]int64{0, 1})))
	writeFile(t, dir, "y3.npy", npyBytes("<i8", false, []int{3}, le([]int64{0, 1, 1})))
	writeFile(t, dir, "y2d.npy", npyBytes("<i8", false, []int{2, 2}, le([]int64{0, 1, 1, 0})))
	writeFile(t, dir, "yfrac.npy", npyBytes("<f8", false, []int{2}, le([]float64{0, 0.5})))
	writeFile(t, dir, "yi2.npy", npyBytes("<i2", false, []int{2}, le([]int16{0, 1})))
	writeFile(t, dir, "magic.npy", append([]byte("\x93NUMPX"), good[6:]...))
	writeFile(t, dir, "short.npy", good[:9])
	writeFile(t, dir, "trunc.npy", good[:len(good)-3])
	writeFile(t, dir, "trail.npy", append(slices.Clone(good), 0))
	writeFile(t, dir, "empty.npy", nil)
	writeFile(t, dir, "version.npy", append([]byte("\x93NUMPY\x09\x00"), good[8:]...))
	// A header length field pointing past a dictionary with no newline.
	nonl := slices.Clone(good)
	nonl[127] = ' '
	writeFile(t, dir, "nonl.npy", nonl)
	// Keys out of order: npyio's parser would slice out of range and panic.
	dict := "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}\n"
	writeFile(t, dir, "order.npy", append([]byte("\x93NUMPY\x01\x00"+string(rune(len(dict)))+"\x00"), dict...))
	writeFile(t, dir, "c8.npy", npyBytes("<c8", false, []int{2, 1}, make([]byte, 16)))
	writeFile(t, dir, "b1.npy", npyBytes("|b1", false, []int{2, 1}, []byte{0, 1}))
	writeFile(t, dir, "u2.npy", npyBytes("<u2", false, []int{2, 1}, make([]byte, 4)))
	writeFile(t, dir, "struct.npy", npyBytes("[('a', '<f4')]", false, []int{2}, make([]byte, 8)))
	writeFile(t, dir, "fortran.npy", npyBytes("<f4", true, []int{2, 3}, le(make([]float32, 6))))
	writeFile(t, dir, "scalar.npy", npyBytes("<f4", false, nil, le(float32(1))))
	writeFile(t, dir, "zero.npy", npyBytes("<f4", false, []int{0, 3}, nil))
	writeFile(t, dir, "huge.npy", npyBytes("<f8", false, []int{1 << 40, 1 << 30}, nil))
	writeFile(t, dir, "notzip.npz", good)
	x := npyBytes("<f4", false, []int{2}, le([]float32{1, 2}))
	writeNPZ(t, dir, "two.npz", zip.Store, map[string][]byte{"a": x, "b": x}, []string{"a", "b"})
	writeNPZ(t, dir, "badmember.npz", zip.Store, map[string][]byte{"x": good[:50]}, []string{"x"})

	for _, tc := range []struct {
		spec Spec
		want []string
	}{
		{Spec{X: "missing.npy"}, []string{"data x missing.npy", "no such file"}},
		{Spec{X: "x.npy", Y: "missing.npy"}, []string{"data y missing.npy", "no such file"}},
		{Spec{X: "missing.npz"}, []string{"data x missing.npz", "no such file"}},
		{Spec{X: "magic.npy"}, []string{"magic.npy", "bad magic"}},
		{Spec{X: "short.npy"}, []string{"short.npy", "truncated .npy header"}},
		{Spec{X: "empty.npy"}, []string{"empty.npy", "not a .npy array"}},
		{Spec{X: "version.npy"}, []string{"version.npy", "version 9.0"}},
		{Spec{X: "nonl.npy"}, []string{"nonl.npy", "no newline"}},
		{Spec{X: "order.npy"}, []string{"order.npy", "corrupt .npy header"}},
		{Spec{X: "trunc.npy"}, []string{"trunc.npy", "truncated array data", "[2 3]"}},
		{Spec{X: "trail.npy"}, []string{"trail.npy", "trailing bytes"}},
		{Spec{X: "c8.npy"}, []string{"c8.npy", `unsupported dtype "<c8"`}},
		{Spec{X: "b1.npy"}, []string{"b1.npy", "unsupported dtype bool", "for x"}},
		{Spec{X: "u2.npy"}, []string{"u2.npy", "unsupported dtype uint16", "for x"}},
		{Spec{X: "struct.npy"}, []string{"struct.npy", "unsupported dtype"}},
		{Spec{X: "fortran.npy"}, []string{"fortran.npy", "Fortran order"}},
		{Spec{X: "scalar.npy"}, []string{"scalar.npy", "scalar"}},
		{Spec{X: "zero.npy"}, []string{"zero.npy", "no samples"}},
		{Spec{X: "huge.npy"}, []string{"huge.npy", "too large"}},
		{Spec{X: "x.npy", Y: "y3.npy"}, []string{"data y y3.npy", "3 rows", "2 samples"}},
		{Spec{X: "x.npy", Y: "y2d.npy"}, []string{"y2d.npy", "[2 2]", "[N] or [N,1]"}},
		{Spec{X: "x.npy", Y: "yfrac.npy"}, []string{"yfrac.npy", "row 1", "0.5", "not an integer"}},
		{Spec{X: "x.npy", Y: "yi2.npy"}, []string{"yi2.npy", "unsupported dtype int16", "for y"}},
		{Spec{X: "x.csv"}, []string{"data x x.csv", "unsupported file type", "data.csv"}},
		{Spec{X: "x.npy", Y: "y.txt"}, []string{"data y y.txt", "unsupported file type"}},
		{Spec{X: "notzip.npz"}, []string{"notzip.npz", "not a valid .npz"}},
		{Spec{X: "two.npz"}, []string{"two.npz", `no array named "x"`, "[a b]", "x_key"}},
		{Spec{X: "two.npz", XKey: "c"}, []string{"two.npz", `x_key "c"`, "[a b]"}},
		{Spec{X: "two.npz", XKey: "a", YKey: "c"}, []string{"two.npz", `y_key "c"`}},
		{Spec{X: "badmember.npz"}, []string{"badmember.npz[x]", "truncated"}},
		{Spec{X: "x.npy", XKey: "x"}, []string{"x.npy", "x_key applies to .npz"}},
		{Spec{X: "x.npy", YKey: "y"}, []string{"y_key", "data.y is empty"}},
		{Spec{X: "x.npy", Label: "y"}, []string{"x.npy", "data.label applies to csv"}},
		{Spec{X: "x.npy", Features: []string{"a"}}, []string{"data.features applies to csv"}},
		{Spec{X: "x.npy", Scale: -1}, []string{"data.scale", "-1"}},
		{Spec{X: "x.npy", Scale: math.NaN()}, []string{"data.scale", "NaN"}},
		{Spec{}, []string{"data.x", "data.csv"}},
		{Spec{X: "x.npy", CSV: "a.csv"}, []string{"exclusive"}},
	} {
		_, err := Load(tc.spec, dir)
		wantInvalid(t, err, tc.want...)
	}
}
