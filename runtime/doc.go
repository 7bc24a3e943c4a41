// Package runtime loads ONNX classifiers into ONNX Runtime and runs batches
// on them: it finds and initialises the ONNX Runtime shared library
// (FindLibrary, Init), opens a model once per process as a Session shared by
// all workers (Open, which adapts deployed forms in memory: scikit-learn
// converters' ZipMap outputs, float16 models, dynamic feature axes; see
// Adaptation), gives each worker a Runner with preallocated tensors
// (Session.NewRunner, Runner.Run), decides whether the model outputs logits
// or probabilities (DetectOutputKind), splits the machine's cores between
// workers and ONNX Runtime's own threads (PlanThreads), and schedules work on
// a fixed set of goroutines (Pool).
package runtime
