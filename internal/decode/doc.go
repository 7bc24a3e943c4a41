// Package decode holds the config-decoding helpers shared by package config
// and the suites' decoders (suite.DecodeConfig): a decode hook that refuses
// negative numbers for unsigned fields, and a rewrite of mapstructure's
// errors into one line per problem that begins with the problem's full key.
package decode
