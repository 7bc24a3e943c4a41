package data

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/sbinet/npyio/npz"
)

// Load reads the evaluation data described by spec. Relative paths resolve
// against baseDir. Every error carries exit code errs.Invalid and names the
// file (and the array, row or column where it applies).
func Load(spec Spec, baseDir string) (*Dataset, error) {
	if math.IsNaN(spec.Scale) || math.IsInf(spec.Scale, 0) || spec.Scale < 0 {
		return nil, errs.Invalidf("data.scale: %v is not a finite number >= 0", spec.Scale)
	}
	if spec.CSV != "" {
		if spec.X != "" || spec.Y != "" {
			return nil, errs.Invalidf("data: csv %q and x/y are exclusive: set either data.csv or data.x (and data.y)", spec.CSV)
		}
		if spec.XKey != "" || spec.YKey != "" {
			return nil, errs.Invalidf("data csv %s: x_key/y_key apply to .npz files only", spec.CSV)
		}
		return loadCSVFile(spec, resolve(baseDir, spec.CSV))
	}
	if spec.X == "" {
		return nil, errs.Invalidf("data: no input data: set data.x (a .npy or .npz file) or data.csv")
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"label", spec.Label != ""}, {"features", len(spec.Features) > 0}, {"exclude", len(spec.Exclude) > 0}, {"keep", len(spec.Keep) > 0}} {
		if f.set {
			return nil, errs.Invalidf("data x %s: data.%s applies to csv data only", spec.X, f.name)
		}
	}
	d, err := loadNumPy(spec, baseDir)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, err)
	}
	return d, nil
}

// resolve makes p absolute against baseDir unless it already is.
func resolve(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// loadNumPy loads spec.X and, if present, the labels.
func loadNumPy(spec Spec, baseDir string) (*Dataset, error) {
	xPath := resolve(baseDir, spec.X)
	d := &Dataset{name: spec.X}
	xExt, err := numpyExt(spec.X, "x")
	if err != nil {
		return nil, err
	}
	switch xExt {
	case ".npy":
		if spec.XKey != "" {
			return nil, fmt.Errorf("data x %s: x_key applies to .npz files only", spec.X)
		}
		sum, err := readNPYFile(xPath, func(r io.Reader) error {
			return readXArray(r, d, spec.Scale)
		})
		if err != nil {
			return nil, fmt.Errorf("data x %s: %w", spec.X, err)
		}
		d.Files = append(d.Files, File{Role: "x", Path: xPath, SHA256: sum, Rows: d.N})
	case ".npz":
		z, err := openNPZ(xPath)
		if err != nil {
			return nil, fmt.Errorf("data x %s: %w", spec.X, err)
		}
		defer z.Close()
		key, err := z.key(spec.XKey, "x", "x_key", true)
		if err != nil {
			return nil, fmt.Errorf("data x %s: %w", spec.X, err)
		}
		d.name = spec.X + "[" + key + "]"
		if err := z.read(key, func(r io.Reader) error {
			return readXArray(r, d, spec.Scale)
		}); err != nil {
			return nil, fmt.Errorf("data x %s[%s]: %w", spec.X, key, err)
		}
		d.Files = append(d.Files, File{Role: "x", Path: xPath, SHA256: z.sum, Rows: d.N})
		if spec.Y == "" {
			yKey, err := z.key(spec.YKey, "y", "y_key", false)
			if err != nil {
				return nil, fmt.Errorf("data x %s: %w", spec.X, err)
			}
			if yKey != "" {
				if err := z.read(yKey, func(r io.Reader) error { return readYArray(r, d) }); err != nil {
					return nil, fmt.Errorf("data y %s[%s]: %w", spec.X, yKey, err)
				}
				d.Files = append(d.Files, File{Role: "y", Path: xPath, SHA256: z.sum, Rows: d.N})
			}
		}
	}
	if spec.Y == "" {
		if spec.YKey != "" && xExt != ".npz" {
			return nil, fmt.Errorf("data: y_key %q set but data.y is empty", spec.YKey)
		}
		return d, nil
	}
	yPath := resolve(baseDir, spec.Y)
	yExt, err := numpyExt(spec.Y, "y")
	if err != nil {
		return nil, err
	}
	switch yExt {
	case ".npy":
		if spec.YKey != "" {
			return nil, fmt.Errorf("data y %s: y_key applies to .npz files only", spec.Y)
		}
		sum, err := readNPYFile(yPath, func(r io.Reader) error { return readYArray(r, d) })
		if err != nil {
			return nil, fmt.Errorf("data y %s: %w", spec.Y, err)
		}
		d.Files = append(d.Files, File{Role: "y", Path: yPath, SHA256: sum, Rows: d.N})
	case ".npz":
		z, err := openNPZ(yPath)
		if err != nil {
			return nil, fmt.Errorf("data y %s: %w", spec.Y, err)
		}
		defer z.Close()
		key, err := z.key(spec.YKey, "y", "y_key", true)
		if err != nil {
			return nil, fmt.Errorf("data y %s: %w", spec.Y, err)
		}
		if err := z.read(key, func(r io.Reader) error { return readYArray(r, d) }); err != nil {
			return nil, fmt.Errorf("data y %s[%s]: %w", spec.Y, key, err)
		}
		d.Files = append(d.Files, File{Role: "y", Path: yPath, SHA256: z.sum, Rows: d.N})
	}
	return d, nil
}

// numpyExt returns the lower-case extension of p, which must be .npy or .npz.
func numpyExt(p, field string) (string, error) {
	ext := strings.ToLower(filepath.Ext(p))
	if ext != ".npy" && ext != ".npz" {
		return "", fmt.Errorf("data %s %s: unsupported file type %q: want .npy or .npz (or use data.csv for CSV)", field, p, ext)
	}
	return ext, nil
}

// readXArray reads one .npy stream as x into d.
func readXArray(r io.Reader, d *Dataset, scale float64) error {
	a, err := readNPYHeader(r)
	if err != nil {
		return err
	}
	if len(a.shape) == 0 {
		return fmt.Errorf("x is a scalar (shape ()); want an array whose first axis is the sample axis")
	}
	x, err := readX(r, a, scale)
	if err != nil {
		return err
	}
	d.X, d.N = x, a.shape[0]
	d.SampleShape = slices.Clone(a.shape[1:])
	if d.N == 0 {
		return fmt.Errorf("x has no samples (shape %v)", a.shape)
	}
	return nil
}

// readYArray reads one .npy stream as the labels of d, checking its length.
func readYArray(r io.Reader, d *Dataset) error {
	a, err := readNPYHeader(r)
	if err != nil {
		return err
	}
	switch {
	case len(a.shape) == 1, len(a.shape) == 2 && a.shape[1] == 1:
	default:
		return fmt.Errorf("y has shape %v; want [N] or [N,1]", a.shape)
	}
	if a.shape[0] != d.N {
		return fmt.Errorf("y has %d rows but x has %d samples", a.shape[0], d.N)
	}
	y, err := readY(r, a)
	if err != nil {
		return err
	}
	d.Y = y
	return nil
}

// readNPYFile opens path, hands a buffered reader positioned at its start to
// fn, checks that fn consumed the whole file and returns its SHA-256.
func readNPYFile(path string, fn func(r io.Reader) error) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, h), chunkBytes)
	if err := fn(br); err != nil {
		return "", err
	}
	if err := expectEOF(br); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// npzFile is an open .npz archive with the SHA-256 of the whole file.
