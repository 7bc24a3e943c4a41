// Package corruption implements the corruption suite: accuracy under common
// corruptions. Images get the 15 ImageNet-C families of Hendrycks &
// Dietterich (2019) at 5 severities, implemented in Go with the published
// parameters of their make_cifar_c.py, make_tinyimagenet_c.py and
// make_imagenet_c.py (chosen by image size); tables get Gaussian noise
// scaled per feature, category swaps and missing values. Metrics are
// accuracy per family and severity, its mean, corruption errors relative
// to clean (and to a baseline model's errors, as the paper's CE) and the
// worst family.
package corruption
