package grad

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WriteNPY writes values with the given shape as a float32 .npy file
// (format 1.0, C order, little-endian; npyio's writer takes the shape from
// Go types, so the header is written here and read back by npyio in the
// tests). The error names the file.
func WriteNPY(path string, values []float32, shape []int) error {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(values) {
		return fmt.Errorf("write %s: %d values for shape %v", path, len(values), shape)
	}
	var dims strings.Builder
	for i, d := range shape {
		if i > 0 {
			dims.WriteString(", ")
		}
		dims.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		dims.WriteString(",")
	}
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims.String())
	// magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64
	pad := 64 - (10+len(hdr)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr += strings.Repeat(" ", pad) + "\n"
	buf := make([]byte, 0, 10+len(hdr)+4*len(values))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(hdr)))
	buf = append(buf, hdr...)
	for _, v := range values {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("write gradients: %w", err)
	}
	return nil
}

// ImageShape reports whether a sample shape is an image the saliency
// writer understands, [C, H, W] (channels first) or [H, W], and returns
// C (1 for [H, W]), H and W.
func ImageShape(sample []int) (c, h, w int, ok bool) {
	switch len(sample) {
	case 2:
		return 1, sample[0], sample[1], sample[0] > 1 && sample[1] > 1
	case 3:
		return sample[0], sample[1], sample[2], sample[1] > 1 && sample[2] > 1
	}
	return 0, 0, 0, false
}

// Saliency writes dst[h·W + w] = max_c |g[c, h, w]| / max over the sample
// (0 where the whole gradient is 0). g has C·H·W values, dst H·W.
func Saliency(dst, g []float32, c, h, w int) {
	hw := h * w
	var top float32
	for p := 0; p < hw; p++ {
		var m float32
		for k := 0; k < c; k++ {
			if a := float32(math.Abs(float64(g[k*hw+p]))); a > m {
				m = a
			}
		}
		dst[p] = m
		if m > top {
			top = m
		}
	}
	if top == 0 || math.IsInf(float64(top), 0) || math.IsNaN(float64(top)) {
		clear(dst)
		return
	}
	inv := 1 / top
	for p := range dst {
		dst[p] *= inv
	}
}

// WritePNGs writes one grayscale saliency PNG per sample into dir (made if
// needed), named sample_00000.png …, and returns the paths. shape is [N,
// sample shape...] and must be an image shape (see ImageShape).
func WritePNGs(dir string, g []float32, shape []int) ([]string, error) {
	if len(shape) < 1 {
		return nil, fmt.Errorf("saliency: empty shape")
	}
	c, h, w, ok := ImageShape(shape[1:])
	if !ok {
		return nil, fmt.Errorf("saliency: sample shape %v is not an image ([C,H,W] or [H,W])", shape[1:])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("saliency: %w", err)
	}
	per := c * h * w
	sal := make([]float32, h*w)
	img := image.NewGray(image.Rect(0, 0, w, h))
	paths := make([]string, 0, shape[0])
	for i := 0; i < shape[0]; i++ {
		Saliency(sal, g[i*per:(i+1)*per], c, h, w)
		for p, v := range sal {
			img.Pix[p] = uint8(math.Round(float64(v) * 255))
		}
		path := filepath.Join(dir, fmt.Sprintf("sample_%05d.png", i))
		if err := writePNG(path, img); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("saliency: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("saliency %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saliency %s: %w", path, err)
	}
	return nil
}