type npzFile struct {
	f   *os.File
	z   *npz.Reader
	sum string
}

// openNPZ opens and hashes a .npz archive.
func openNPZ(path string) (*npzFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sum, size, err := hashReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	z, err := npz.NewReader(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("not a valid .npz (zip) archive: %w", err)
	}
	return &npzFile{f: f, z: z, sum: sum}, nil
}

// hashReader returns the hex SHA-256 of everything r yields and its length.
func hashReader(r io.Reader) (string, int64, error) {
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Close closes the archive's file.
func (z *npzFile) Close() error { return z.f.Close() }

// names returns the array names in the archive (member names less ".npy").
func (z *npzFile) names() []string {
	var out []string
	for _, k := range z.z.Keys() {
		out = append(out, strings.TrimSuffix(k, ".npy"))
	}
	return out
}

// key picks an array: want if set (it must exist), else def if present,
// else (when only is true) the only array of the archive. With only false
// and no match it returns "" and no error.
func (z *npzFile) key(want, def, field string, only bool) (string, error) {
	names := z.names()
	want = strings.TrimSuffix(want, ".npy")
	if want != "" {
		if !slices.Contains(names, want) {
			return "", fmt.Errorf("%s %q: no such array; the archive holds %v", field, want, names)
		}
		return want, nil
	}
	if slices.Contains(names, def) {
		return def, nil
	}
	if !only {
		return "", nil
	}
	if len(names) == 1 {
		return names[0], nil
	}
	return "", fmt.Errorf("no array named %q and %d arrays to choose from %v: set data.%s", def, len(names), names, field)
}

// read streams the array name through fn and checks that fn consumed all of
// it (which also makes archive/zip verify the member's CRC-32).
func (z *npzFile) read(name string, fn func(r io.Reader) error) error {
	member := name + ".npy"
	if !slices.Contains(z.z.Keys(), member) {
		member = name
	}
	rc, err := z.z.Open(member)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, chunkBytes)
	if err := fn(br); err != nil {
		return err
	}
	return expectEOF(br)
}
