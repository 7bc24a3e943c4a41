package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"
)

// sampleCSV has a BOM, padded cells, a quoted cell with a comma and a
// string label column. Expected values below are read off this text.
const sampleCSV = "\ufeffa, b ,group,label,c\n" +
	"1.5, 2,\"x, y\",cat,10\n" +
	" -3 ,4e-1,z,dog,20\n" +
	"0,0,z,cat,30\n"

func TestLoadCSV(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "d.csv", []byte(sampleCSV))

	// Features in a chosen order; keep overlaps a feature.
	d, err := Load(Spec{CSV: "d.csv", Label: "label", Features: []string{"c", "a"}, Keep: []string{"group", "a"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || !slices.Equal(d.SampleShape, []int{2}) || !slices.Equal(d.Features, []string{"c", "a"}) {
		t.Fatalf("N=%d shape=%v features=%v", d.N, d.SampleShape, d.Features)
	}
	if !equalF32(d.X, []float32{10, 1.5, 20, -3, 30, 0}) {
		t.Errorf("X=%v", d.X)
	}
	// String labels: sorted unique {cat, dog} → cat=0, dog=1.
	if !slices.Equal(d.Y, []int64{0, 1, 0}) || !slices.Equal(d.LabelNames, []string{"cat", "dog"}) {
		t.Errorf("Y=%v LabelNames=%v", d.Y, d.LabelNames)
	}
	if !slices.Equal(d.Columns["group"], []string{"x, y", "z", "z"}) || !slices.Equal(d.Columns["a"], []string{"1.5", "-3", "0"}) {
		t.Errorf("Columns=%v", d.Columns)
	}
	sum := sha256.Sum256([]byte(sampleCSV))
	if len(d.Files) != 1 || d.Files[0] != (File{Role: "csv", Path: filepath.Join(dir, "d.csv"), SHA256: hex.EncodeToString(sum[:]), Rows: 3}) {
		t.Errorf("Files=%+v", d.Files)
	}

	// Exclude: every column but label, keep and these, in file order.
	d, err = Load(Spec{CSV: "d.csv", Label: "label", Exclude: []string{"c"}, Keep: []string{"group"}, Scale: 2}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Features, []string{"a", "b"}) || !equalF32(d.X, []float32{3, 4, -6, 0.8, 0, 0}) {
		t.Errorf("exclude: features=%v X=%v", d.Features, d.X)
	}

	// Neither features nor exclude, no label: all columns but keep.
	d, err = Load(Spec{CSV: "d.csv", Keep: []string{"group", "label"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Features, []string{"a", "b", "c"}) || d.Y != nil || d.LabelNames != nil {
		t.Errorf("default: features=%v Y=%v", d.Features, d.Y)
	}
}

// TestCSVIntegerLabels: integer (and integral decimal) labels are class ids.
func TestCSVIntegerLabels(t *testing.T) {
	dir := t.TempDir()
	// CRLF line ends, as Excel writes them.
	writeFile(t, dir, "d.csv", []byte("f,y\r\n1,2\r\n2,0\r\n3,1.0\r\n4,10\r\n"))
	d, err := Load(Spec{CSV: "d.csv", Label: "y"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Y, []int64{2, 0, 1, 10}) || d.LabelNames != nil || !equalF32(d.X, []float32{1, 2, 3, 4}) {
		t.Errorf("Y=%v names=%v", d.Y, d.LabelNames)
	}
	// Validate names the CSV line of a label out of range (row 4 → line 5).
	wantInvalid(t, d.Validate(3), "d.csv", "1 label(s) outside [0,3)", "label 10", "sample 3 (line 5)")
}

func TestLoadCSVErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ok.csv", []byte("a,b,y\n1,2,0\n"))
	writeFile(t, dir, "empty.csv", nil)
	writeFile(t, dir, "header.csv", []byte("a,b,y\n"))
	writeFile(t, dir, "badfloat.csv", []byte("a,b,y\n1,2,0\n3,x4,1\n"))
	writeFile(t, dir, "emptycell.csv", []byte("a,b,y\n1,2,0\n3,,1\n"))
	writeFile(t, dir, "big.csv", []byte("a,b,y\n1,1e39,0\n"))
	writeFile(t, dir, "ragged.csv", []byte("a,b,y\n1,2,0\n1,2\n"))
	writeFile(t, dir, "quote.csv", []byte("a,b,y\n1,2,0\n1,\"2,0\n"))
	writeFile(t, dir, "dup.csv", []byte("a,b,a\n1,2,0\n"))
	writeFile(t, dir, "nolabel.csv", []byte("a,b,y\n1,2,0\n3,4, \n"))
	// A quoted cell spanning two lines: the bad cell is on line 4.
	writeFile(t, dir, "multiline.csv", []byte("a,b,y\n1,2,\"0\n\"\n3,oops,1\n"))

	for _, tc := range []struct {
		spec Spec
		want []string
	}{
		{Spec{CSV: "missing.csv"}, []string{"data csv missing.csv", "no such file"}},
		{Spec{CSV: "empty.csv"}, []string{"empty.csv", "empty file", "header row"}},
		{Spec{CSV: "header.csv"}, []string{"header.csv", "no data rows"}},
		{Spec{CSV: "ok.csv", Label: "z"}, []string{"ok.csv", "data.label", `no column "z"`, "a, b, y"}},
		{Spec{CSV: "ok.csv", Features: []string{"a", "q"}}, []string{"ok.csv", "data.features", `no column "q"`, "a, b, y"}},
		{Spec{CSV: "ok.csv", Exclude: []string{"q"}}, []string{"data.exclude", `no column "q"`}},
		{Spec{CSV: "ok.csv", Keep: []string{"sex"}}, []string{"data.keep", `no column "sex"`}},
		{Spec{CSV: "ok.csv", Label: "y", Features: []string{"a", "y"}}, []string{"data.features", `"y" is the label`}},
		{Spec{CSV: "ok.csv", Features: []string{"a", "a"}}, []string{"data.features", `"a" is listed twice`}},
		{Spec{CSV: "ok.csv", Features: []string{"a"}, Exclude: []string{"b"}}, []string{"exclusive"}},
		{Spec{CSV: "ok.csv", Label: "y", Keep: []string{"a", "b"}}, []string{"no feature columns"}},
		{Spec{CSV: "ok.csv", XKey: "x"}, []string{"x_key/y_key apply to .npz"}},
		{Spec{CSV: "badfloat.csv", Label: "y"}, []string{"badfloat.csv", "line 3", `column "b"`, `"x4"`}},
		{Spec{CSV: "emptycell.csv", Label: "y"}, []string{"emptycell.csv", "line 3", `column "b"`, "empty cell"}},
		{Spec{CSV: "big.csv", Label: "y"}, []string{"big.csv", "line 2", `column "b"`, "float32 range"}},
		{Spec{CSV: "ragged.csv"}, []string{"ragged.csv", "line 3", "wrong number of fields"}},
		{Spec{CSV: "quote.csv"}, []string{"quote.csv", "line 3"}},
		{Spec{CSV: "dup.csv"}, []string{"dup.csv", `column "a" appears twice`}},
		{Spec{CSV: "nolabel.csv", Label: "y"}, []string{"nolabel.csv", "line 3", "empty label"}},
		{Spec{CSV: "multiline.csv", Label: "y"}, []string{"multiline.csv", "line 4", `"oops"`}},
	} {
		_, err := Load(tc.spec, dir)
		wantInvalid(t, err, tc.want...)
	}
}

// FuzzLoadCSV asserts only that arbitrary CSV input never panics and that
// a successful load is self-consistent.
func FuzzLoadCSV(f *testing.F) {
	f.Add([]byte(sampleCSV), "label", "group")
	f.Add([]byte("a,b\n1,2\n"), "", "")
	f.Add([]byte("a\n\"1\n"), "a", "a")
	f.Add([]byte(""), "x", "")
	f.Fuzz(func(t *testing.T, b []byte, label, keep string) {
		spec := Spec{CSV: "fuzz.csv", Label: label}
		if keep != "" {
			spec.Keep = []string{keep}
		}
		d, err := readCSV(bytes.NewReader(b), "fuzz.csv", spec)
		if err != nil {
			return
		}
		if len(d.X) != d.N*d.SampleSize() || (d.Y != nil && len(d.Y) != d.N) {
			t.Fatalf("inconsistent dataset: N=%d len(X)=%d shape=%v len(Y)=%d", d.N, len(d.X), d.SampleShape, len(d.Y))
		}
		_ = d.Validate(2)
		_ = d.CheckRange(0, 1)
	})
}

// FuzzNPYHeader asserts that no byte string makes the .npy reader panic
// (npyio's header parser slices without bounds checks).
func FuzzNPYHeader(f *testing.F) {
	f.Add(npyBytes("<f4", false, []int{2, 3}, le(make([]float32, 6))))
	f.Add(npyBytes("|u1", true, []int{1}, []byte{1}))
	f.Add([]byte("\x93NUMPY\x01\x00\x05\x00{'}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		a, err := readNPYHeader(r)
		if err != nil {
			return
		}
		_, _ = readX(r, a, 0)
	})
}

// TestMapClassLabels: labels of a model that names its classes (a ZipMap's
// classlabels) become the model's class indices, by value, not position.
func TestMapClassLabels(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "int.csv", []byte("f,y\n1,7\n2,3\n3,7\n"))
	writeFile(t, dir, "str.csv", []byte("f,y\n1,dog\n2,cat\n3,dog\n"))
	writeFile(t, dir, "bad.csv", []byte("f,y\n1,dog\n2,cow\n3,cow\n"))
	load := func(name string) *Dataset {
		d, err := Load(Spec{CSV: name, Label: "y"}, dir)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Integer classes [3 7]: 7 is class 1, 3 class 0.
	d := load("int.csv")
	if err := d.MapClassLabels([]int64{3, 7}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Y, []int64{1, 0, 1}) || !slices.Equal(d.LabelNames, []string{"3", "7"}) {
		t.Errorf("ints [3 7]: Y=%v names=%v, want [1 0 1] [3 7]", d.Y, d.LabelNames)
	}
	// Integer classes 0..k-1 change nothing.
	d = load("int.csv")
	ints := make([]int64, 8)
	for i := range ints {
		ints[i] = int64(i)
	}
	if err := d.MapClassLabels(ints, nil); err != nil || !slices.Equal(d.Y, []int64{7, 3, 7}) || d.LabelNames != nil {
		t.Errorf("identity: %v Y=%v names=%v", err, d.Y, d.LabelNames)
	}
	// String classes: the CSV's sorted names ([cat dog] → 0, 1) become the
	// model's indices (cat 1, dog 2).
	d = load("str.csv")
	if err := d.MapClassLabels(nil, []string{"bird", "cat", "dog"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Y, []int64{2, 1, 2}) || !slices.Equal(d.LabelNames, []string{"bird", "cat", "dog"}) {
		t.Errorf("strings: Y=%v names=%v, want [2 1 2] [bird cat dog]", d.Y, d.LabelNames)
	}
	// Integer labels against string classes match by their decimal form.
	d = load("int.csv")
	if err := d.MapClassLabels(nil, []string{"7", "3"}); err != nil || !slices.Equal(d.Y, []int64{0, 1, 0}) {
		t.Errorf("ints as strings: %v Y=%v", err, d.Y)
	}
	// Unknown labels: the first row (line 3) and value, and the count.
	wantInvalid(t, load("bad.csv").MapClassLabels(nil, []string{"bird", "cat", "dog"}),
		"bad.csv", "2 label(s) that are not classes of the model", "bird, cat, dog", `label "cow" at sample 1 (line 3)`)
	wantInvalid(t, load("str.csv").MapClassLabels([]int64{3, 7}, nil), `label "dog" at sample 0 (line 2)`)
}
