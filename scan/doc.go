// Package scan checks an ONNX model file statically, before anything runs
// it: external-data paths that leave the model's folder, operators from
// custom domains, opsets outside the supported range, absurd or
// inconsistent tensor sizes, duplicate and dangling value names, and the
// SHA-256 allow-list. It reads the file and parses the protobuf; it never
// loads the model into ONNX Runtime. The rules are reports.ScanRules,
// documented in docs/scan.md.
package scan
