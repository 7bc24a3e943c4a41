// Package version holds Gauntlet's version, set at link time by the Makefile
// (-X github.com/gauntlet-ml/gauntlet/internal/version.Version=...).
package version
