// Package onnxpb holds the Go types of the ONNX protobuf schema (onnx.proto
// from ONNX 1.12, IR version 8, as shipped in Debian's libonnx-dev, Apache-2.0).
// The generated code is committed; regenerate it with `go generate` (needs
// protoc from protobuf-compiler and protoc-gen-go v1.36.12 on PATH).
package onnxpb
