// Package onnx loads, checks, edits and saves ONNX models through the
// generated protobuf types in onnxpb. It knows nothing about ONNX Runtime.
package onnx
