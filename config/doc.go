// Package config loads a Gauntlet run configuration from a YAML file,
// GAUNTLET_* environment variables and command-line overrides, through a
// non-global viper instance, and validates it before anything runs: unknown
// keys, bad values and unparsable gates are errors with exit code 2.
//
// Precedence, highest first: --set key=value and dedicated flags (--out,
// --ort-library), GAUNTLET_* environment variables (GAUNTLET_RUNTIME_WORKERS
// for runtime.workers), the config file, built-in defaults.
//
// Paths written in the config file resolve against the file's folder; paths
// given by flags or environment variables resolve against the working
// directory.
package config
