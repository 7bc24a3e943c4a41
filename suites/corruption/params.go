package corruption

import "math"

// ParamSet is one of the reference's three parameter sets, each written
// for one image size: CIFAR-10-C (32×32, make_cifar_c.py), Tiny
// ImageNet-C (64×64, make_tinyimagenet_c.py) and ImageNet-C (224×224,
// make_imagenet_c.py), from github.com/hendrycks/robustness
// ImageNet-C/create_c.
type ParamSet struct {
	Name string
	// Size is the image side the set was written for.
	Size int
	// Per family, one entry per severity 1…5.
	Gaussian  [5]float64    // noise standard deviation
	Shot      [5]float64    // Poisson photons per unit intensity
	Impulse   [5]float64    // salt-and-pepper amount
	Defocus   [5][2]float64 // disk radius, alias blur σ
	Glass     [5][3]float64 // σ, max delta, iterations
	Motion    [5][2]float64 // radius, σ (ImageMagick)
	Zoom      [5][3]float64 // arange(start 1, stop, step) zoom factors: stop, step
	Snow      [5][7]float64 // loc, scale, zoom, threshold, blur radius, blur σ, blend
	Frost     [5][2]float64 // image weight, frost weight
	FrostZoom float64       // cv2.resize factor of the frost photographs
	Fog       [5][2]float64 // plasma weight, wibble decay
	Bright    [5]float64    // HSV value shift
	Contrast  [5]float64    // contrast factor
	Elastic   [5][3]float64 // alpha, σ, affine, as fractions of the image side
	Pixelate  [5]float64    // resize factor
	JPEG      [5]int        // quality
}

// ImageNet's elastic parameters are multiples of 244 on 224-pixel images
// ("244 should have been 224, but ultimately nothing is incorrect").
const inet = 244.0 / 224

