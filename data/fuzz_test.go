package data

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// npySeeds are .npy streams for the fuzz targets: the dtypes Gauntlet
// reads, and the hostile shapes: Fortran order, object dtype, a declared
// shape of 2^40 rows, a negative and an overflowing shape, a version-2
// header, a truncated array, trailing bytes.
func npySeeds() [][]byte {
	x := le([]float32{0, 1, 2, 3, 4, 5})
	return [][]byte{
		npyBytes("<f4", false, []int{2, 3}, x),
		npyBytes(">f8", false, []int{2}, make([]byte, 16)),
		npyBytes("|u1", false, []int{2, 2}, []byte{0, 127, 255, 1}),
		npyBytes("<i8", false, []int{2}, le([]int64{0, 1})),
		npyBytes("<f4", true, []int{2, 3}, x),
		npyBytes("|O", false, []int{2}, []byte("\x80\x02N.")),
		npyBytes("<f4", false, []int{1 << 40, 3}, x),
		npyBytes("<f4", false, []int{-1, 3}, x),
		npyBytes("<f8", false, []int{1 << 31, 1 << 31, 1 << 31}, nil),
		npyBytes("<f4", false, []int{2, 3}, x[:10]),
		append(npyBytes("<f4", false, []int{2, 3}, x), 0),
		[]byte("\x93NUMPY\x02\x00\x10\x00\x00\x00{'descr': '<f4'}\n"),
		[]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"),
	}
}

// FuzzNPY feeds byte strings to the .npy reader as x and as y (the path
// of data.x/data.y .npy files, less the file): no panic, errors only, and
// a successful read is self-consistent.
func FuzzNPY(f *testing.F) {
	for _, b := range npySeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &Dataset{}
		r := bytes.NewReader(b)
		if err := readXArray(r, d, 0); err == nil {
			if len(d.X) != d.N*d.SampleSize() {
				t.Fatalf("x: N=%d sample shape %v, len(X)=%d", d.N, d.SampleShape, len(d.X))
			}
			_ = expectEOF(r)
		}
		d.N = 2
		if err := readYArray(bytes.NewReader(b), d); err == nil && len(d.Y) != 2 {
			t.Fatalf("y: %d labels for 2 samples", len(d.Y))
		}
	})
}

// npzBytes returns a zip archive of the members (name+".npy").
func npzBytes(method uint16, members ...[]byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i, m := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: []string{"x", "y", "z"}[i%3] + ".npy", Method: method})
		if err != nil {
			panic(err)
		}
		w.Write(m)
	}
	zw.Close()
	return b.Bytes()
}

// FuzzNPZ feeds byte strings to Load as a data.x .npz file (x and y
// members by their default names): no panic, every error exit code 2,
// and a successful load is self-consistent. Seeds: stored and deflated
// archives, a ZIP64 archive written by Python's zipfile
// (testdata/make_zip64.py), a member cut short, an archive cut short,
// huge declared shapes, Fortran order and object dtype inside.
func FuzzNPZ(f *testing.F) {
	x := npyBytes("<f4", false, []int{2, 3}, le([]float32{0, 1, 2, 3, 4, 5}))
	y := npyBytes("<i8", false, []int{2}, le([]int64{0, 1}))
	stored := npzBytes(zip.Store, x, y)
	f.Add(stored)
	f.Add(npzBytes(zip.Deflate, x, y))
	zip64, err := os.ReadFile(filepath.Join("testdata", "zip64.npz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(zip64)
	f.Add(npzBytes(zip.Store, x[:len(x)-5], y))
	f.Add(stored[:len(stored)/2])
	f.Add(stored[:len(stored)-10])
	f.Add(npzBytes(zip.Deflate, npyBytes("<f4", false, []int{1 << 40, 3}, nil), y))
	f.Add(npzBytes(zip.Store, npyBytes("<f4", true, []int{2, 3}, x[len(x)-24:]), y))
	f.Add(npzBytes(zip.Store, npyBytes("|O", false, []int{2}, []byte("\x80\x02N.")), y))
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.npz")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Load(Spec{X: "fuzz.npz"}, dir)
		if err != nil {
			if c := errs.Code(err, -1); c != errs.Invalid {
				t.Fatalf("error %v has exit code %d, want %d", err, c, errs.Invalid)
			}
			return
		}
		if len(d.X) != d.N*d.SampleSize() || (d.Y != nil && len(d.Y) != d.N) {
			t.Fatalf("inconsistent dataset: N=%d len(X)=%d shape=%v len(Y)=%d", d.N, len(d.X), d.SampleShape, len(d.Y))
		}
	})
}

// TestLoadZIP64 reads the ZIP64 seed: x float32 [2, 3] holding 0..5 and y
// int64 [0 1], as testdata/make_zip64.py wrote them with numpy.
func TestLoadZIP64(t *testing.T) {
	d, err := Load(Spec{X: "zip64.npz"}, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	if !equalF32(d.X, []float32{0, 1, 2, 3, 4, 5}) || d.N != 2 || len(d.Y) != 2 || d.Y[0] != 0 || d.Y[1] != 1 {
		t.Errorf("zip64.npz: N=%d X=%v Y=%v, want 2 [0 1 2 3 4 5] [0 1]", d.N, d.X, d.Y)
	}
}
