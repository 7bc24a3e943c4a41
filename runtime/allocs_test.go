package runtime

// maxRunAllocs is the most heap allocations a steady-state full-batch Run
// may make with a context that cannot be cancelled. The Runner makes none;
// onnxruntime_go v1.35.0's DynamicAdvancedSession.RunWithOptions makes 4
// per call (32 bytes): its two OrtValue pointer slices and one
// ValueInternalData from GetInternals per tensor (measured with
// -memprofilerate=1, see the package report).
const maxRunAllocs = 4

// maxAfterFuncAllocs is what the cancellation hook (context.AfterFunc,
// registered once per context) allocates per steady-state Run on a
// cancellable context, beyond maxRunAllocs.
const maxAfterFuncAllocs = 0
