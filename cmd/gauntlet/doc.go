// Command gauntlet puts an ONNX classifier through security and fairness
// release gates. See `gauntlet --help` and the README.
package main