// Sets are the three parameter sets, smallest image size first.
var Sets = []ParamSet{
	{
		Name: "cifar", Size: 32,
		Gaussian: [5]float64{0.04, 0.06, .08, .09, .10},
		Shot:     [5]float64{500, 250, 100, 75, 50},
		Impulse:  [5]float64{.01, .02, .03, .05, .07},
		Defocus:  [5][2]float64{{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}},
		Glass:    [5][3]float64{{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2}, {0.4, 1, 2}},
		Motion:   [5][2]float64{{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}},
		Zoom:     [5][3]float64{{1, 1.06, 0.01}, {1, 1.11, 0.01}, {1, 1.16, 0.01}, {1, 1.21, 0.01}, {1, 1.26, 0.01}},
		Snow: [5][7]float64{{0.1, 0.2, 1, 0.6, 8, 3, 0.95}, {0.1, 0.2, 1, 0.5, 10, 4, 0.9}, {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
			{0.25, 0.3, 2.25, 0.6, 12, 6, 0.85}, {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}},
		Frost:     [5][2]float64{{1, 0.2}, {1, 0.3}, {0.9, 0.4}, {0.85, 0.4}, {0.75, 0.45}},
		FrostZoom: 0.2,
		Fog:       [5][2]float64{{.2, 3}, {.5, 3}, {0.75, 2.5}, {1, 2}, {1.5, 1.75}},
		Bright:    [5]float64{.05, .1, .15, .2, .3},
		Contrast:  [5]float64{.75, .5, .4, .3, 0.15},
		Elastic:   [5][3]float64{{0, 0, 0.08}, {0.05, 0.2, 0.07}, {0.08, 0.06, 0.06}, {0.1, 0.04, 0.05}, {0.1, 0.03, 0.03}},
		Pixelate:  [5]float64{0.95, 0.9, 0.85, 0.75, 0.65},
		JPEG:      [5]int{80, 65, 58, 50, 40},
	},
	{
		Name: "tiny", Size: 64,
		Gaussian: [5]float64{0.04, 0.08, .12, .15, .18},
		Shot:     [5]float64{250, 100, 50, 30, 15},
		Impulse:  [5]float64{.01, .02, .05, .08, .14},
		Defocus:  [5][2]float64{{0.5, 0.6}, {1, 0.1}, {1.5, 0.1}, {2.5, 0.01}, {3, 0.1}},
		Glass:    [5][3]float64{{0.1, 1, 1}, {0.5, 1, 1}, {0.6, 1, 2}, {0.7, 2, 1}, {0.9, 2, 2}},
		Motion:   [5][2]float64{{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}},
		Zoom:     [5][3]float64{{1, 1.06, 0.01}, {1, 1.11, 0.01}, {1, 1.16, 0.01}, {1, 1.21, 0.01}, {1, 1.26, 0.01}},
		Snow: [5][7]float64{{0.1, 0.2, 1, 0.6, 8, 3, 0.8}, {0.1, 0.2, 1, 0.5, 10, 4, 0.8}, {0.15, 0.3, 1.75, 0.55, 10, 4, 0.7},
			{0.25, 0.3, 2.25, 0.6, 12, 6, 0.65}, {0.3, 0.3, 1.25, 0.65, 14, 12, 0.6}},
		Frost:     [5][2]float64{{1, 0.3}, {0.9, 0.4}, {0.8, 0.45}, {0.75, 0.5}, {0.7, 0.55}},
		FrostZoom: 0.3,
		Fog:       [5][2]float64{{.4, 3}, {.7, 3}, {1, 2.5}, {1.5, 2}, {2, 1.75}},
		Bright:    [5]float64{.1, .2, .3, .4, .5},
		Contrast:  [5]float64{.4, .3, .2, .1, 0.05},
		Elastic:   [5][3]float64{{0, 0, 0.08}, {0.05, 0.3, 0.06}, {0.1, 0.08, 0.06}, {0.1, 0.03, 0.03}, {0.16, 0.03, 0.02}},
		Pixelate:  [5]float64{0.9, 0.8, 0.7, 0.6, 0.5},
		JPEG:      [5]int{65, 58, 50, 40, 25},
	},
	{
		Name: "imagenet", Size: 224,
		Gaussian: [5]float64{.08, .12, 0.18, 0.26, 0.38},
		Shot:     [5]float64{60, 25, 12, 5, 3},
		Impulse:  [5]float64{.03, .06, .09, 0.17, 0.27},
		Defocus:  [5][2]float64{{3, 0.1}, {4, 0.5}, {6, 0.5}, {8, 0.5}, {10, 0.5}},
		Glass:    [5][3]float64{{0.7, 1, 2}, {0.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}},
		Motion:   [5][2]float64{{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}},
		Zoom:     [5][3]float64{{1, 1.11, 0.01}, {1, 1.16, 0.01}, {1, 1.21, 0.02}, {1, 1.26, 0.02}, {1, 1.31, 0.03}},
		Snow: [5][7]float64{{0.1, 0.3, 3, 0.5, 10, 4, 0.8}, {0.2, 0.3, 2, 0.5, 12, 4, 0.7}, {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
			{0.55, 0.3, 4.5, 0.85, 12, 8, 0.65}, {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}},
		Frost:     [5][2]float64{{1, 0.4}, {0.8, 0.6}, {0.7, 0.7}, {0.65, 0.7}, {0.6, 0.75}},
		FrostZoom: 1,
		Fog:       [5][2]float64{{1.5, 2}, {2, 2}, {2.5, 1.7}, {2.5, 1.5}, {3, 1.4}},
		Bright:    [5]float64{.1, .2, .3, .4, .5},
		Contrast:  [5]float64{0.4, .3, .2, .1, .05},
		Elastic: [5][3]float64{{2 * inet, 0.7 * inet, 0.1 * inet}, {2 * inet, 0.08 * inet, 0.2 * inet},
			{0.05 * inet, 0.01 * inet, 0.02 * inet}, {0.07 * inet, 0.01 * inet, 0.02 * inet}, {0.12 * inet, 0.01 * inet, 0.02 * inet}},
		Pixelate: [5]float64{0.6, 0.5, 0.4, 0.3, 0.25},
		JPEG:     [5]int{25, 18, 15, 10, 7},
	},
}

// SetFor returns the parameter set whose image size is nearest to side on
// a log scale: sides up to 45 take CIFAR's (√(32·64) ≈ 45.3), up to 119
// Tiny ImageNet's (√(64·224) ≈ 119.7), larger ImageNet's.
func SetFor(side int) ParamSet {
	best, bd := Sets[0], math.Inf(1)
	for _, s := range Sets {
		if d := math.Abs(math.Log(float64(side) / float64(s.Size))); d < bd {
			best, bd = s, d
		}
	}
	return best
}

// zoomCount returns the length of np.arange(start, stop, step) for
// z = (start, stop, step), and zoomFactor its element k, as numpy
// computes them.
func zoomCount(z [3]float64) int { return int(math.Ceil((z[1] - z[0]) / z[2])) }

func zoomFactor(z [3]float64, k int) float64 {
	delta := (z[0] + z[2]) - z[0]
	return z[0] + float64(k)*delta
}
