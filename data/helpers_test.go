package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// npyBytes builds a version-1.0 .npy file by hand, the way numpy.save lays
// it out (NEP 1: magic, version, little-endian uint16 header length, a
// Python dict literal padded with spaces to a multiple of 64 bytes and
// ended by '\n'), so that tests can also write dtypes, orders and corrupt
// headers that npyio's writer does not produce.
func npyBytes(descr string, fortran bool, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
	}
	sh := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	sh += ")"
	order := "False"
	if fortran {
		order = "True"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, order, sh)
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	b.Write(data)
	return b.Bytes()
}

// le encodes values little-endian (float32, float64, int32, int64, uint8...).
func le(v any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// writeFile writes b to dir/name and returns name.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// writeNPZ writes an .npz archive (members name+".npy") with the given
// compression method (zip.Store as np.savez, zip.Deflate as
// np.savez_compressed).
func writeNPZ(t testing.TB, dir, name string, method uint16, members map[string][]byte, order []string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, k := range order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: k + ".npy", Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(members[k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, b.Bytes())
}

// wantInvalid asserts that err carries exit code errs.Invalid and that its
// text contains every fragment.
func wantInvalid(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragments)
	}
	if c := errs.Code(err, -1); c != errs.Invalid {
		t.Errorf("exit code %d, want %d (errs.Invalid); err: %v", c, errs.Invalid, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

// sharedDir returns ../shared/<parts...> beside the repository
// (internal/testutil.Shared: skips when absent, fails under CI=true).
func sharedDir(t *testing.T, parts ...string) string {
	t.Helper()
	return testutil.Shared(t, path.Join(parts...))
}

// equalF32 compares float32 slices exactly (NaN never equal).
func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
